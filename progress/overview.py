"""One call for what the progress views show: statistics, study plan and review queue."""

from __future__ import annotations

import logging
from datetime import datetime

from core.settings import Settings
from progress import history, plan, review, stats

log = logging.getLogger(__name__)


def load_rubric(settings: Settings):
    """The rubric (stage names, criteria, teaching documents), or None when unreadable."""
    try:
        from tools.rubric import load_rubric as load

        return load(settings.rubric_path)
    except Exception as exc:  # progress still shows the stored numbers without names
        log.warning("rubric unavailable for progress: %s", str(exc).splitlines()[0])
        return None


def load_solutions(settings: Settings) -> list:
    from tools.solutions import load_solutions as load

    return load(settings.corpus_dir)


def build(settings: Settings, since: datetime | None = None) -> dict:
    """`stats.summary` plus "user", "since", "plan" and "review"; HistoryError on a bad DB."""
    attempts = history.load_attempts(settings, since=since)
    rubric = load_rubric(settings)
    window = settings.history_window
    out = stats.summary(attempts, rubric, window)
    out["user"] = history.user_of(settings)
    out["since"] = since.isoformat() if since else None
    out["plan"] = plan.study_plan(attempts, rubric, load_solutions(settings), window)
    out["review"] = review.queue_status(settings)
    return out


def stage_table(summary: dict, last: int = 10) -> list[list[str]]:
    """Rows for a compact table: date, kind, problem, overall, then one column per stage."""
    ids = [s["id"] for s in summary["stages"]]
    by_attempt: dict[int, dict[str, int]] = {}
    for stage in summary["stages"]:
        for p in stage["scores"]:
            by_attempt.setdefault(p["attempt"], {})[stage["id"]] = p["score"]
    rows = []
    for point in summary["overall"][-last:]:
        scores = by_attempt.get(point["attempt"], {})
        rows.append(
            [point["at"][:16].replace("T", " "), point["kind"], point["problem"][:24],
             str(point["overall"]), *(str(scores.get(i, "-")) for i in ids)]
        )  # fmt: skip
    return rows


def short_name(name: str) -> str:
    """'Problem framing' -> 'PF', 'Trade-offs and deep dives' -> 'TD', 'Modeling' -> 'Mod'."""
    words = [w for w in name.replace("-", "").split() if w.lower() not in ("and", "of", "the")]
    if len(words) == 1:
        return words[0][:3]
    return "".join(w[0].upper() for w in words[:2]) or name[:3]
