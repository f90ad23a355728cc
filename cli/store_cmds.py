"""`mlsd ingest`, `mlsd search`, `mlsd stats`."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from cli.common import (
    ChromaUrlOpt,
    StoreOpt,
    fail,
    make_settings,
    print_json,
    user_errors,
)


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
    for item in report.failed:
        typer.echo(f"failed: {item['path']}: {item['reason']}", err=True)
    for path in report.skipped:
        typer.echo(f"skipped (unsupported type): {path}", err=True)
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
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
    settings = make_settings(store, chroma_url)
    from tools.search import Retriever

    retriever = Retriever(settings)
    if queries is not None:
        try:
            lines = [q.strip() for q in queries.read_text(encoding="utf-8").splitlines()]
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"--queries {queries}: cannot read ({exc})", 2)
        failed = False
        for q in (q for q in lines if q):
            with user_errors():
                hits = retriever.search(q, k=k, mode=mode)
            if as_json:
                print_json({"query": q, "hits": [h.model_dump() for h in hits]})
            else:
                _print_hits(q, hits)
        raise typer.Exit(1 if failed else 0)
    with user_errors():
        hits = retriever.search(query, k=k, mode=mode)
    if as_json:
        print_json([h.model_dump() for h in hits])
    else:
        _print_hits(query, hits)


def _print_hits(query: str, hits) -> None:
    typer.echo(f"# {query}")
    if not hits:
        typer.echo("  (no matching passages)")
    for hit in hits:
        preview = " ".join(hit.text.split())[:160]
        typer.echo(f"{hit.rank}. [{hit.score:.3f}] {hit.source} — {hit.section}\n   {preview}")


def stats(
    store: Path = StoreOpt,
    chroma_url: str = ChromaUrlOpt,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """What the store holds: sources, chunks, model, dimension."""
    settings = make_settings(store, chroma_url)
    from ingest.pipeline import store_stats

    with user_errors():
        data = store_stats(settings)
    if as_json:
        print_json(data)
        return
    typer.echo(
        f"store: {data['store']}\nsources: {data['sources']}\nchunks: {data['chunks']}\n"
        f"model: {data['model']} ({data['backend']})\ndimension: {data['dimension']}"
    )
    for doc_type, n in sorted(data["doc_types"].items()):
        typer.echo(f"  {doc_type}: {n} files")


def register(app: typer.Typer) -> None:
    app.command()(ingest)
    app.command()(search)
    app.command()(stats)
