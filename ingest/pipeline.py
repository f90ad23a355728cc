"""Incremental, crash-safe ingestion of files into the store.

The collection itself is the source of truth for what is stored: every chunk records its
file's hash and chunk count, so a file counts as stored only when all of its chunks are
there with one hash. A run killed at any point leaves at worst an incomplete file, which the
next run deletes and re-adds (ids are stable, adds are upserts): reruns converge, with no
duplicates and no orphans. `manifest.json` in the store dir is a readable snapshot of it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.errors import IngestFileError
from core.settings import Settings
from ingest.chunking import Chunk, chunk_document, file_fingerprint
from ingest.embeddings import Embedder, load_embedder, model_label
from ingest.inventory import store_stats, stored_files, write_manifest
from ingest.locking import ingest_lock
from ingest.readers import read_bytes_checked, read_file
from ingest.rebuild import activate, build_name, discard_builds, drop_collection, write_errors
from ingest.sources import Candidate, assign_labels, discover, display, prunable
from ingest.store import (
    Store,
    check_compatible,
    embed_metadata,
    mark_changed,
    open_store,
    server_errors,
)

log = logging.getLogger(__name__)

__all__ = ["IngestReport", "default_roots", "ingest_paths", "store_stats", "stored_files"]


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


def _record_paths(store: Store, moved: list[tuple[str, str]]) -> None:
    """Unchanged files whose recorded path is missing (older stores) or moved: fix it in place."""
    for source, path in moved:
        ids = store.collection.get(where={"source": source}, include=[])["ids"]
        if ids:
            store.collection.update(ids=ids, metadatas=[{"path": path} for _ in ids])


def ingest_paths(
    paths: list[Path],
    settings: Settings,
    prune: bool = False,
    reset: bool = False,
    embedder: Embedder | None = None,
    progress: bool = False,
) -> IngestReport:
    """Ingest files and folders into the store. Bad files are reported, never fatal.

    `prune` removes stored files that lay under one of the folders in `paths` and are gone;
    `reset` builds a new collection beside the live one and switches to it once complete.
    """
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
    s = settings
    store = open_store(s.store_dir, s.collection, s.chroma_url, fresh=True)
    if reset and store is not None:
        store = _rebuild(paths, settings, model, report, progress, store)
    else:
        if store is not None:
            check_compatible(store.metadata, model.model_name, model.backend, store.location)
        _ingest_into(store, s.collection, paths, settings, model, report, prune, progress)
        # (reopened rather than returned: tests wrap _ingest_into to kill a run right after it)
        store = store or open_store(s.store_dir, s.collection, s.chroma_url)
    if store is not None:
        with write_errors(store.location):
            if report.chunks_added or report.chunks_deleted:
                mark_changed(store, s.store_dir, s.chroma_url)
            write_manifest(s.store_dir, store, stored_files(store))
            report.chunks_total = store.count()


def _rebuild(paths, settings, model, report, progress, live: Store) -> Store:
    """`--reset`: ingest into a new collection beside the live one, then switch readers to it.
    Any failure, or a build that stored nothing, keeps the live collection as it was."""
    s = settings
    discard_builds(s.store_dir, s.collection, s.chroma_url)
    build = build_name(s.collection)
    try:
        _ingest_into(None, build, paths, settings, model, report, False, progress)
        built = open_store(s.store_dir, build, s.chroma_url)
    except BaseException:
        try:
            drop_collection(s.store_dir, build, s.chroma_url)
        except Exception:  # the original error is what the user needs; the next reset retries
            log.exception("could not remove the unfinished build %s", build)
        raise
    if built is None or built.count() == 0:
        drop_collection(s.store_dir, build, s.chroma_url)
        report.warnings.append("--reset stored nothing: the existing collection is kept")
        return live
    with write_errors(built.location):
        activate(s.store_dir, s.collection, build, s.chroma_url)
    return open_store(s.store_dir, s.collection, s.chroma_url) or built


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


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _read_and_chunk(cand: Candidate, source: str, known: dict | None, settings: Settings):
    """("unchanged", moved?) or ("chunks", chunks, warnings) for one file; raises
    IngestFileError. The bytes are read once: hashed and parsed from the same read."""
    label = display(cand.path)
    raw = read_bytes_checked(cand.path, label, int(settings.max_file_mb * 1024 * 1024))
    file_hash = file_fingerprint(
        raw, settings.chunk_size, settings.chunk_overlap, model=settings.embed_model
    )
    if known and known["complete"] and known["hash"] == file_hash:
        return "unchanged", known.get("path") != cand.resolved
    try:
        doc = read_file(cand.path, label, len(raw), raw=raw)
        chunks = chunk_document(
            doc.text,
            source,
            doc.metadata,
            file_hash,
            settings.chunk_size,
            settings.chunk_overlap,
            model=settings.embed_model,
        )
    except IngestFileError:
        raise
    except Exception as exc:  # a parser or splitter giving up on this one file
        raise IngestFileError(label, f"cannot ingest ({_one_line(exc)})") from exc
    for chunk in chunks:
        chunk.metadata["path"] = cand.resolved  # where the file is: for --prune and labels
    return "chunks", chunks, doc.warnings


def _ingest_into(store, name, paths, settings, model, report, prune, progress) -> None:
    """Ingest into `store`, or into a collection `name` created on the first write."""
    found = discover(paths)
    report.failed = found.failed
    # The rubric sits in corpus/ beside the documents: it is the grader's data, not an
    # unsupported document, so it is not reported as skipped.
    rubric = settings.rubric_path.resolve()
    report.skipped = [p for p in found.skipped if Path(p).resolve() != rubric]
    report.files_seen = len(found.files)
    existing = stored_files(store) if store is not None else {}
    labelled, unlabelled = assign_labels(found.files, existing)
    report.failed += unlabelled

    pending: list[tuple[str, list[Chunk]]] = []
    moved: list[tuple[str, str]] = []
    for cand, source in labelled:
        try:
            outcome = _read_and_chunk(cand, source, existing.get(source), settings)
        except IngestFileError as exc:
            report.failed.append({"path": exc.path, "reason": exc.reason})
            continue
        if outcome[0] == "unchanged":
            report.unchanged += 1
            if outcome[1]:
                moved.append((source, cand.resolved))
            continue
        pending.append((source, outcome[1]))
        report.warnings.extend(outcome[2])

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
            store = open_store(settings.store_dir, name, settings.chroma_url, True, meta)
    if store is None:  # nothing stored and nothing to store
        return
    kept = {source for _, source in labelled}
    gone = prunable(existing, found.folders, kept) if prune else []
    unplaced = [src for src, info in existing.items() if not info["path"] and src not in kept]
    if prune and unplaced:  # stored before chunks recorded their file's path
        report.warnings.append(
            f"--prune kept {len(unplaced)} stored files with no recorded location (stored by "
            "an older version): `mlsd ingest --reset` rebuilds the store"
        )
    with write_errors(store.location):
        _write(store, settings, report, pending, all_chunks, vectors if all_chunks else None, gone)
        _record_paths(store, moved)


def _write(store, settings, report, pending, all_chunks, vectors, gone) -> None:
    max_batch = store.client.get_max_batch_size()
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
