"""The chunk table search reads: ids, texts and hit metadata in store order, with the BM25
index over them, and its on-disk cache.

The cache is a JSON manifest (version, fingerprint of the chunk ids, folder name) next to a
folder holding `chunks.json` and the BM25 arrays (`.npy`, memory-mapped on load). Loading it
unpickles nothing; a manifest that is not this version's JSON (e.g. an older pickle) is
rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import sys
import threading
from pathlib import Path

from tools.bm25 import BM25Index

log = logging.getLogger(__name__)


def _complete_files(metas: list[dict]) -> set[str]:
    """Sources whose chunks are all stored, with one file hash (see ingest.pipeline)."""
    seen: dict[str, tuple[set, int, int]] = {}
    for meta in metas:
        hashes, count, _ = seen.get(meta.get("source", ""), (set(), 0, 0))
        hashes.add(meta.get("file_hash"))
        seen[meta.get("source", "")] = (hashes, count + 1, int(meta.get("n_chunks") or 0))
    # a store written without n_chunks (0) cannot tell: count its files as complete
    return {src for src, (h, count, n) in seen.items() if len(h) == 1 and count >= n}


class _Corpus:
    """Chunk ids, texts and metadata in store order, with the BM25 index over them.

    Only chunks of completely stored files are kept: a read taken while an ingest is writing
    a file never serves part of it (dense hits outside the table are dropped too).
    """

    def __init__(self, ids: list[str], docs: list[str], metas: list[dict]) -> None:
        complete = _complete_files(metas)
        keep = [i for i, m in enumerate(metas) if m.get("source", "") in complete]
        if len(keep) < len(ids):
            log.debug("skipping %d chunks of incompletely stored files", len(ids) - len(keep))
            ids, docs, metas = ([seq[i] for i in keep] for seq in (ids, docs, metas))
        bm25 = BM25Index([f"{m.get('section', '')}\n{d}" for d, m in zip(docs, metas)])
        self._set(ids, docs, [_slim(m) for m in metas], bm25)

    def _set(self, ids: list[str], docs: list[str], metas: list[dict], bm25: BM25Index) -> None:
        self.ids, self.docs, self.metas, self.bm25 = ids, docs, metas, bm25
        self.position = {cid: i for i, cid in enumerate(ids)}

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True)
        table = {"ids": self.ids, "docs": self.docs, "metas": self.metas}
        (folder / "chunks.json").write_text(json.dumps(table), encoding="utf-8")
        self.bm25.save(folder / "bm25")

    @classmethod
    def load(cls, folder: Path) -> _Corpus:
        table = json.loads((folder / "chunks.json").read_text(encoding="utf-8"))
        corpus = cls.__new__(cls)
        metas = [_slim(m) for m in table["metas"]]
        corpus._set(table["ids"], table["docs"], metas, BM25Index.load(folder / "bm25"))
        return corpus


# The metadata a hit and the tools read. Hashes and counts only decide completeness above;
# keeping them per chunk cost about half of the table's memory.
_HIT_FIELDS = ("source", "section", "title", "doc_type")
# bump when _Corpus changes shape: older caches are rebuilt (version 2 and older: pickles)
CORPUS_CACHE_VERSION = 3


def _slim(meta: dict) -> dict:
    # a file's source, title and type repeat on each of its chunks: share one string object
    return {
        k: sys.intern(str(meta[k])) if k != "section" else meta[k] for k in _HIT_FIELDS if k in meta
    }


def _fingerprint(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:24]


def write_cache(corpus: _Corpus, manifest: Path) -> None:
    """Write the table into a folder named by its fingerprint, then point the manifest at it.

    Each step is a rename, so a reader sees the old cache or the new one, never half of one;
    older folders and pre-JSON pickles of this collection are removed.
    """
    fingerprint = _fingerprint(corpus.ids)
    stem = manifest.stem
    folder = manifest.with_name(f"{stem}-{fingerprint}")
    manifest.parent.mkdir(parents=True, exist_ok=True)
    unique = f"{os.getpid()}-{threading.get_ident()}"
    if not folder.exists():
        tmp = manifest.with_name(f"{folder.name}.{unique}.tmp")
        try:
            corpus.save(tmp)
            tmp.rename(folder)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not folder.exists():
                raise
    tmp_manifest = manifest.with_name(f"{manifest.name}.{unique}.tmp")
    entry = {"version": CORPUS_CACHE_VERSION, "fingerprint": fingerprint, "folder": folder.name}
    tmp_manifest.write_text(json.dumps(entry), encoding="utf-8")
    tmp_manifest.replace(manifest)
    old_folder = re.compile(rf"{re.escape(stem)}-[0-9a-f]{{24}}")
    for path in manifest.parent.iterdir():
        if path != folder and old_folder.fullmatch(path.name):
            shutil.rmtree(path, ignore_errors=True)  # a reader's open maps stay valid
    manifest.with_suffix(".pkl").unlink(missing_ok=True)


def read_cache(manifest: Path, fingerprint: str) -> _Corpus | None:
    """The cached table when the manifest is this version's and matches the fingerprint."""
    try:
        cached = json.loads(manifest.read_text(encoding="utf-8"))
        if cached["version"] == CORPUS_CACHE_VERSION and cached["fingerprint"] == fingerprint:
            return _Corpus.load(manifest.with_name(cached["folder"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # missing, stale, partly deleted or an older pickle: rebuild
    return None
