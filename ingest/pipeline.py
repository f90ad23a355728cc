"""Incremental, crash-safe ingestion of files into the store.

The collection itself is the source of truth for what is stored: every chunk records its
file's hash and chunk count, so a file counts as stored only when all of its chunks are
there with one hash. A run killed at any point leaves at worst an incomplete file, which the
next run deletes and re-adds (ids are stable, adds are upserts): reruns converge, with no
duplicates and no orphans. `manifest.json` in the store dir is a readable snapshot of it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.errors import IngestFileError
from core.settings import Settings
from ingest.chunking import Chunk, chunk_document, file_fingerprint
from ingest.embeddings import Embedder, load_embedder, model_label
from ingest.locking import ingest_lock
from ingest.readers import is_supported, read_file
from ingest.store import (
    Store,
    check_compatible,
    embed_metadata,
    get_all,
    mark_changed,
    open_store,
    refresh_client,
    reset_store,
    server_errors,
)

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    files_seen: int = 0
    ingested: int = 0
    unchanged: int = 0
    failed: list[dict] = field(default_factory=list)  # [{"path", "reason"}]
    chunks_added: int = 0
    chunks_deleted: int = 0
    chunks_total: int = 0
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)  # unsupported extensions, not failures
    warnings: list[str] = field(default_factory=list)
    embedded: int = 0  # chunks that went through the model this run

    def to_json(self) -> dict:
        return asdict(self)


def default_roots(settings: Settings) -> list[Path]:
    """What a plain `mlsd ingest` (and a re-index) covers: the corpus plus the user's uploads.

    Both are always ingested together so that `--prune` never removes uploaded files.
    """
    roots = [settings.corpus_dir]
    if settings.uploads_dir.is_dir():
        roots.append(settings.uploads_dir)
    return roots


def discover(paths: list[Path]) -> tuple[list[tuple[Path, str]], list[str], list[dict]]:
    """(file, source label) pairs, unsupported files, and missing paths."""
    files: list[tuple[Path, str]] = []
    skipped: list[str] = []
    missing: list[dict] = []
    for root in paths:
        if root.is_dir():
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                if any(part.startswith(".") for part in path.relative_to(root).parts):
                    continue  # hidden files and folders (.git, .DS_Store) are never content
                label = path.relative_to(root).as_posix()
                (files.append((path, label)) if is_supported(path) else skipped.append(str(path)))
        elif root.is_file():
            if is_supported(root):
                files.append((root, root.name))
            else:
                skipped.append(str(root))
        else:
            missing.append({"path": str(root), "reason": "no such file or directory"})
    return files, skipped, missing


def stored_files(store: Store) -> dict[str, dict]:
    """source -> {"hash", "count", "complete"} read from chunk metadata."""
    got = get_all(store, ["metadatas"])
    state: dict[str, dict] = {}
    for meta in got["metadatas"] or []:
        entry = state.setdefault(meta["source"], {"hashes": set(), "count": 0, "n": 0})
        entry["hashes"].add(meta.get("file_hash"))
        entry["count"] += 1
        entry["n"] = int(meta.get("n_chunks", 0))
    return {
        src: {
            "hash": next(iter(e["hashes"])) if len(e["hashes"]) == 1 else None,
            "count": e["count"],
            "complete": len(e["hashes"]) == 1 and e["count"] == e["n"],
        }
        for src, e in state.items()
    }


def _delete_sources(store: Store, sources: list[str], max_batch: int) -> int:
    """Delete every chunk of these sources; a few calls, however many files (writes are the
    slow part of a Chroma call, so one call per file would cost more than the work)."""
    deleted = 0
    for start in range(0, len(sources), 100):  # bounded `$in` lists
        group = sources[start : start + 100]
        ids = store.collection.get(where={"source": {"$in": group}}, include=[])["ids"]
        for first in range(0, len(ids), max_batch):
            store.collection.delete(ids=ids[first : first + max_batch])
        deleted += len(ids)
    return deleted


def _add_chunks(store: Store, chunks: list[Chunk], vectors, max_batch: int) -> None:
    for start in range(0, len(chunks), max_batch):
        batch = chunks[start : start + max_batch]
        store.collection.upsert(
            ids=[c.id for c in batch],
            documents=[c.text for c in batch],
            metadatas=[c.metadata for c in batch],
            embeddings=vectors[start : start + max_batch],
        )


def write_manifest(store_dir: Path, store: Store, files: dict[str, dict]) -> None:
    """Atomic snapshot: source -> content hash, plus the model that built the store."""
    manifest = {
        "store": store.metadata,
        "sources": {src: info["hash"] for src, info in sorted(files.items()) if info["complete"]},
    }
    store_dir.mkdir(parents=True, exist_ok=True)
    # unique per writer: in server mode several ingests may share a store_dir without a lock
    tmp = store_dir / f"manifest.json.{os.getpid()}-{threading.get_ident()}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, store_dir / "manifest.json")


def ingest_paths(
    paths: list[Path],
    settings: Settings,
    prune: bool = False,
    reset: bool = False,
    embedder: Embedder | None = None,
    progress: bool = False,
) -> IngestReport:
    """Ingest files and folders into the store. Bad files are reported, never fatal."""
    started = time.perf_counter()
    report = IngestReport()
    with server_errors(settings.chroma_url):
        lock = None if settings.chroma_url else ingest_lock(settings)
        try:
            _ingest_run(paths, settings, report, prune, reset, embedder, progress)
        finally:
            if lock is not None:
                lock.release()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _ingest_run(paths, settings, report, prune, reset, embedder, progress) -> None:
    # The model is loaded only when a file needs embedding: an unchanged re-ingest is cheap.
    model = _LazyEmbedder(settings, embedder)
    # embedded mode: never write through a vector index read before another writer's run
    if reset:
        if not settings.chroma_url:
            refresh_client(settings.store_dir)
        reset_store(settings.store_dir, settings.collection, settings.chroma_url)
    store = open_store(settings.store_dir, settings.collection, settings.chroma_url, fresh=True)
    if store is not None:
        check_compatible(store.metadata, model.model_name, model.backend, store.location)
    _ingest_into(store, paths, settings, model, report, prune, progress)
    store = store or open_store(settings.store_dir, settings.collection, settings.chroma_url)
    if store is not None:
        if report.chunks_added or report.chunks_deleted:
            mark_changed(store, settings.store_dir, settings.chroma_url)
        write_manifest(settings.store_dir, store, stored_files(store))
        report.chunks_total = store.count()


class _LazyEmbedder:
    """Names the configured model without loading it; loads on the first encode."""

    def __init__(self, settings: Settings, embedder: Embedder | None) -> None:
        self._settings = settings
        self._embedder = embedder
        self.model_name = embedder.model_name if embedder else model_label(settings.embed_model)
        self.backend = embedder.backend if embedder else settings.embed_backend

    def get(self) -> Embedder:
        if self._embedder is None:
            s = self._settings
            self._embedder = load_embedder(s.embed_model, s.embed_backend, str(s.model_cache_dir))
        return self._embedder


def _ingest_into(store, paths, settings, model, report, prune, progress) -> None:
    files, skipped, report.failed = discover(paths)
    # The rubric sits in corpus/ beside the documents: it is the grader's data, not an
    # unsupported document, so it is not reported as skipped.
    rubric = settings.rubric_path.resolve()
    report.skipped = [p for p in skipped if Path(p).resolve() != rubric]
    report.files_seen = len(files)
    existing = stored_files(store) if store is not None else {}
    max_bytes = int(settings.max_file_mb * 1024 * 1024)

    pending: list[tuple[str, list[Chunk]]] = []
    for path, source in files:
        try:
            file_hash = file_fingerprint(
                path.read_bytes(), settings.chunk_size, settings.chunk_overlap
            )
        except OSError as exc:
            report.failed.append({"path": str(path), "reason": f"cannot read ({exc.strerror})"})
            continue
        known = existing.get(source)
        if known and known["complete"] and known["hash"] == file_hash:
            report.unchanged += 1
            continue
        try:
            doc = read_file(path, str(path), max_bytes)
            chunks = chunk_document(
                doc.text,
                source,
                doc.metadata,
                file_hash,
                settings.chunk_size,
                settings.chunk_overlap,
            )
        except IngestFileError as exc:
            report.failed.append({"path": exc.path, "reason": exc.reason})
            continue
        report.warnings.extend(doc.warnings)
        pending.append((source, chunks))

    all_chunks = [c for _, chunks in pending for c in chunks]
    if all_chunks:
        embedder = model.get()
        vectors = embedder.encode(
            [c.embed_text for c in all_chunks],
            batch_size=settings.embed_batch_size,
            progress=progress,
        )
        report.embedded = len(all_chunks)
        if store is None:
            meta = embed_metadata(embedder.model_name, embedder.backend, embedder.dim)
            store = open_store(
                settings.store_dir, settings.collection, settings.chroma_url, True, meta
            )
    if store is None:  # nothing stored and nothing to store
        return
    max_batch = store.client.get_max_batch_size()
    gone = sorted(set(existing) - {source for _, source in files}) if prune else []
    if pending or gone:
        # A new generation before the first write, not only after the last: other processes
        # then reread the files once this run ends, even if it is killed before finishing.
        mark_changed(store, settings.store_dir, settings.chroma_url)
    # Delete the changed files' old chunks, then add the new ones in as few calls as the batch
    # limit allows. A kill anywhere leaves files absent or incomplete (fewer chunks than their
    # recorded count), and the next run redoes exactly those.
    report.chunks_deleted += _delete_sources(store, [source for source, _ in pending], max_batch)
    if all_chunks:
        _add_chunks(store, all_chunks, vectors, max_batch)
    for source, chunks in pending:
        report.chunks_added += len(chunks)
        report.ingested += 1
        log.info("stored %s (%d chunks)", source, len(chunks))

    report.chunks_deleted += _delete_sources(store, gone, max_batch)
    for source in gone:
        log.info("pruned %s", source)


def store_stats(settings: Settings) -> dict:
    """Sources, chunks, document types and the model that built the store."""
    with server_errors(settings.chroma_url):
        return _store_stats(settings)


def _store_stats(settings: Settings) -> dict:
    store = open_store(settings.store_dir, settings.collection, settings.chroma_url)
    if store is None:
        return {
            "store": str(settings.chroma_url or settings.store_dir),
            "sources": 0,
            "chunks": 0,
            "model": None,
            "backend": None,
            "dimension": None,
            "doc_types": {},
        }
    got = get_all(store, ["metadatas"])
    sources: dict[str, dict] = {}
    for meta in got["metadatas"] or []:
        entry = sources.setdefault(
            meta["source"],
            {"title": meta.get("title"), "doc_type": meta.get("doc_type"), "chunks": 0},
        )
        entry["chunks"] += 1
    doc_types: dict[str, int] = {}
    for entry in sources.values():
        doc_types[entry["doc_type"]] = doc_types.get(entry["doc_type"], 0) + 1
    meta = store.metadata
    return {
        "store": store.location,
        "sources": len(sources),
        "chunks": store.count(),
        "model": meta.get("embed_model"),
        "backend": meta.get("embed_backend"),
        "dimension": meta.get("embed_dim"),
        "doc_types": doc_types,
        "files": {src: sources[src] for src in sorted(sources)},
    }
