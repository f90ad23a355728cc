"""`mlsd critique`: grade a pasted ML system design against the rubric."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from cli.common import ChromaUrlOpt, StoreOpt, fail, make_settings, print_json, user_errors
from cli.terminal import repair_text, terminal_safe

LEVELS = ("mid", "senior", "staff")


def _read_design(source: str | None, max_mb: float) -> str:
    """The design text from a file, or from stdin for `-` (or no argument with piped input),
    at most `max_mb` MB (MLSD_MAX_FILE_MB, like an upload)."""
    max_bytes = int(max_mb * 2**20)
    too_large = f"larger than the {max_mb:g} MB limit (MLSD_MAX_FILE_MB)"
    if source in (None, "-"):
        if source is None and sys.stdin.isatty():
            fail("give a FILE with your design, or - to read it from stdin", 2)
        # Read bytes: the limit counts bytes, and a byte that is not UTF-8 cannot stop the read.
        stream = getattr(sys.stdin, "buffer", None)
        data = stream.read(max_bytes + 1) if stream else sys.stdin.read(max_bytes + 1)
        if len(data) > max_bytes:
            fail(f"the design on stdin is {too_large}", 2)
        if isinstance(data, bytes):
            data = data.decode("utf-8", "surrogateescape").removeprefix("\ufeff")
        return repair_text(data, "the design on stdin")
    path = Path(source)
    try:
        if path.is_file() and path.stat().st_size > max_bytes:
            fail(f"{source}: {too_large}", 2)
        return path.read_text(encoding="utf-8")
    except IsADirectoryError:
        fail(f"{source}: is a directory, not a design file", 2)
    except UnicodeDecodeError:
        fail(f"{source}: not UTF-8 text; save the design as plain text or markdown", 2)
    except OSError as exc:
        fail(f"{source}: cannot read ({exc.strerror or exc})", 2)
    return ""  # unreachable: fail() exits


def critique(
    source: str = typer.Argument(
        None, metavar="[FILE|-]", help="The design (markdown or text); - reads stdin."
    ),
    level: str = typer.Option("senior", "--level", help="Target level: mid | senior | staff."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    store: Path = StoreOpt,
    chroma_url: str = ChromaUrlOpt,
    no_save: bool = typer.Option(
        False, "--no-save", help="Do not keep this critique in your history (mlsd progress)."
    ),
) -> None:
    """Grade a design against the MLSD rubric: stage scores, evidence, gaps, red flags."""
    level = level.strip().lower()
    if level not in LEVELS:
        fail(f"--level {level!r}: choose mid, senior or staff", 2)
    settings = make_settings(store, chroma_url)
    design = _read_design(source, settings.max_file_mb)
    # heavy imports here, not at module level, so `mlsd --help` stays fast
    from ingest.embeddings import load_embedder
    from tools.grader import grade_design, render_markdown
    from tools.rubric import load_rubric

    with user_errors():
        if not design.strip():
            from core.errors import InputError

            raise InputError("The design is empty: put your design in the file (or on stdin).")
        rubric = load_rubric(settings.rubric_path)
        embedder = load_embedder(
            settings.embed_model, settings.embed_backend, str(settings.model_cache_dir)
        )
        retriever = None
        if settings.chroma_url or settings.store_dir.exists():
            from tools.search import Retriever

            retriever = Retriever(settings, embedder=embedder)
        report = grade_design(
            design,
            level,
            rubric=rubric,
            embedder=embedder,
            retriever=retriever,
            max_words=settings.max_design_words,
            cache_dir=settings.model_cache_dir,
        )
    if not no_save:  # a database error is one warning line; the report is still printed
        from progress.history import save_attempt_safely

        save_attempt_safely(settings, report, kind="critique", mode="cli")
    if as_json:
        print_json(report.model_dump())
        return
    text = terminal_safe(render_markdown(report))  # it quotes the design
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(text))
    else:
        typer.echo(text)


def register(app: typer.Typer) -> None:
    app.command()(critique)
