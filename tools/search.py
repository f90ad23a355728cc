"""Corpus search: dense (Chroma), BM25, and hybrid (score-aware fusion, tools/fusion.py).

The chunk table and its BM25 index (tools/chunk_table.py) are built from the same chunks as
the store, cached on disk keyed by the chunk ids (which embed each chunk's content hash),
and rebuilt when the store changes.
"""

from __future__ import annotations

import hashlib
import logging
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
from tools.bm25 import top_of
from tools.chunk_table import _Corpus, _fingerprint, read_cache, write_cache
from tools.fusion import FusionParams, fuse

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
        """The cache manifest (JSON: version, fingerprint); its folders sit next to it."""
        if self.settings.chroma_url:
            key = hashlib.sha256(self.settings.chroma_url.encode()).hexdigest()[:12]
            name = f"{key}-{self.settings.collection}"
            return self.settings.model_cache_dir / "bm25" / f"{name}.json"
        return self.settings.store_dir / f"bm25-{self.settings.collection}.json"

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
        manifest = self._bm25_cache_path()
        cached = read_cache(manifest, fingerprint)
        if cached is not None:
            return cached
        got = get_all(store, ["documents", "metadatas"])
        corpus = _Corpus(list(got["ids"]), list(got["documents"]), list(got["metadatas"]))
        try:
            write_cache(corpus, manifest)
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
            # chunks outside the table (files half-stored) are never hits: not candidates either
            dense_list = [hit for hit in self.dense(query, depth) if hit[0] in corpus.position]
            scores = corpus.bm25.scores(query)  # every chunk's: exact for dense-only candidates
            bm25_list = [(corpus.ids[i], score) for i, score in top_of(scores, depth)]

            def bm25_of(cid: str) -> float:
                pos = corpus.position.get(cid)
                return 0.0 if pos is None else float(scores[pos])

            params = FusionParams.from_settings(self.settings)
            coverage = None
            if params.alpha_uncovered is not None:  # how much of the query BM25's best holds
                best = corpus.position[bm25_list[0][0]] if bm25_list else None
                coverage = 0.0 if best is None else corpus.bm25.coverage(query, best)
            ranked = fuse(dense_list, bm25_list, params, bm25_of, coverage)[:k]
            dense = dict(dense_list)
            lexical = {cid: bm25_of(cid) for cid, _ in ranked}
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


def search(retriever: Retriever, query: str, k: int = 5, mode: Mode = "hybrid") -> list[Hit]:
    """Search the study material (framework, concept notes, example solutions).

    Args:
        query: what to look for, in plain words.
        k: how many passages to return (1-20).
        mode: `hybrid` (default), `dense` (meaning) or `bm25` (keywords).
    """
    return retriever.search(query, k=min(max(k, 1), 20), mode=mode)
