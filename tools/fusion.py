"""Hybrid fusion: one ranking from a dense (cosine) list and a BM25 list of candidates.

`convex` (the default) keeps how sure each list is: every candidate of either list gets a
dense and a BM25 score, each normalised over the candidates (min-max or z-score), and the
fused score is `alpha * dense + (1 - alpha) * bm25`. A chunk missing from the dense list
gets that list's lowest cosine (a top-n list says it scored at most that); a chunk missing
from the BM25 list gets its exact BM25 score when the caller can look it up (the Retriever
can), else the list's lowest score. The BM25 gate: when the best BM25 score is at least
`gate_ratio` times the second best, that chunk is ranked first whatever a flat dense list
says (a rare exact phrase is the strongest evidence a query can give).
The dense share can follow how much of the query BM25 found (`alpha_uncovered`): with
`coverage` the IDF-weighted share of the query's words that the best BM25 chunk holds, the
share is `alpha` at full coverage and `alpha_uncovered` at none, linear between. A learner
who uses the material's own terms gets mostly lexical ranking; a paraphrase whose words the
text lacks leans on meaning.
`rrf` is weighted reciprocal rank fusion (scores thrown away), kept for comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import fmean, pstdev
from typing import Literal

Ranked = list[tuple[str, float]]  # (chunk id, score), best first
FusionMethod = Literal["convex", "rrf"]
Normalisation = Literal["minmax", "zscore"]


@dataclass(frozen=True)
class FusionParams:
    method: FusionMethod = "convex"
    alpha: float = 0.35  # convex: the dense list's share (at full query coverage)
    alpha_uncovered: float | None = None  # the share at zero coverage; None: always `alpha`
    norm: Normalisation = "minmax"
    gate_ratio: float = 0.0  # 0 turns the BM25 gate off
    rrf_k: int = 40
    rrf_dense_weight: float = 1.0
    rrf_bm25_weight: float = 1.0

    @classmethod
    def from_settings(cls, settings: object) -> FusionParams:
        """The `hybrid_*` fields of core.settings.Settings."""
        return cls(
            method=settings.hybrid_fusion,
            alpha=settings.hybrid_alpha,
            alpha_uncovered=settings.hybrid_alpha_uncovered,
            norm=settings.hybrid_norm,
            gate_ratio=settings.hybrid_gate_ratio,
            rrf_k=settings.hybrid_rrf_k,
            rrf_dense_weight=settings.hybrid_dense_weight,
            rrf_bm25_weight=settings.hybrid_bm25_weight,
        )


def normalise(values: Sequence[float], norm: Normalisation) -> list[float]:
    """Scores mapped onto a common scale; a flat list (no ordering information) maps to 0."""
    if not values:
        return []
    if norm == "zscore":
        spread = pstdev(values)
        centre = fmean(values)
        return [(v - centre) / spread if spread > 0 else 0.0 for v in values]
    low, high = min(values), max(values)
    return [(v - low) / (high - low) if high > low else 0.0 for v in values]


def fuse(
    dense: Ranked,
    bm25: Ranked,
    params: FusionParams,
    bm25_of: Callable[[str], float] | None = None,
    coverage: float | None = None,
) -> Ranked:
    """Fused (chunk id, score), best first; ties broken by chunk id, so runs repeat exactly.

    `coverage`: the share of the query the best BM25 chunk holds (BM25Index.coverage)."""
    if params.method == "rrf":
        return rrf(dense, bm25, params)
    candidates = list(dict.fromkeys([cid for cid, _ in dense] + [cid for cid, _ in bm25]))
    if not candidates:
        return []
    dense_map, bm25_map = dict(dense), dict(bm25)
    dense_floor = min(dense_map.values(), default=0.0)
    bm25_floor = min(bm25_map.values(), default=0.0)

    def lexical(cid: str) -> float:
        if cid in bm25_map:
            return bm25_map[cid]
        return bm25_of(cid) if bm25_of is not None else bm25_floor

    dense_norm = normalise([dense_map.get(c, dense_floor) for c in candidates], params.norm)
    bm25_norm = normalise([lexical(c) for c in candidates], params.norm)
    alpha = dense_share(params, coverage)
    fused = {
        cid: alpha * d + (1.0 - alpha) * b for cid, d, b in zip(candidates, dense_norm, bm25_norm)
    }
    ranked = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
    pinned = gated(bm25, params.gate_ratio)
    if pinned is not None and ranked[0][0] != pinned:
        ranked = [(pinned, ranked[0][1])] + [item for item in ranked if item[0] != pinned]
    return ranked


def dense_share(params: FusionParams, coverage: float | None) -> float:
    """`alpha`, or between `alpha_uncovered` (coverage 0) and `alpha` (coverage 1)."""
    if params.alpha_uncovered is None or coverage is None:
        return params.alpha
    covered = min(max(coverage, 0.0), 1.0)
    return params.alpha_uncovered + (params.alpha - params.alpha_uncovered) * covered


def gated(bm25: Ranked, ratio: float) -> str | None:
    """The BM25 hit that stands far above the rest (best >= ratio x second), if any."""
    if ratio <= 0 or not bm25 or bm25[0][1] <= 0:
        return None
    second = bm25[1][1] if len(bm25) > 1 else 0.0
    return bm25[0][0] if bm25[0][1] >= ratio * second else None


def rrf(dense: Ranked, bm25: Ranked, params: FusionParams) -> Ranked:
    """Weighted reciprocal rank fusion: sum of weight / (k + rank) over the lists."""
    fused: dict[str, float] = {}
    for weight, ranked in ((params.rrf_dense_weight, dense), (params.rrf_bm25_weight, bm25)):
        for rank, (cid, _) in enumerate(ranked, start=1):
            fused[cid] = fused.get(cid, 0.0) + weight / (params.rrf_k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
