"""`mlsd progress` and `mlsd review`: the learner's history, study plan and review queue."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from cli.agent_cmds import _read_message, _safe
from cli.common import fail, make_settings, print_json, user_errors


def _since(value: str | None):
    from progress.history import parse_since

    try:
        return parse_since(value)
    except ValueError:
        fail(f"--since {value!r}: not a date; use YYYY-MM-DD", 2)


def _print_summary(summary: dict) -> None:
    from cli.quick import summary_lines  # the same lines `mlsd progress` prints before typer

    for line in summary_lines(summary):
        typer.echo(_safe(line))


def progress(
    as_json: bool = typer.Option(False, "--json", help="Print everything as JSON."),
    since: str = typer.Option(None, "--since", help="Only attempts from this date (YYYY-MM-DD)."),
    export: Path = typer.Option(None, "--export", help="Write a markdown report with PNG charts."),
    reset: bool = typer.Option(False, "--reset", help="Delete your history and review queue."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before --reset."),
) -> None:
    """Your scores over time, the criteria you keep missing, time-plan habits, what to do next."""
    settings = make_settings()
    from progress import overview

    with user_errors():
        if reset:
            from progress import history

            who = history.user_of(settings)
            if not yes and not typer.confirm(
                f"Delete every saved attempt and review card of {who}?", default=False
            ):
                fail("nothing deleted", 1)
            deleted = history.reset_history(settings)
            n_attempts, n_cards = deleted["attempts"], deleted["review_cards"]
            typer.echo(f"Deleted {n_attempts} attempts and {n_cards} review cards.")
            return
        summary = overview.build(settings, _since(since))
        if export is not None:
            from progress.export import export_report

            try:
                files = export_report(summary, summary["plan"], summary["review"], export)
            except OSError as exc:
                fail(f"--export {export}: cannot write ({exc.strerror or exc})", 2)
            typer.echo(f"Wrote {', '.join(str(f) for f in files)}", err=as_json)
    if as_json:
        print_json(summary)
    elif export is None:
        _print_summary(summary)


def _ask_rating(suggested: str, interactive: bool) -> str | None:
    from progress.review import RATINGS

    prompt = f"rating [1 again, 2 hard, 3 good, 4 easy; enter = {suggested}, q quits]> "
    while True:
        line = _read_message(prompt, interactive)
        if line is None or line.strip().lower() in ("q", "quit", "/exit"):
            return None
        value = line.strip().lower() or suggested
        for name, number in RATINGS.items():
            if value in (name, name[0], str(number)):
                return name
        typer.echo("  choose 1-4 (again, hard, good, easy)")


def review(
    limit: int = typer.Option(10, "--limit", "-n", help="Cards to review in this session."),
    as_json: bool = typer.Option(False, "--json", help="List the due cards as JSON and exit."),
) -> None:
    """Spaced review: answer, compare with the reference by meaning, rate, get rescheduled.

    Type the answer on one line (or between two lines holding only \"\"\"); an empty answer
    shows the reference; q quits."""
    settings = make_settings()
    from progress import history
    from progress import review as queue
    from progress.overview import load_rubric

    with user_errors():
        attempts = history.load_attempts(settings, criteria_window=settings.history_window)
        queue.refresh_queue(settings, attempts, load_rubric(settings))
        due = queue.due_cards(settings, limit=max(1, limit))
    if as_json:
        print_json([c.__dict__ for c in due])
        return
    if not due:
        status = queue.queue_status(settings)
        typer.echo(f"Nothing due. Next card: {status['next_due'] or 'none'}.")
        return
    interactive = sys.stdin.isatty()
    from ingest.embeddings import load_embedder

    embedder = None
    for n, card in enumerate(due, 1):
        typer.echo(_safe(f"\n[{n}/{len(due)} · {card.origin}] {card.question}"))
        answer = _read_message("answer> ", interactive)
        if answer is None or answer.strip().lower() in ("q", "/exit"):
            break
        score = None
        if answer.strip():
            if embedder is None:
                embedder = load_embedder(
                    settings.embed_model, settings.embed_backend, str(settings.model_cache_dir)
                )
            score = queue.similarity(embedder, answer, card.reference)
            typer.echo(f"  similarity {score:.2f}: {queue.verdict(score)}")
        typer.echo(_safe(f"  reference: {card.reference}"))
        if card.source:
            typer.echo(_safe(f"  source: {card.source} — {card.section}"))
        rating = _ask_rating(queue.suggested_rating(score or 0.0), interactive)
        if rating is None:
            break
        with user_errors():
            updated = queue.record_review(settings, card.id, rating, answer, score)
        typer.echo(f"  {rating}: next review {queue.interval_text(updated)}.")


def register(app: typer.Typer) -> None:
    app.command()(progress)
    app.command()(review)
