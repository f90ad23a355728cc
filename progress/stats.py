"""Progress over time from the saved attempts: scores per stage, missed criteria, time plan.

Everything here is a pure function of the attempts (and the rubric for names and teaching
documents), so the CLI, the app and the export show the same numbers. Only attempts the
grader judged to be designs count towards scores; criterion statuses are read generically:
`met` is met, `missing` and `partial` are misses, anything else (`n/a`, ...) is not graded.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any

from progress.records import Attempt

log = logging.getLogger(__name__)

MISSED = frozenset({"missing", "partial"})
SHORT_BY = 0.05  # a stage got at least 5 points less of the design than of the time
TREND_DELTA = 0.2  # miss-rate change between the older and the newer half that counts
TOP_MISSED = 10


def designs(attempts: list[Attempt]) -> list[Attempt]:
    return [a for a in attempts if a.is_design and a.stages]


def stage_order(attempts: list[Attempt], rubric: Any = None) -> list[tuple[str, str]]:
    """(stage id, name) in rubric order, then any stage only the history knows."""
    seen: dict[str, str] = {}
    for stage in getattr(rubric, "stages", None) or []:
        seen[stage.id] = stage.name
    for attempt in attempts:
        for s in attempt.stages:
            seen.setdefault(s.stage_id, s.name)
    return list(seen.items())


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def stage_series(attempts: list[Attempt], rubric: Any = None, window: int = 20) -> list[dict]:
    """Per stage: every score over time, the recent mean and its change against before."""
    graded = designs(attempts)
    when = {a.id: a.created_at.isoformat() for a in graded}
    per_stage: dict[str, list[dict]] = defaultdict(list)
    for a in graded:
        for s in a.stages:
            per_stage[s.stage_id].append({"attempt": a.id, "at": when[a.id], "score": s.score})
    out = []
    for stage_id, name in stage_order(graded, rubric):
        points = per_stage.get(stage_id, [])
        scores = [p["score"] for p in points]
        recent, before = scores[-window:], scores[-2 * window : -window]
        half = len(recent) // 2
        older, newer = (recent[:half], recent[half:]) if not before else (before, recent)
        change = None
        if older and newer:
            change = round(_mean(newer) - _mean(older), 1)
        out.append(
            {
                "id": stage_id,
                "name": name,
                "scores": points,
                "recent_mean": _mean(recent),
                "change": change,
            }
        )
    return out


def _criterion_info(rubric: Any) -> dict[str, Any]:
    return {c.id: (s, c) for s in getattr(rubric, "stages", None) or [] for c in s.criteria}


def stored_references(attempts: list[Attempt]) -> dict[str, dict]:
    """The grader's latest link per criterion id, from the loaded criteria."""
    refs: dict[str, dict] = {}
    for attempt in attempts:
        for c in attempt.criteria:
            if c.ref_source:
                refs[c.criterion_id] = {"source": c.ref_source, "section": c.ref_section}
    return refs


def teaching_reference(
    criterion_id: str, attempts: list[Attempt], rubric: Any, stored: dict | None = None
) -> dict:
    """Where the corpus teaches a criterion: the grader's last link for it, else the
    rubric's `teaches` document with its best heading."""
    stored = stored_references(attempts) if stored is None else stored
    if criterion_id in stored:
        return stored[criterion_id]
    info = _criterion_info(rubric).get(criterion_id)
    if info is None:
        return {"source": "", "section": ""}
    criterion = info[1]
    corpus_dir = Path(getattr(rubric, "corpus_dir", "") or "corpus")
    section = best_heading(str(corpus_dir / criterion.teaches), tuple(criterion.phrases))
    return {"source": criterion.teaches, "section": section}


@lru_cache(maxsize=512)
def best_heading(path: str, phrases: tuple[str, ...]) -> str:
    """The section of the document at `path` whose heading and prose hold most of the
    phrases (without importing the grader: progress must stay quick to start)."""
    from progress.cards import read_sections
    from progress.plan import _phrase_hits

    _, _, sections = read_sections(Path(path))
    best, best_score = "", -1.0
    for position, (path, heading, paragraphs) in enumerate(sections):
        if " > " not in path and len(sections) > 1:
            continue  # the document title alone is too broad
        score = (
            3.0 * _phrase_hits(heading, list(phrases))
            + _phrase_hits(" ".join(paragraphs), list(phrases))
            - 0.01 * position
        )
        if score > best_score:
            best, best_score = path, score
    return best


