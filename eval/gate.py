"""The regression gate: compare a run with a baseline report.json, metric by metric, per mode.

A metric regresses when it moved the wrong way by more than `max_drop` (absolute). Only metrics
present with a value in the same mode of both reports are compared; `notes` says what was not.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

LOWER_IS_BETTER = frozenset({"false_decline_rate", "llm_fallback_rate"})
EXIT_REGRESSION = 3
_EPS = 1e-9  # 0.80 - 0.78 is 0.0200000001 in floating point: not a drop beyond 0.02


class Delta(BaseModel):
    mode: str
    metric: str
    baseline: float
    current: float
    delta: float  # current - baseline
    regressed: bool


class GateResult(BaseModel):
    max_drop: float
    deltas: list[Delta] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    @property
    def regressions(self) -> list[Delta]:
        return [d for d in self.deltas if d.regressed]

    @property
    def passed(self) -> bool:
        return not self.regressions

    def lines(self) -> list[str]:
        """Human-readable deltas, one per metric, regressions marked."""
        out = []
        for d in self.deltas:
            mark = "  REGRESSION" if d.regressed else ""
            out.append(
                f"{d.mode:<7} {d.metric:<42} {d.baseline:.4f} -> {d.current:.4f} "
                f"({d.delta:+.4f}){mark}"
            )
        return out + [f"note: {n}" for n in self.notes]


def _means(report: dict[str, Any], mode: str) -> dict[str, float]:
    metrics = (report.get("modes", {}).get(mode) or {}).get("metrics") or {}
    return {
        name: float(m["mean"])
        for name, m in metrics.items()
        if isinstance(m, dict) and isinstance(m.get("mean"), int | float)
    }


def compare(baseline: dict[str, Any], current: dict[str, Any], max_drop: float) -> GateResult:
    """Deltas for every (mode, metric) both reports have; regressions beyond `max_drop`."""
    result = GateResult(max_drop=max_drop)
    base_k = (baseline.get("settings") or {}).get("k")
    cur_k = (current.get("settings") or {}).get("k")
    if base_k is not None and cur_k is not None and base_k != cur_k:
        result.notes.append(f"k differs (baseline {base_k}, now {cur_k}): @k metrics not compared")
    for mode in current.get("modes", {}):
        if mode not in baseline.get("modes", {}):
            result.notes.append(f"mode {mode} is not in the baseline")
            continue
        base, now = _means(baseline, mode), _means(current, mode)
        for name in sorted(set(base) & set(now)):
            delta = now[name] - base[name]
            change = delta if name in LOWER_IS_BETTER else -delta
            worse = change > max_drop + _EPS
            result.deltas.append(
                Delta(
                    mode=mode,
                    metric=name,
                    baseline=base[name],
                    current=now[name],
                    delta=delta,
                    regressed=worse,
                )
            )
        missing = sorted(set(base) - set(now))
        if missing:
            result.notes.append(f"{mode}: not measured now: {', '.join(missing)}")
    return result
