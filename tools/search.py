"""Corpus search: dense (Chroma), BM25, and hybrid (weighted reciprocal rank fusion).

The BM25 index is built from the same chunks as the store, cached on disk keyed by the
chunk ids (which embed each chunk's content hash), and rebuilt when the store changes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import sys
import threading
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from core.errors import ConfigError, EmptyStoreError, InputError
from core.settings import Settings
from ingest.embeddings import Embedder, load_embedder
from ingest.locking import reopen_if_idle
from ingest.store import (
    GENERATION_KEY,
    Store,
    check_compatible,
    get_all,
    is_stale,
    open_store,
    server_errors,
)
from tools.bm25 import BM25Index

log = logging.getLogger(__name__)

MODES = ("hybrid", "dense", "bm25")
Mode = Literal["hybrid", "dense", "bm25"]


class Hit(BaseModel):
    """One retrieved chunk."""

    text: str
    source: str
    section: str
    title: str
    doc_type: str
    chunk_id: str
    score: float
    rank: int
    dense_score: float | None = None  # cosine similarity, when the dense list saw this chunk
    bm25_score: float | None = None


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
        self.ids, self.docs = ids, docs
        self.metas = [_slim(m) for m in metas]
        self.position = {cid: i for i, cid in enumerate(ids)}
        self.bm25 = BM25Index([f"{m.get('section', '')}\n{d}" for d, m in zip(docs, metas)])


# The metadata a hit and the tools read. Hashes and counts only decide completeness above;
# keeping them per chunk cost about half of the table's memory.
_HIT_FIELDS = ("source", "section", "title", "doc_type")
CORPUS_CACHE_VERSION = 2  # bump when _Corpus changes shape: older pickles are rebuilt


def _slim(meta: dict) -> dict:
    # a file's source, title and type repeat on each of its chunks: share one string object
    return {
        k: sys.intern(str(meta[k])) if k != "section" else meta[k] for k in _HIT_FIELDS if k in meta
    }


def _fingerprint(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:24]


class Retriever:
    """Search over one store. Thread-safe; open once per process and share."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._store: Store | None = None
        self._corpus: _Corpus | None = None
        self._state: tuple | None = None  # (collection id, chunk count, ingest generation)
        self._lock = threading.RLock()

    # -- resources -------------------------------------------------------------------------
    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(self.settings.store_dir)

    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                store = open_store(
                    self.settings.store_dir, self.settings.collection, self.settings.chroma_url
                )
                if store is None:
                    raise EmptyStoreError(self.location)
                self._store = store
            return self._store

    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = load_embedder(
                    self.settings.embed_model,
                    self.settings.embed_backend,
                    str(self.settings.model_cache_dir),
                )
            store = self.store()
            check_compatible(
                store.metadata, self._embedder.model_name, self._embedder.backend, store.location
            )
            return self._embedder

    def _bm25_cache_path(self) -> Path:
        if self.settings.chroma_url:
            key = hashlib.sha256(self.settings.chroma_url.encode()).hexdigest()[:12]
            return self.settings.model_cache_dir / "bm25" / f"{key}-{self.settings.collection}.pkl"
        return self.settings.store_dir / f"bm25-{self.settings.collection}.pkl"

    def corpus(self) -> _Corpus:
        """The chunk table and BM25 index, refreshed when the store changes.

        The collection handle is re-read on every call (one cheap request), so a write by any
        process or client is seen: a new chunk count, a new ingest generation (an edit that
        kept the count) or a recreated collection (`ingest --reset`) reloads the table. In
        embedded mode a generation written by another process also means this process's
        vector index is stale: it is reread once no ingest is running.
        """
        with self._lock:
            s = self.settings
            store = open_store(s.store_dir, s.collection, s.chroma_url)
            if store is not None and is_stale(store, s.store_dir, s.chroma_url):
                refreshed, fresh = reopen_if_idle(s)
                store = fresh if refreshed else store
            if store is None:
                self._store, self._corpus, self._state = None, None, None
                raise EmptyStoreError(self.location)
            count = store.count()
            if count == 0:
                raise EmptyStoreError(self.location)
            state = (str(store.collection.id), count, store.metadata.get(GENERATION_KEY))
            self._store = store
            if self._corpus is None or state != self._state:
                self._corpus = self._load_corpus(store)
                self._state = state
            return self._corpus

    def invalidate(self) -> None:
        """Forget cached chunks (optional: `corpus()` notices store changes by itself)."""
        with self._lock:
            self._corpus = None
            self._state = None

    def _load_corpus(self, store: Store) -> _Corpus:
        ids = store.collection.get(include=[])["ids"]
        fingerprint = _fingerprint(ids)
        cache = self._bm25_cache_path()
        try:
            with cache.open("rb") as fh:
                cached = pickle.load(fh)
            if cached.get("fingerprint") == fingerprint and cached.get("version") == (
                CORPUS_CACHE_VERSION
            ):
                return cached["corpus"]
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, KeyError, TypeError):
            pass  # missing or stale cache: rebuild
        got = get_all(store, ["documents", "metadatas"])
        corpus = _Corpus(list(got["ids"]), list(got["documents"]), list(got["metadatas"]))
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
            with tmp.open("wb") as fh:
                pickle.dump(
                    {
                        "fingerprint": _fingerprint(corpus.ids),
                        "version": CORPUS_CACHE_VERSION,
                        "corpus": corpus,
                    },
                    fh,
                )
            tmp.replace(cache)
        except OSError as exc:  # a read-only store still searches, just without the cache
            log.debug("BM25 cache not written: %s", exc)
        return corpus

    # -- search ----------------------------------------------------------------------------
    def dense(self, query: str, n: int) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first."""
        vector = self.embedder().encode([query])[0]
        res = self.store().collection.query(
            query_embeddings=[vector.tolist()], n_results=max(1, n), include=["distances"]
        )
        return [(cid, 1.0 - float(d)) for cid, d in zip(res["ids"][0], res["distances"][0])]

    def bm25(self, query: str, n: int, corpus: _Corpus | None = None) -> list[tuple[str, float]]:
        """(chunk id, BM25 score), best first; `corpus` reuses a snapshot already taken."""
        corpus = corpus or self.corpus()
        return [(corpus.ids[i], score) for i, score in corpus.bm25.top(query, n)]

    def search(self, query: str, k: int | None = None, mode: str | None = None) -> list[Hit]:
        """Top-k chunks for a query. Raises InputError / EmptyStoreError with clear messages."""
        with server_errors(self.settings.chroma_url):
            return self._search(query, k, mode)

    def _search(self, query: str, k: int | None, mode: str | None) -> list[Hit]:
        query = (query or "").strip()
        if not query:
            raise InputError("The query is empty: type a question or some keywords.")
        if len(query) > self.settings.max_question_chars:
            raise InputError(
                f"The query is {len(query)} characters long; the limit is "
                f"{self.settings.max_question_chars} (MLSD_MAX_QUESTION_CHARS)."
            )
        k = k or self.settings.top_k
        mode = mode or self.settings.retrieval_mode
        if mode not in MODES:
            raise ConfigError(f"Unknown retrieval mode {mode!r}: choose one of {', '.join(MODES)}.")
        if k < 1:
            raise InputError(f"k must be at least 1 (got {k}).")
        corpus = self.corpus()  # one snapshot per search: hits and BM25 read the same table
        dense: dict[str, float] = {}
        lexical: dict[str, float] = {}
        if mode == "dense":
            ranked = self.dense(query, k)
            dense = dict(ranked)
        elif mode == "bm25":
            ranked = self.bm25(query, k, corpus)
            lexical = dict(ranked)
        else:
            depth = max(k, self.settings.hybrid_depth)
            dense_list, bm25_list = self.dense(query, depth), self.bm25(query, depth, corpus)
            dense, lexical = dict(dense_list), dict(bm25_list)
            ranked = self._fuse(dense_list, bm25_list)[:k]
        hits = []
        for cid, score in ranked:
            pos = corpus.position.get(cid)
            if pos is None:  # deleted since the chunk table was read: never return a stale hit
                continue
            meta = corpus.metas[pos]
            hits.append(
                Hit(
                    text=corpus.docs[pos],
                    source=meta.get("source", ""),
                    section=meta.get("section", ""),
                    title=meta.get("title", ""),
                    doc_type=meta.get("doc_type", "other"),
                    chunk_id=cid,
                    score=round(float(score), 6),
                    rank=len(hits) + 1,
                    dense_score=round(dense[cid], 6) if cid in dense else None,
                    bm25_score=round(lexical[cid], 6) if cid in lexical else None,
                )
            )
        return hits[:k]

    def _fuse(self, dense: list[tuple[str, float]], bm25: list[tuple[str, float]]):
        """Weighted reciprocal rank fusion; weights and k are tuned on the golden set."""
        s = self.settings
        fused: dict[str, float] = {}
        for weight, ranked in ((s.hybrid_dense_weight, dense), (s.hybrid_bm25_weight, bm25)):
            for rank, (cid, _) in enumerate(ranked, start=1):
                fused[cid] = fused.get(cid, 0.0) + weight / (s.hybrid_rrf_k + rank)
        return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def search(retriever: Retriever, query: str, k: int = 5, mode: Mode = "hybrid") -> list[Hit]:
    """Search the study material (framework, concept notes, example solutions).

    Args:
        query: what to look for, in plain words.
        k: how many passages to return (1-20).
        mode: `hybrid` (default), `dense` (meaning) or `bm25` (keywords).
    """
    return retriever.search(query, k=min(max(k, 1), 20), mode=mode)