def missed_criteria(
    attempts: list[Attempt], rubric: Any = None, window: int = 20, top: int = TOP_MISSED
) -> list[dict]:
    """The criteria missed most often over the last `window` designs, with a trend."""
    recent = designs(attempts)[-window:]
    history: dict[str, list[bool]] = defaultdict(list)
    meta: dict[str, tuple[str, str]] = {}
    for attempt in recent:
        for c in attempt.criteria:
            if not c.expected or (c.status not in MISSED and c.status != "met"):
                continue
            history[c.criterion_id].append(c.status in MISSED)
            if c.description or c.criterion_id not in meta:
                meta[c.criterion_id] = (c.stage_id, c.description)
    info = _criterion_info(rubric)
    stored = stored_references(recent)
    ranked = sorted(
        (cid for cid, misses in history.items() if any(misses)),
        key=lambda cid: (-sum(history[cid]), -sum(history[cid]) / len(history[cid]), cid),
    )
    out = []
    for cid in ranked[:top]:
        misses = history[cid]
        stage_id, description = meta[cid]
        if cid in info:
            stage_id, description = info[cid][0].id, info[cid][1].description
        half = len(misses) // 2
        trend = "new"
        if half >= 2:
            older = sum(misses[:half]) / half
            newer = sum(misses[half:]) / (len(misses) - half)
            trend = (
                "improving"
                if newer <= older - TREND_DELTA
                else "worsening"
                if newer >= older + TREND_DELTA
                else "steady"
            )
        out.append(
            {
                "id": cid,
                "stage": stage_id,
                "description": description or cid,
                "missed": sum(misses),
                "graded": len(misses),
                "rate": round(sum(misses) / len(misses), 2),
                "trend": trend,
                "teaches": teaching_reference(cid, attempts, rubric, stored),
            }
        )
    return out


def kept_missing(attempts: list[Attempt], window: int = 20, at_least: int = 2) -> list[str]:
    """Criteria missed at least `at_least` times in the last `window` designs."""
    counts: Counter = Counter()
    for attempt in designs(attempts)[-window:]:
        for c in attempt.criteria:
            if c.expected and c.status in MISSED:
                counts[c.criterion_id] += 1
    return sorted(cid for cid, n in counts.items() if n >= at_least)


def time_plan_habits(attempts: list[Attempt], window: int = 20) -> list[dict]:
    """Stages whose share of the design fell short of their time budget in at least half of
    the last `window` designs (and at least twice)."""
    recent = designs(attempts)[-window:]
    per_stage: dict[str, list] = defaultdict(list)
    names: dict[str, str] = {}
    for attempt in recent:
        for s in attempt.stages:
            if s.budget_share > 0:
                per_stage[s.stage_id].append(s)
                names[s.stage_id] = s.name
    out = []
    for stage_id, rows in per_stage.items():
        short = [s for s in rows if s.budget_share - s.share_of_design >= SHORT_BY]
        if len(short) >= 2 and len(short) * 2 >= len(rows):
            out.append(
                {
                    "id": stage_id,
                    "name": names[stage_id],
                    "short_in": len(short),
                    "of": len(rows),
                    "mean_share": round(sum(s.share_of_design for s in rows) / len(rows), 3),
                    "budget_share": round(rows[-1].budget_share, 3),
                }
            )
    return sorted(out, key=lambda d: (d["mean_share"] - d["budget_share"], d["id"]))


def summary(attempts: list[Attempt], rubric: Any = None, window: int = 20) -> dict:
    """Everything the progress views show (the `mlsd progress --json` contract)."""
    graded = designs(attempts)
    return {
        "attempts": len(attempts),
        "designs": len(graded),
        "first": attempts[0].created_at.isoformat() if attempts else None,
        "last": attempts[-1].created_at.isoformat() if attempts else None,
        "window": window,
        "overall": [
            {
                "attempt": a.id,
                "at": a.created_at.isoformat(),
                "overall": a.overall,
                "kind": a.kind,
                "mode": a.mode,
                "problem": a.problem,
                "level": a.level,
            }
            for a in graded
        ],
        "stages": stage_series(attempts, rubric, window),
        "missed_criteria": missed_criteria(attempts, rubric, window),
        "time_plan": time_plan_habits(attempts, window),
    }
