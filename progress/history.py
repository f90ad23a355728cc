"""Saving and reading the learner's attempts (critiques and finished mock interviews).

`save_attempt_safely` is what grading code calls: it honours `save_history` (and the app's
per-tab toggle), names the learner, and turns any database failure into one logged line, so
a corrupt or locked database never blocks a critique. Reports are read generically (statuses
other than met/partial/missing, e.g. `n/a`, are stored as they come).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select

from core.settings import Settings
from progress import db
from progress.records import (  # noqa: F401 - re-exported: callers import them from here
    OWN_DESIGN,
    Attempt,
    CriterionStatus,
    StageScore,
    current_mode,
    current_user,
    parse_since,
    saving_enabled,
    should_save,
    user_of,
)
from progress.records import aware as _aware

log = logging.getLogger(__name__)


def _report_dict(report: Any) -> dict:
    if hasattr(report, "model_dump"):
        return report.model_dump()
    return dict(report or {})


def _rows(report: dict) -> tuple[list[dict], list[dict], list[dict]]:
    stages, criteria, flags = [], [], {}
    for s in report.get("stages") or []:
        stage_id = str(s.get("id", ""))
        stages.append(
            {
                "stage_id": stage_id,
                "name": str(s.get("name") or stage_id),
                "score": int(s.get("score") or 0),
                "share_of_design": float(s.get("share_of_design") or 0.0),
                "budget_share": float(s.get("budget_share") or 0.0),
                "words": int(s.get("words") or 0),
            }
        )
        for c in s.get("criteria") or []:
            ref = c.get("reference") or {}
            criteria.append(
                {
                    "criterion_id": str(c.get("id", "")),
                    "stage_id": stage_id,
                    "status": str(c.get("status", "")),
                    "expected": bool(c.get("expected", True)),
                    "description": str(c.get("description") or ""),
                    "ref_source": str(ref.get("source") or ""),
                    "ref_section": str(ref.get("section") or ""),
                }
            )
        for f in s.get("red_flag_details") or []:
            flags[str(f.get("id"))] = (stage_id, str(f.get("description") or ""))
        for flag_id in s.get("red_flags") or []:
            flags.setdefault(str(flag_id), (stage_id, ""))
    flag_rows = [{"flag_id": k, "stage_id": v[0], "description": v[1]} for k, v in flags.items()]
    return stages, criteria, flag_rows


def save_attempt(
    settings: Settings,
    report: Any,
    *,
    kind: str = "critique",
    mode: str | None = None,
    problem: str | None = None,
    at: datetime | None = None,
) -> int:
    """Store one graded attempt (a CritiqueReport or its dict); returns its id."""
    data = _report_dict(report)
    stages, criteria, flags = _rows(data)
    row = {
        "user": user_of(settings),
        "created_at": at or datetime.now(UTC),
        "kind": kind,
        "mode": mode or current_mode.get() or "cli",
        "problem": (problem or OWN_DESIGN)[:200],
        "level": str(data.get("level") or ""),
        "overall": int(data.get("overall") or 0),
        "is_design": bool(data.get("is_design", True)),
        "words": int(data.get("words") or 0),
        "rubric_version": int(data.get("rubric_version") or 1),
        "summary": str(data.get("summary") or "")[:4000],
    }
    with db.transaction(settings.database_url, settings.database_busy_timeout_s) as conn:
        attempt_id = conn.execute(insert(db.attempts).values(**row)).inserted_primary_key[0]
        for table, rows in (
            (db.attempt_stages, stages),
            (db.attempt_criteria, criteria),
            (db.attempt_red_flags, flags),
        ):
            if rows:
                conn.execute(insert(table), [{"attempt_id": attempt_id, **r} for r in rows])
    return int(attempt_id)


def save_attempt_safely(settings: Settings, report: Any, **kwargs: Any) -> int | None:
    """`save_attempt` unless saving is off; a failure is one warning line, never an error."""
    if report is None or not should_save(settings):
        return None
    try:
        return save_attempt(settings, report, **kwargs)
    except Exception as exc:  # corrupt, locked, unreachable, bad report: grading goes on
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        log.warning("history not saved (%s); set MLSD_SAVE_HISTORY=false to stop saving", reason)
        return None


def load_attempts(
    settings: Settings,
    since: datetime | None = None,
    user: str | None = None,
    criteria_window: int | None = None,
) -> list[Attempt]:
    """The learner's attempts, oldest first, with their stages, criteria and red flags.

    `criteria_window`: load criteria only for the last N graded designs (what the statistics
    read), so a long history stays quick to summarise."""
    who = user or user_of(settings)
    query = select(db.attempts).where(db.attempts.c.user == who)
    if since is not None:
        query = query.where(db.attempts.c.created_at >= since)
    with db.transaction(settings.database_url, settings.database_busy_timeout_s) as conn:
        heads = conn.execute(query.order_by(db.attempts.c.created_at, db.attempts.c.id)).all()
        by_id = {
            h.id: Attempt(
                id=h.id,
                user=h.user,
                created_at=_aware(h.created_at),
                kind=h.kind,
                mode=h.mode,
                problem=h.problem,
                level=h.level,
                overall=h.overall,
                is_design=h.is_design,
                words=h.words,
            )
            for h in heads
        }
        if not by_id:
            return []
        first = min(by_id)
        recent = [h.id for h in heads if h.is_design][-criteria_window:] if criteria_window else []
        for table, build in (
            (db.attempt_stages, lambda r: by_id[r.attempt_id].stages.append(_stage(r))),
            (db.attempt_criteria, lambda r: by_id[r.attempt_id].criteria.append(_crit(r))),
            (db.attempt_red_flags, lambda r: by_id[r.attempt_id].red_flags.append(r.flag_id)),
        ):
            # one query per table; ids of other users in the range are skipped below
            where = table.c.attempt_id >= first
            if table is db.attempt_criteria and criteria_window:
                where = table.c.attempt_id.in_(recent)
            for r in conn.execute(select(table).where(where)):
                if r.attempt_id in by_id:
                    build(r)
    return list(by_id.values())


def _stage(r: Any) -> StageScore:
    return StageScore(r.stage_id, r.name, r.score, r.share_of_design, r.budget_share, r.words)


def _crit(r: Any) -> CriterionStatus:
    return CriterionStatus(
        r.criterion_id, r.stage_id, r.status, r.expected, r.description, r.ref_source, r.ref_section
    )


def count_attempts(settings: Settings, user: str | None = None) -> int:
    who = user or user_of(settings)
    query = select(func.count()).select_from(db.attempts).where(db.attempts.c.user == who)
    with db.transaction(settings.database_url, settings.database_busy_timeout_s) as conn:
        return int(conn.execute(query).scalar_one())


def reset_history(settings: Settings, user: str | None = None) -> dict[str, int]:
    """Delete the learner's attempts and review queue; returns what was deleted."""
    who = user or user_of(settings)
    with db.transaction(settings.database_url, settings.database_busy_timeout_s) as conn:
        ids = select(db.attempts.c.id).where(db.attempts.c.user == who)
        cards = select(db.review_cards.c.id).where(db.review_cards.c.user == who)
        for table in (db.attempt_stages, db.attempt_criteria, db.attempt_red_flags):
            conn.execute(delete(table).where(table.c.attempt_id.in_(ids)))
        conn.execute(delete(db.review_logs).where(db.review_logs.c.card_id.in_(cards)))
        n_cards = conn.execute(delete(db.review_cards).where(db.review_cards.c.user == who))
        n_attempts = conn.execute(delete(db.attempts).where(db.attempts.c.user == who))
    return {"attempts": n_attempts.rowcount, "review_cards": n_cards.rowcount}
