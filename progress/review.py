"""The spaced review queue, scheduled with FSRS (`fsrs` package, v6: Scheduler, Card, Rating).

`refresh_queue` adds the rubric follow-up card of every criterion the learner keeps missing
and introduces up to `review_new_per_day` new cards a day from the material (weak stages
first). The learner answers in free text; `similarity` compares the answer with the reference
by meaning with the shipped embedding model, and the learner's own rating (Again, Hard, Good,
Easy) decides the next due date. Cards and review logs live in the history database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update

from core.settings import Settings
from progress import cards, db, stats
from progress.history import Attempt, user_of

RATINGS = {"again": 1, "hard": 2, "good": 3, "easy": 4}
CLOSE, PARTLY = 0.7, 0.5  # cosine of answer and reference (MiniLM): close / partly there


@dataclass
class ReviewCard:
    id: int
    key: str
    origin: str
    question: str
    reference: str
    source: str
    section: str
    due: datetime
    reps: int


def _scheduler():
    from fsrs import Scheduler

    return Scheduler(enable_fuzzing=False)  # the same answer gives the same date (testable)


def _tx(settings: Settings):
    return db.transaction(settings.database_url, settings.database_busy_timeout_s)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _card(row: Any) -> ReviewCard:
    return ReviewCard(
        row.id, row.card_key, row.origin, row.question, row.reference, row.source, row.section,
        _aware(row.due), row.reps,
    )  # fmt: skip


def _add(conn, user: str, spec: cards.CardSpec, now: datetime) -> bool:
    from fsrs import Card

    exists = select(db.review_cards.c.id).where(
        db.review_cards.c.user == user, db.review_cards.c.card_key == spec.key
    )
    if conn.execute(exists).first() is not None:
        return False
    conn.execute(
        insert(db.review_cards).values(
            user=user,
            card_key=spec.key[:300],
            origin=spec.origin,
            question=spec.question,
            reference=spec.reference,
            source=spec.source[:300],
            section=spec.section[:500],
            state_json=Card(card_id=0, due=now).to_json(),
            due=now,
            reps=0,
            created_at=now,
        )
    )
    return True


def refresh_queue(
    settings: Settings, attempts: list[Attempt], rubric: Any, now: datetime | None = None
) -> int:
    """Add kept-missing criteria and today's new cards; returns how many cards were added."""
    now = now or datetime.now(UTC)
    user = user_of(settings)
    corpus_dir = settings.corpus_dir
    info = {c.id: (s.id, c) for s in getattr(rubric, "stages", None) or [] for c in s.criteria}
    missing = []
    for cid in stats.kept_missing(attempts, settings.history_window):
        if cid in info:
            ref = stats.teaching_reference(cid, attempts, rubric)
            missing.append(cards.criterion_card(info[cid][1], info[cid][0], ref, corpus_dir))
    weak = [s["id"] for s in _weak(attempts, rubric, settings.history_window)]
    added = 0
    with _tx(settings) as conn:
        for spec in missing:
            added += _add(conn, user, spec, now)
        start = datetime(now.year, now.month, now.day, tzinfo=UTC)
        new_today = conn.execute(
            select(func.count())
            .select_from(db.review_cards)
            .where(
                db.review_cards.c.user == user,
                db.review_cards.c.created_at >= start,
                db.review_cards.c.origin != "criterion",
            )
        ).scalar_one()
        room = max(0, settings.review_new_per_day - new_today)
        if room:
            known = set(
                conn.execute(
                    select(db.review_cards.c.card_key).where(db.review_cards.c.user == user)
                ).scalars()
            )
            for spec in cards.pool(settings.golden_path, corpus_dir, weak):
                if room == 0:
                    break
                if spec.key not in known and _add(conn, user, spec, now):
                    room -= 1
                    added += 1
    return added


def _weak(attempts: list[Attempt], rubric: Any, window: int) -> list[dict]:
    from progress.plan import weakest_stages

    return weakest_stages(attempts, rubric, window)[:2] if attempts else []


def due_cards(settings: Settings, now: datetime | None = None, limit: int = 20) -> list[ReviewCard]:
    """Cards due now, the most overdue first (criterion cards before others on a tie)."""
    now = now or datetime.now(UTC)
    table = db.review_cards
    query = (
        select(table)
        .where(table.c.user == user_of(settings), table.c.due <= now)
        .order_by(table.c.due, (table.c.origin != "criterion"), table.c.id)
        .limit(limit)
    )
    with _tx(settings) as conn:
        return [_card(r) for r in conn.execute(query)]


def queue_status(settings: Settings, now: datetime | None = None) -> dict:
    """{"due": cards due now, "total": cards in the queue, "next_due": iso or None}."""
    now = now or datetime.now(UTC)
    table = db.review_cards
    mine = table.c.user == user_of(settings)
    with _tx(settings) as conn:
        total = conn.execute(select(func.count()).select_from(table).where(mine)).scalar_one()
        due = conn.execute(
            select(func.count()).select_from(table).where(mine, table.c.due <= now)
        ).scalar_one()
        upcoming = conn.execute(select(func.min(table.c.due)).where(mine, table.c.due > now))
        next_due = upcoming.scalar_one_or_none()
    when = _aware(next_due).isoformat() if next_due else None
    return {"due": due, "total": total, "next_due": when}


def similarity(embedder: Any, answer: str, reference: str) -> float:
    """Cosine of the answer and the reference (unit vectors from the shipped model)."""
    if not answer.strip():
        return 0.0
    vectors = embedder.encode([answer, reference])
    return round(float(vectors[0] @ vectors[1]), 3)


def verdict(score: float) -> str:
    if score >= CLOSE:
        return "close to the reference in meaning"
    if score >= PARTLY:
        return "partly there: compare with the reference"
    return "far from the reference"


def suggested_rating(score: float) -> str:
    return "good" if score >= CLOSE else "hard" if score >= PARTLY else "again"


def record_review(
    settings: Settings,
    card_id: int,
    rating: str | int,
    answer: str = "",
    score: float | None = None,
    now: datetime | None = None,
) -> ReviewCard:
    """Schedule the card from the learner's rating; returns it with its next due date."""
    from fsrs import Card, Rating

    value = RATINGS[rating.lower()] if isinstance(rating, str) else int(rating)
    now = now or datetime.now(UTC)
    table = db.review_cards
    with _tx(settings) as conn:
        row = conn.execute(
            select(table).where(table.c.id == card_id, table.c.user == user_of(settings))
        ).first()
        if row is None:
            raise db.HistoryError(f"review card {card_id} is not in your queue")
        card, _ = _scheduler().review_card(Card.from_json(row.state_json), Rating(value), now)
        conn.execute(
            update(table)
            .where(table.c.id == card_id)
            .values(state_json=card.to_json(), due=card.due, reps=row.reps + 1)
        )
        conn.execute(
            insert(db.review_logs).values(
                card_id=card_id, user=row.user, rating=value, similarity=score,
                answer=answer[:4000], reviewed_at=now,
            )
        )  # fmt: skip
        fresh = conn.execute(select(table).where(table.c.id == card_id)).one()
    return _card(fresh)


def interval_text(card: ReviewCard, now: datetime | None = None) -> str:
    """'in 10 min', 'in 3 days'."""
    delta = card.due - (now or datetime.now(UTC))
    if delta < timedelta(hours=1):
        return f"in {max(1, round(delta.total_seconds() / 60))} min"
    if delta < timedelta(days=1):
        return f"in {round(delta.total_seconds() / 3600)} h"
    return f"in {delta.days} day{'s' if delta.days != 1 else ''}"
