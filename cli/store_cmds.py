"""`mlsd ingest`, `mlsd search`, `mlsd stats`."""

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
from cli.terminal import echo, repair_text, terminal_safe
from core.errors import InputError, MlsdError


def ingest(
    paths: list[Path] = typer.Argument(
        None, help="Files or folders (default: corpus/ and the app's uploads folder)."
    ),
    store: Path = StoreOpt,
    chroma_url: str = ChromaUrlOpt,
    prune: bool = typer.Option(
        False, "--prune", help="Remove stored files that were under the given folders and are gone."
    ),
    reset: bool = typer.Option(
        False, "--reset", help="Rebuild the collection (the old one serves until it is done)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Ingest files into the vector store (incremental: unchanged files are skipped)."""
    settings = make_settings(store, chroma_url)
    from ingest.pipeline import default_roots, ingest_paths
    from ingest.sources import display, missing_paths

    missing = missing_paths(list(paths or []))
    if missing:  # a typo must not become "every stored file is gone" under --prune
        names = ", ".join(display(p) for p in missing)
        fail(f"{names}: no such file or directory (nothing was ingested or removed)", 2)

    with user_errors():
        report = ingest_paths(
            list(paths) if paths else default_roots(settings),
            settings,
            prune=prune,
            reset=reset,
            progress=sys.stderr.isatty(),
        )
    # file names and reasons are untrusted: echo() strips terminal control sequences
    for item in report.failed:
        echo(f"failed: {item['path']}: {item['reason']}", err=True)
    for path in report.skipped:
        echo(f"skipped (unsupported type): {path}", err=True)
    for warning in report.warnings:
        echo(f"warning: {warning}", err=True)
    if as_json:
        data = report.to_json()
        print_json(
            {
                key: data[key]
                for key in (
                    "files_seen",
                    "ingested",
                    "unchanged",
                    "failed",
                    "chunks_added",
                    "chunks_deleted",
                    "chunks_total",
                    "seconds",
                    "skipped",
                    "warnings",
                    "embedded",
                )
            }
        )
    else:
        typer.echo(
            f"{report.files_seen} files: {report.ingested} ingested, {report.unchanged} unchanged, "
            f"{len(report.failed)} failed; chunks +{report.chunks_added} -{report.chunks_deleted}, "
            f"{report.chunks_total} in store ({report.seconds:.1f} s)"
        )
    raise typer.Exit(1 if report.failed else 0)


def search(
    query: str = typer.Argument(None, help="What to look for."),
    k: int = typer.Option(5, "-k", "--k", help="How many passages."),
    mode: str = typer.Option(
        None, "--mode", help="hybrid | dense | bm25 (default: MLSD_RETRIEVAL_MODE)."
    ),
    queries: Path = typer.Option(None, "--queries", help="A file with one query per line."),
    store: Path = StoreOpt,
    chroma_url: str = ChromaUrlOpt,
    as_json: bool = typer.Option(False, "--json", help="Print hits as JSON."),
) -> None:
    """Search the corpus."""
    if mode is not None and mode not in ("hybrid", "dense", "bm25"):
        fail(f"--mode {mode!r}: choose hybrid, dense or bm25", 2)
    if (query is None) == (queries is None):
        fail("give a QUERY or --queries FILE (one of them)", 2)
    check_top_k(k)
    settings = make_settings(store, chroma_url)
    from tools.search import Retriever

    retriever = Retriever(settings)
    if queries is not None:
        failed = False
        for number, q in _query_lines(queries, settings.max_question_chars):
            if q is None:  # too long: said so, skipped
                failed = True
                continue
            try:
                hits = retriever.search(q, k=k, mode=mode)
            except InputError as exc:  # this line only; the rest go on
                echo(f"error: --queries {queries} line {number}: {exc}", err=True)
                failed = True
                continue
            except MlsdError as exc:  # the store or the settings: every line would fail
                fail(str(exc))
            if as_json:
                print_json({"query": q, "hits": [h.model_dump() for h in hits]})
            else:
                _print_hits(q, hits)
        raise typer.Exit(1 if failed else 0)
    query = repair_text(query, "the query")
    with user_errors():
        hits = retriever.search(query, k=k, mode=mode)
    if as_json:
        print_json([h.model_dump() for h in hits])
    else:
        _print_hits(query, hits)


def _query_lines(path: Path, max_chars: int):
    """(line number, query) for each non-blank line of `path`, read as a stream. A line over
    `max_chars` is reported and yields None (its bytes are skipped, never held whole);
    bytes that are not UTF-8 become U+FFFD with a warning."""
    limit = 4 * max_chars + 2  # bytes: a character is at most 4, plus CR LF
    try:
        handle = path.open("rb")
    except OSError as exc:
        fail(f"--queries {path}: cannot read ({exc.strerror or exc})", 2)
    with handle:
        number = 0
        while True:
            try:
                raw = handle.readline(limit + 1)
            except OSError as exc:
                fail(f"--queries {path}: cannot read ({exc.strerror or exc})", 2)
            if not raw:
                return
            number += 1
            too_long = len(raw) > limit and not raw.endswith(b"\n")
            while too_long and raw and not raw.endswith(b"\n"):  # skip the rest of the line
                raw = handle.readline(1 << 16)
            if not too_long:
                text = raw.decode("utf-8", "surrogateescape").strip()
                text = text.removeprefix("\ufeff") if number == 1 else text
                if not text:
                    continue
                too_long = len(text) > max_chars
            if too_long:
                echo(
                    f"error: --queries {path} line {number}: longer than {max_chars} characters "
                    "(MLSD_MAX_QUESTION_CHARS); skipped",
                    err=True,
                )
                yield number, None
                continue
            yield number, repair_text(text, f"--queries {path} line {number}")


def _print_hits(query: str, hits) -> None:
    # queries, passages, file names and headings are untrusted: echo() makes them inert
    echo(f"# {query}")
    if not hits:
        echo("  (no matching passages)")
    for hit in hits:
        preview = " ".join(terminal_safe(hit.text).split())[:160]  # cut what will be shown
        echo(f"{hit.rank}. [{hit.score:.3f}] {hit.source} — {hit.section}\n   {preview}")


def stats(
    store: Path = StoreOpt,
    chroma_url: str = ChromaUrlOpt,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """What the store holds: sources, chunks, model, dimension."""
    settings = make_settings(store, chroma_url)
    from core.endpoint import endpoint_origin
    from ingest.pipeline import store_stats

    with user_errors():
        data = store_stats(settings)
    origin = endpoint_origin(settings)  # a .env must not redirect the key unseen
    if as_json:
        print_json({**data, "llm_endpoint": origin.url, "llm_endpoint_source": origin.source})
        return
    typer.echo(
        f"store: {data['store']}\nsources: {data['sources']}\nchunks: {data['chunks']}\n"
        f"model: {data['model']} ({data['backend']})\ndimension: {data['dimension']}"
    )
    for doc_type, n in sorted(data["doc_types"].items()):
        typer.echo(f"  {doc_type}: {n} files")
    echo(f"llm endpoint: {origin.describe()}")


def register(app: typer.Typer) -> None:
    app.command()(ingest)
    app.command()(search)
    app.command()(stats)
