"""What a store holds, read from chunk metadata: per-file state, the manifest, `mlsd stats`."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from core.settings import Settings
from ingest.store import Store, get_all, open_store, server_errors


def stored_files(store: Store) -> dict[str, dict]:
    """source -> {"hash", "count", "complete", "path"} read from chunk metadata.

    `path` is the file's resolved absolute path (None for chunks stored before it was kept).
    """
    got = get_all(store, ["metadatas"])
    state: dict[str, dict] = {}
    for meta in got["metadatas"] or []:
        entry = state.setdefault(
            meta["source"], {"hashes": set(), "count": 0, "n": 0, "path": None}
        )
        entry["hashes"].add(meta.get("file_hash"))
        entry["count"] += 1
        entry["n"] = int(meta.get("n_chunks", 0))
        entry["path"] = entry["path"] or meta.get("path")
    return {
        src: {
            "hash": next(iter(e["hashes"])) if len(e["hashes"]) == 1 else None,
            "count": e["count"],
            "complete": len(e["hashes"]) == 1 and e["count"] == e["n"],
            "path": e["path"],
        }
        for src, e in state.items()
    }


def write_manifest(store_dir: Path, store: Store, files: dict[str, dict]) -> None:
    """Atomic snapshot: source -> content hash, plus the model that built the store."""
    manifest = {
        "store": store.metadata,
        "sources": {src: info["hash"] for src, info in sorted(files.items()) if info["complete"]},
    }
    store_dir.mkdir(parents=True, exist_ok=True)
    # unique per writer: in server mode several ingests may share a store_dir without a lock
    tmp = store_dir / f"manifest.json.{os.getpid()}-{threading.get_ident()}.tmp"
    try:
        tmp.write_text(json.dumps(manifest, indent=1))
        os.replace(tmp, store_dir / "manifest.json")
    finally:
        tmp.unlink(missing_ok=True)  # a full disk must not leave half a snapshot behind


def _empty_stats(location: str) -> dict:
    return {
        "store": location,
        "sources": 0,
        "chunks": 0,
        "model": None,
        "backend": None,
        "dimension": None,
        "doc_types": {},
    }


def store_stats(settings: Settings) -> dict:
    """Sources, chunks, document types and the model that built the store."""
    if not settings.chroma_url and not (settings.store_dir / "chroma.sqlite3").is_file():
        # nothing stored there (a mistyped --store): answer without creating the folder
        return _empty_stats(str(settings.store_dir))
    with server_errors(settings.chroma_url):
        return _store_stats(settings)


def _store_stats(settings: Settings) -> dict:
    store = open_store(settings.store_dir, settings.collection, settings.chroma_url)
    if store is None:
        return _empty_stats(str(settings.chroma_url or settings.store_dir))
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
