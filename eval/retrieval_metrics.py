"""Retrieval metrics computed by the project: hit@k, MRR, nDCG@k, target recall@k.

Relevance is binary per retrieved chunk. A chunk is relevant to a row when it matches one of
the row's `sources` (`file` or `file#Heading`, see `matches_source`) or when it contains one
of the row's `reference_contexts` (whitespace- and case-normalized), or overlaps it strongly
(`overlap` >= `OVERLAP_THRESHOLD`, word trigram containment either way, so a reference passage
split across two chunks still counts for each of them).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

OVERLAP_THRESHOLD = 0.6
_SHINGLE = 3


class Chunk(Protocol):
    text: str
    source: str
    section: str


# An evaluation compares every row's references with every chunk of the store, and the same
# chunk texts again for each mode's hits: caching the per-text work makes that a set lookup.
_CACHE = 1 << 16


@lru_cache(maxsize=_CACHE)
def normalize(text: str) -> str:
    return " ".join(text.split()).lower()


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


@lru_cache(maxsize=_CACHE)
def _shingles(text: str) -> frozenset[tuple[str, ...]]:
    words = _words(text)
    if len(words) < _SHINGLE:
        return frozenset({tuple(words)}) if words else frozenset()
    return frozenset(tuple(words[i : i + _SHINGLE]) for i in range(len(words) - _SHINGLE + 1))


def overlap(reference: str, text: str) -> float:
    """Word-trigram containment, the larger of both directions (0..1)."""
    a, b = _shingles(reference), _shingles(text)
    if not a or not b:
        return 0.0
    common = len(a & b)
    return max(common / len(a), common / len(b))


def matches_source(spec: str, source: str, section: str) -> bool:
    """`file` matches any chunk of the file; `file#Heading` needs Heading in the section path."""
    file, _, heading = spec.partition("#")
    if source.strip() != file.strip():
        return False
    heading = " ".join(heading.split()).lower()
    if not heading:
        return True
    return heading in (" ".join(c.split()).lower() for c in section.split(" > "))


@lru_cache(maxsize=_CACHE * 4)  # each (reference, chunk) pair is asked about in every mode
def matches_context(reference: str, text: str) -> bool:
    ref, body = normalize(reference), normalize(text)
    if not ref or not body:
        return False
    return ref in body or overlap(reference, text) >= OVERLAP_THRESHOLD


def matched_targets(
    chunk: Chunk, sources: Sequence[str], reference_contexts: Sequence[str]
) -> set[str]:
    """The row's targets (`source:<spec>` / `context:<i>`) that this chunk satisfies."""
    found = {f"source:{s}" for s in sources if matches_source(s, chunk.source, chunk.section)}
    for i, ref in enumerate(reference_contexts):
        if matches_context(ref, chunk.text):
            found.add(f"context:{i}")
    return found


def relevance(
    chunks: Sequence[Chunk], sources: Sequence[str], reference_contexts: Sequence[str]
) -> list[int]:
    """1/0 per retrieved chunk, in rank order."""
    return [int(bool(matched_targets(c, sources, reference_contexts))) for c in chunks]


def hit_at_k(rels: Sequence[int], k: int) -> float:
    return float(any(rels[:k]))


def reciprocal_rank(rels: Sequence[int], k: int) -> float:
    for rank, rel in enumerate(rels[:k], start=1):
        if rel:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(rels: Sequence[int], k: int, n_relevant: int | None = None) -> float:
    """Binary nDCG@k. `n_relevant` is how many relevant chunks exist in the whole corpus (the
    ideal ranking puts min(k, n_relevant) of them first); by default, those retrieved."""
    dcg = sum(rel / math.log2(rank + 1) for rank, rel in enumerate(rels[:k], start=1))
    ideal_count = min(k, max(n_relevant if n_relevant is not None else 0, sum(rels[:k])))
    if ideal_count == 0:
        return 0.0
    idcg = sum(1.0 / math.log2(rank + 1) for rank in range(1, ideal_count + 1))
    return dcg / idcg


def target_recall(
    chunks: Sequence[Chunk], sources: Sequence[str], reference_contexts: Sequence[str], k: int
) -> float:
    """Share of the row's targets (sources and reference contexts) covered by the top k."""
    targets = len(set(sources)) + len(reference_contexts)
    if targets == 0:
        return 0.0
    covered: set[str] = set()
    for chunk in chunks[:k]:
        covered |= matched_targets(chunk, sources, reference_contexts)
    return len(covered) / targets


def count_relevant(
    corpus: Sequence[Chunk], sources: Sequence[str], reference_contexts: Sequence[str]
) -> int:
    """How many chunks of the corpus are relevant to a row (the ideal list for nDCG)."""
    return sum(1 for c in corpus if matched_targets(c, sources, reference_contexts))


def retrieval_scores(
    chunks: Sequence[Chunk],
    sources: Sequence[str],
    reference_contexts: Sequence[str],
    k: int,
    n_relevant: int | None = None,
) -> dict[str, float]:
    """All retrieval metrics for one row, keyed `hit@k`, `mrr`, `ndcg@k`, `recall@k`."""
    rels = relevance(chunks[:k], sources, reference_contexts)
    return {
        f"hit@{k}": hit_at_k(rels, k),
        "mrr": reciprocal_rank(rels, k),
        f"ndcg@{k}": ndcg_at_k(rels, k, n_relevant),
        f"recall@{k}": target_recall(chunks, sources, reference_contexts, k),
    }
