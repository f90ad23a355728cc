"""Per-mode metric summaries: mean ± std over rows, decline rates, spread across repeats."""

from __future__ import annotations

import math
import statistics
from typing import Any

from pydantic import BaseModel

from eval.answering import LLM as LLM_AGENT
from eval.ragas_metrics import LLM_METRICS


class MetricSummary(BaseModel):
    mean: float | None
    std: float | None
    n: int
    repeat_std: float | None = None  # LLM metrics: spread of the run-level mean across repeats


def _summary(values: list[float]) -> MetricSummary:
    if not values:
        return MetricSummary(mean=None, std=None, n=0)
    std = statistics.pstdev(values) if len(values) > 1 else 0.0
    return MetricSummary(mean=statistics.fmean(values), std=std, n=len(values))


def summarize(rows: list[dict[str, Any]]) -> dict[str, MetricSummary]:
    """Mean ± std over rows for every metric, plus the decline rates and repeat spread."""
    names: list[str] = []
    for row in rows:
        names.extend(n for n in row.get("metrics", {}) if n not in names)
    out: dict[str, MetricSummary] = {}
    for name in names:
        values = [r["metrics"].get(name) for r in rows]
        out[name] = _summary([v for v in values if v is not None and not math.isnan(v)])
        if name in LLM_METRICS:
            out[name].repeat_std = _repeat_std([r["llm"].get(name) for r in rows])
    out_scope = [float(r.get("declined", False)) for r in rows if r.get("out_of_scope")]
    in_scope = [float(r.get("declined", False)) for r in rows if not r.get("out_of_scope")]
    if out_scope:
        out["decline_rate"] = _summary(out_scope)
    if in_scope:
        out["false_decline_rate"] = _summary(in_scope)
    if any(r.get("answerer") == LLM_AGENT for r in rows):  # turns the LLM agent gave up on
        out["llm_fallback_rate"] = _summary([float(bool(r.get("fallback_reason"))) for r in rows])
    return out


def _repeat_std(per_row: list[dict | None]) -> float | None:
    """Std of the dataset-level mean across repeats (how much one whole run could move)."""
    runs = [r["runs"] for r in per_row if r and r.get("runs")]
    if not runs or min(len(r) for r in runs) < 2:
        return None
    means = []
    for i in range(min(len(r) for r in runs)):
        values = [r[i] for r in runs if r[i] is not None]
        if values:
            means.append(statistics.fmean(values))
    return statistics.pstdev(means) if len(means) > 1 else None
