"""The study plan: what to practise next and what to read first.

The weakest stages are those with the lowest recent mean score (a stage the learner barely
wrote about lately counts as weaker still). Every worked solution covers every stage, so the
problem is chosen by how much its sections for those stages exercise the criteria the learner
keeps missing (their concept phrases occur there), among problems not attempted recently.
The sections to read first are where the corpus teaches the most-missed criteria of the weak
stages.
"""

from __future__ import annotations

import re
from typing import Any

from progress import stats
from progress.records import Attempt

RECENT_PROBLEMS = 5  # problems of the last attempts are not proposed again
RECENT_STAGE_ATTEMPTS = 3  # a stage with no words in these attempts counts as unpractised
UNPRACTISED_PENALTY = 10.0
WEAK_STAGES = 2
READ_FIRST = 3


def _phrase_hits(text: str, phrases: list[str]) -> int:
    """How many phrases occur on word boundaries (a trailing s/es allowed)."""
    low = f" {' '.join(re.findall(r'[a-z0-9]+', text.lower()))} "
    hits = 0
    for phrase in phrases:
        words = " ".join(re.findall(r"[a-z0-9]+", phrase))
        hits += any(f" {words}{end} " in low for end in ("", "s", "es"))
    return hits


def weakest_stages(
    attempts: list[Attempt], rubric: Any, window: int = 20, series: list[dict] | None = None
) -> list[dict]:
    """Stages ranked weakest first: [{id, name, score, practised}] (score None: no data)."""
    series = stats.stage_series(attempts, rubric, window) if series is None else series
    recent = stats.designs(attempts)[-RECENT_STAGE_ATTEMPTS:]
    out = []
    for stage in series:
        practised = any(s.stage_id == stage["id"] and s.words > 0 for a in recent for s in a.stages)
        score = stage["recent_mean"]
        penalty = 0.0 if practised else UNPRACTISED_PENALTY
        priority = (score if score is not None else 50.0) - penalty
        out.append(
            {
                "id": stage["id"],
                "name": stage["name"],
                "score": score,
                "practised": practised,
                "_p": priority,
            }
        )
    out.sort(key=lambda s: (s["_p"], s["id"]))
    for stage in out:
        del stage["_p"]
    return out


def study_plan(
    attempts: list[Attempt],
    rubric: Any,
    solutions: list,
    window: int = 20,
    series: list[dict] | None = None,
) -> dict | None:
    """{problem, title, question, weak_stages, read_first, why}; None without solutions.
    `series`: `stats.stage_series` when the caller has it already."""
    if not solutions:
        return None
    weak = weakest_stages(attempts, rubric, window, series)[:WEAK_STAGES] if attempts else []
    weak_ids = [s["id"] for s in weak]
    missed = stats.missed_criteria(attempts, rubric, window, top=20)
    missed_weak = [m for m in missed if m["stage"] in weak_ids] or missed
    criteria = {c.id: c for s in getattr(rubric, "stages", None) or [] for c in s.criteria}
    phrases = [p for m in missed_weak if m["id"] in criteria for p in criteria[m["id"]].phrases]
    recent = [a.problem for a in attempts[-RECENT_PROBLEMS:]]

    def score(sol) -> tuple:
        text = " ".join(s.text for s in sol.sections if not weak_ids or s.stage in weak_ids)
        return (sol.id in recent, -_phrase_hits(text, phrases), recent.count(sol.id), sol.id)

    best = min(solutions, key=score)
    read_first: list[dict] = []
    for distinct in (True, False):  # one section per document first, then any
        for m in missed_weak:
            ref = m["teaches"]
            taken = [r["ref"] for r in read_first]
            if distinct and ref.get("source") in {t["source"] for t in taken}:
                continue
            if ref.get("source") and ref not in taken and len(read_first) < READ_FIRST:
                read_first.append({"ref": ref, "criterion": m["id"], "why": m["description"]})
    stages_by_id = {s.id: s for s in getattr(rubric, "stages", None) or []}
    for stage_id in weak_ids or [s.id for s in stages_by_id.values()][:1]:
        for c in stages_by_id[stage_id].criteria if stage_id in stages_by_id else []:
            if len(read_first) >= 2:
                break
            ref = stats.teaching_reference(c.id, attempts, rubric)
            if ref.get("source") and ref not in [r["ref"] for r in read_first]:
                read_first.append({"ref": ref, "criterion": c.id, "why": c.description})
    if weak:
        names = " and ".join(s["name"] for s in weak)
        why = f"Your weakest stages lately are {names}; this problem exercises them"
        why += " and you have not practised it recently." if best.id not in recent else "."
    else:
        why = "No graded attempts yet: start with a full mock interview."
    return {
        "problem": best.id,
        "title": best.title,
        "question": best.question,
        "weak_stages": weak,
        "read_first": [
            {**r["ref"], "criterion": r["criterion"], "why": r["why"]}
            for r in read_first[:READ_FIRST]
        ],
        "why": why,
    }
