"""`mlsd ask`, `mlsd chat`, `mlsd interview`: the agents in a terminal.

Imports stay lazy: `mlsd ask --offline` never imports langchain (the LLM agent and its
client load only when LLM mode is configured and not switched off).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from cli.common import (
    ChromaUrlOpt,
    StoreOpt,
    check_top_k,
    fail,
    make_settings,
    print_json,
    user_errors,
)
from cli.terminal import lenient_stdin, repair_text
from cli.terminal import terminal_safe as _safe

OfflineOpt = typer.Option(False, "--offline", help="Use the offline agent even if an LLM is set.")
LevelOpt = typer.Option("senior", "--level", help="mid | senior | staff")
FENCE = '"""'


def _agent(store: Path | None, chroma_url: str | None, offline: bool, **overrides):
    settings = make_settings(store, chroma_url, **overrides)
    from agents.factory import make_agent
    from tools.deps import Deps

    return make_agent(Deps(settings), offline=offline)


def _stream(events, echo: bool):
    """Print text as it streams (when `echo`), return the Final."""
    from agents.events import Final, TextDelta, ToolCall

    final = None
    held = ""  # trailing newlines, printed only if more text follows (the caller ends the line)
    for event in events:
        if isinstance(event, Final):
            final = event
        elif echo and isinstance(event, TextDelta):
            text = _safe(event.text)
            body = text.rstrip("\n")
            if body:
                typer.echo(held + body, nl=False)
                held = ""
            held += text[len(body) :]
            sys.stdout.flush()
        elif echo and isinstance(event, ToolCall) and sys.stderr.isatty():
            typer.echo(f"· {event.name}", err=True)
    if final is None:
        fail("the agent ended without an answer")
    return final


def _print_sources(final) -> None:
    if final.citations:
        typer.echo("\nSources:")
        for c in final.citations:
            typer.echo(_safe(f"[{c.n}] {c.source} — {c.section}"))
    label = f"llm ({final.model})" if final.mode == "llm" else "offline"
    typer.echo(f"\n({label}, {final.seconds:.2f} s)", err=True)


def ask(
    question: str = typer.Argument(..., help="Your question (quote it)."),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as JSON."),
    offline: bool = OfflineOpt,
    k: int = typer.Option(None, "-k", "--k", help="Passages to retrieve (default: MLSD_TOP_K)."),
    mode: str = typer.Option(None, "--mode", help="hybrid | dense | bm25"),
    store: Path = StoreOpt,
    chroma_url: str = ChromaUrlOpt,
) -> None:
    """Answer a question from the material, with citations."""
    question = repair_text(question, "the question")
    check_top_k(k)
    if not question.strip():
        fail("the question is empty", 2)
    if mode is not None and mode not in ("hybrid", "dense", "bm25"):
        fail(f"--mode {mode!r}: choose hybrid, dense or bm25", 2)
    from agents.events import Message

    with user_errors():
        agent = _agent(store, chroma_url, offline, top_k=k, retrieval_mode=mode)
        final = _stream(agent.respond([Message(role="user", content=question)]), not as_json)
    if as_json:
        citations = [
            c.model_dump(include={"n", "source", "section", "chunk_id"}) for c in final.citations
        ]
        print_json(
            {
                "answer": final.answer,
                "citations": citations,
                "mode": final.mode,
                "fallback_reason": final.fallback_reason,
                "seconds": final.seconds,
                "route": final.route,
                "model": final.model,
            }
        )
        return
    typer.echo("")
    _print_sources(final)


def _read_message(prompt: str, interactive: bool) -> str | None:
    """One message from stdin: a line, or several lines between two `\"\"\"` lines. Bytes
    that are not UTF-8 become U+FFFD with a warning (call `lenient_stdin()` first)."""
    if interactive:
        typer.echo(prompt, nl=False)
    line = sys.stdin.readline()
    if not line:
        return None
    if line.strip() != FENCE:
        return repair_text(line.rstrip("\n"), "this message")
    lines = []
    for more in sys.stdin:
        if more.strip() == FENCE:
            break
        lines.append(more.rstrip("\n"))
    return repair_text("\n".join(lines), "this message")


def chat(
    offline: bool = OfflineOpt,
    store: Path = StoreOpt,
    chroma_url: str = ChromaUrlOpt,
) -> None:
    """Chat in the terminal (reads stdin; /clear forgets the conversation, /exit quits).

    Paste a multi-line design between two lines holding only \"\"\".
    """
    from agents.events import Message
    from core.errors import MlsdError

    with user_errors():
        agent = _agent(store, chroma_url, offline)
    interactive = sys.stdin.isatty()
    lenient_stdin()
    if interactive:
        typer.echo('mlsd chat — ask a question, paste a design between """ lines, /exit to quit.')
    history: list[Message] = []
    while True:
        text = _read_message("\nyou> ", interactive)
        if text is None or text.strip() in ("/exit", "/quit"):
            break
        if not text.strip():
            continue
        if text.strip() == "/clear":
            history.clear()
            typer.echo("(conversation cleared)")
            continue
        history.append(Message(role="user", content=text))
        try:
            final = _stream(agent.respond(history), echo=True)
        except MlsdError as exc:
            typer.echo(f"error: {exc}", err=True)
            history.pop()
            continue
        history.append(Message(role="assistant", content=final.answer))
        typer.echo("")
        _print_sources(final)


def _clock(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def interview(
    question: str = typer.Option(None, "--question", help="Solution id, e.g. fraud-detection."),
    level: str = LevelOpt,
    seed: int = typer.Option(None, "--seed", help="Seed for the random problem choice."),
    offline: bool = OfflineOpt,
    as_json: bool = typer.Option(False, "--json", help="Print the final result as JSON."),
    store: Path = StoreOpt,
    chroma_url: str = ChromaUrlOpt,
    no_save: bool = typer.Option(
        False, "--no-save", help="Do not keep this interview in your history (mlsd progress)."
    ),
) -> None:
    """A mock interview: stages with time budgets, follow-ups, a graded report at the end."""
    if level not in ("mid", "senior", "staff"):
        fail(f"--level {level!r}: choose mid, senior or staff", 2)
    settings = make_settings(store, chroma_url, save_history=False if no_save else None)
    from agents.interviewer import Interview
    from tools.deps import Deps

    deps = Deps(settings)
    llm = None
    if settings.llm_enabled and not offline:
        from agents.factory import infer_model

        model = infer_model(settings)

        def llm(system: str, prompt: str) -> str:
            reply = model.invoke([("system", system), ("user", prompt)])
            return reply.content if isinstance(reply.content, str) else ""

    interactive = sys.stdin.isatty()
    lenient_stdin()
    with user_errors():
        session = Interview.create(deps, question, level=level, seed=seed, llm=llm)
        turn = session.start()
        typer.echo(_safe(turn.text))
        while not turn.done:
            stage_s, total_s = session.elapsed()
            typer.echo(
                f"\n[stage {turn.stage_number}/{turn.n_stages} {turn.stage_name} · "
                f"{_clock(stage_s)} / {turn.time_budget_min:g}:00 · total {_clock(total_s)}]"
            )
            text = _read_message("you> ", interactive)
            if text is None:
                break
            turn = session.reply(text)
            typer.echo(_safe(turn.text))
        result = session.finish()
    if as_json:
        print_json({"interview": session.model_dump(), "result": result.model_dump()})
    else:
        typer.echo("\n" + _safe(result.markdown()))


def register(app: typer.Typer) -> None:
    app.command()(ask)
    app.command()(chat)
    app.command()(interview)
