"""Chat page: questions in, streamed cited answers out (tool calls shown as they happen)."""

from __future__ import annotations

import logging

import streamlit as st

from core.errors import MlsdError
from ui import render, resources, state
from ui.report_view import show_report

log = logging.getLogger(__name__)

INTERRUPTED = "This answer was interrupted (a new message or a page change stopped it)."
SUGGESTIONS = (
    "How should I split data for a fraud model with delayed labels?",
    "Which offline metrics fit a ranking model?",
    "Give me a 45-minute plan for a video recommendation design.",
)


def show_turn(turn: dict) -> None:
    """Redraw one stored turn (no streaming, tool calls collapsed)."""
    with st.chat_message(turn["role"]):
        if turn["role"] == "user":
            render.markdown(turn["content"])
            return
        for tool in turn.get("tools", []):
            _tool_box(st, tool)
        if turn.get("error"):
            st.warning(render.inline(turn["error"], 400), icon=":material/error:")
            return
        render.markdown(turn["content"])
        _extras(turn)


def tool_args_in_words(args: dict) -> str:
    """A tool call's arguments as a readable line: the (resolved) search query in quotes,
    then the other settings ("Searched for “How would I monitor ...?” · 8 passages")."""
    args = dict(args or {})
    parts = []
    query = args.pop("query", None)
    if query is not None:
        parts.append(f"Searched for “{render.inline(str(query), 300)}”")
    if "k" in args:
        parts.append(f"{render.inline(str(args.pop('k')), 10)} passages")
    if "mode" in args:
        parts.append(f"{render.inline(str(args.pop('mode')), 20)} retrieval")
    rest = ", ".join(f"{k}: {v}" for k, v in args.items())
    if rest:
        parts.append(render.inline(rest, 300))
    return " · ".join(parts) if parts else "(no arguments)"


def _tool_box(where, tool: dict):
    ok = tool.get("ok", True)
    finished = tool.get("summary") is not None
    box = where.status(
        f"Tool: {render.inline(tool['name'], 60)}",
        state=("complete" if ok else "error") if finished else "running",
    )
    box.markdown(tool_args_in_words(tool.get("args", {})))
    if finished:
        box.markdown(render.sanitize_markdown(tool["summary"]))
    return box


def _extras(turn: dict) -> None:
    data = (turn.get("meta") or {}).get("data")
    if isinstance(data, dict) and isinstance(data.get("stages"), list):
        show_report(data, compact=True)
    render.source_cards(turn.get("citations", []))
    render.mode_badge(turn.get("meta") or {})


def _answer(history: list[dict]) -> dict:
    """Stream the agent's answer for the conversation so far; return the turn to store."""
    from agents.events import Message

    turn: dict = {"role": "assistant", "content": "", "citations": [], "tools": [], "meta": {}}
    top_k, mode, offline = state.query_options()
    try:
        respond = resources.get_agent_respond(top_k, mode, offline)
    except resources.Unavailable as exc:
        turn["error"] = str(exc)
        st.info(render.inline(str(exc), 400), icon=":material/construction:")
        return turn
    messages = [Message(role=t["role"], content=t["content"]) for t in history if t["content"]]
    tools_area, text_area = st.container(), st.container()
    sanitizer = render.StreamSanitizer()
    boxes: list[tuple[dict, object]] = []
    final = None
    streamed: list[str] = []

    def stream():
        nonlocal final
        for event in respond(messages):
            kind = getattr(event, "kind", None)
            if kind == "text":
                streamed.append(event.text)
                safe = sanitizer.feed(event.text)
                if safe:
                    yield safe
            elif kind == "tool_call":
                tool = {"name": event.name, "args": event.args, "summary": None, "ok": True}
                turn["tools"].append(tool)
                boxes.append((tool, _tool_box(tools_area, tool)))
            elif kind == "tool_result":
                # pair with the oldest unfinished call of that name (calls may interleave)
                for tool, box in boxes:
                    if tool["name"] == event.name and tool["summary"] is None:
                        tool.update(summary=event.summary, ok=event.ok)
                        box.update(state="complete" if event.ok else "error", expanded=False)
                        box.markdown(render.sanitize_markdown(event.summary))
                        break
            elif kind == "citation":
                turn["citations"].append(event.model_dump())
            elif kind == "final":
                final = event
        tail = sanitizer.flush()
        if tail:
            yield tail

    try:
        with st.spinner("Thinking…", show_time=True):
            text_area.write_stream(stream)
    except MlsdError as exc:
        turn["error"] = str(exc)
    except Exception as exc:  # an agent bug must not take the page down; the log has details
        log.exception("agent failed")
        turn["error"] = f"The agent failed ({type(exc).__name__}: {exc}). Try again or rephrase."
    for tool, box in boxes:  # a call the agent never answered is shown as failed
        if tool["summary"] is None:
            tool.update(summary="(no result)", ok=False)
            box.update(state="error", expanded=False)
    if final is None and "error" not in turn:
        turn["error"] = "The agent stopped without an answer. Try again."
    if "error" in turn:
        st.warning(render.inline(turn["error"], 400), icon=":material/error:")
        return turn
    turn["content"] = final.answer
    if not "".join(streamed).strip():
        render.markdown(final.answer, text_area)
    if final.citations:
        turn["citations"] = [c.model_dump() for c in final.citations]
    turn["meta"] = final.model_dump(exclude={"answer", "citations", "kind"})
    _extras(turn)
    return turn


def _suggest(text: str) -> None:
    st.session_state.pending_prompt = text


def page() -> None:
    st.title("Chat")
    st.caption(
        "Ask about ML system design interviews: framing, data, models, metrics, serving. "
        "Answers cite the study material; open a source card to read the passage."
    )
    history: list[dict] = st.session_state.chat_history
    toolbar = st.container()  # filled last, so the button knows about a turn added this run
    for turn in history:
        show_turn(turn)
    # a clicked suggestion arrives through its callback, before anything is drawn
    suggestion, st.session_state.pending_prompt = st.session_state.pending_prompt, None
    suggestions_area = st.container()
    limit = resources.get_settings().max_question_chars
    prompt = st.chat_input("Ask about ML system design…", max_chars=limit) or suggestion
    if not history and not prompt:
        cols = suggestions_area.columns(len(SUGGESTIONS))
        for col, text in zip(cols, SUGGESTIONS):
            col.button(text, width="stretch", on_click=_suggest, args=(text,))
    if prompt:
        history.append({"role": "user", "content": prompt})
        show_turn(history[-1])
        # Stored before answering: a run stopped midway (the user sent another message or
        # left the page) keeps a note in the conversation instead of a silent gap.
        turn = {"role": "assistant", "content": "", "error": INTERRUPTED}
        history.append(turn)
        with st.chat_message("assistant"):
            answer = _answer(history[:-1])
        turn.clear()
        turn.update(answer)
    toolbar.button(
        "Clear chat",
        icon=":material/delete_sweep:",
        on_click=state.clear_chat,
        disabled=not history,
    )


if __name__ == "__main__":
    page()
