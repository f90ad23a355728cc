"""The read-only summary path over a SQLite history with the standard library's sqlite3.

`mlsd progress` only reads, and importing SQLAlchemy costs about a third of a second, most of
what the command may spend (issue #18: <= 1 s warm with 500 attempts). When the database URL
is a plain SQLite file that exists at the current schema version, `read_inputs` runs the same
queries as `history.load_attempts` and `review.queue_status` (same SQL, so SQLite picks the
same plans and returns rows in the same order; times bound and parsed as SQLAlchemy's SQLite
DateTime does) and returns the same records. In every other case (another backend, a URL with
options, a missing file, an older or newer schema, any sqlite3 error) it returns None and the
caller takes the SQLAlchemy path, which creates, migrates or reports the database as usual.
Writes, migrations and other databases (PostgreSQL) always go through SQLAlchemy.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from progress.records import (
    SCHEMA_VERSION,
    Attempt,
    CriterionStatus,
    StageScore,
    aware,
)

log = logging.getLogger(__name__)

# sqlite:///relative.db, sqlite:////absolute.db; no query options, no %-escapes, no host
_URL = re.compile(r"sqlite(?:\+pysqlite)?:///(?P<path>[^?%#]+)")

_ATTEMPTS = (
    'SELECT attempts.id, attempts."user", attempts.created_at, attempts.kind, attempts.mode, '
    "attempts.problem, attempts.level, attempts.overall, attempts.is_design, attempts.words "
    'FROM attempts WHERE attempts."user" = ?'
)
# The child tables are read with the columns and filters history.load_attempts uses: rows
# come back in the order of the plan SQLite picks for that query (there is no ORDER BY).
_STAGES = (
    "SELECT attempt_stages.attempt_id, attempt_stages.stage_id, attempt_stages.name, "
    "attempt_stages.score, attempt_stages.share_of_design, attempt_stages.budget_share, "
    "attempt_stages.words FROM attempt_stages WHERE attempt_stages.attempt_id >= ?"
)
_CRITERIA = (
    "SELECT attempt_criteria.attempt_id, attempt_criteria.criterion_id, "
    "attempt_criteria.stage_id, attempt_criteria.status, attempt_criteria.expected, "
    "attempt_criteria.description, attempt_criteria.ref_source, attempt_criteria.ref_section "
    "FROM attempt_criteria WHERE "
)
_FLAGS = (
    "SELECT attempt_red_flags.attempt_id, attempt_red_flags.flag_id, "
    "attempt_red_flags.stage_id, attempt_red_flags.description "
    "FROM attempt_red_flags WHERE attempt_red_flags.attempt_id >= ?"
)
_MINE = 'FROM review_cards WHERE review_cards."user" = ?'


def sqlite_file(url: str) -> Path | None:
    """The file a plain `sqlite:///...` URL names; None for anything else (other backends,
    in-memory databases, URLs with options or escapes: SQLAlchemy reads those)."""
    match = _URL.fullmatch(url)
    if match is None:
        return None
    path = match.group("path")
    if path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path)  # as SQLAlchemy opens it: relative to the working directory, no ~


def bind_time(moment: datetime) -> str:
    """A datetime as SQLAlchemy's SQLite DateTime stores and compares it (zone dropped)."""
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}"
    )


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)  # SQLAlchemy's parser


def connect(path: Path, timeout_s: float) -> sqlite3.Connection | None:
    """A read-only connection to an existing history at the current schema, else None."""
    if not path.is_file():
        return None  # SQLAlchemy creates it
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=timeout_s, isolation_level=None)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"schema_version", "attempts", "review_cards"} <= tables:
            conn.close()
            return None  # empty or version 1: the full path creates or migrates it
        versions = conn.execute("SELECT schema_version.version FROM schema_version").fetchall()
        if versions != [(SCHEMA_VERSION,)]:
            conn.close()
            return None  # older (migrate), newer (refuse with one line) or damaged
    except BaseException:
        conn.close()
        raise
    return conn


def load_attempts(
    conn: sqlite3.Connection,
    who: str,
    since: datetime | None = None,
    criteria_window: int | None = None,
) -> list[Attempt]:
    """`history.load_attempts` on a sqlite3 connection (one read transaction)."""
    query, params = _ATTEMPTS, [who]
    if since is not None:
        query += " AND attempts.created_at >= ?"
        params.append(bind_time(since))
    query += " ORDER BY attempts.created_at, attempts.id"
    heads = conn.execute(query, params).fetchall()
    by_id = {
        h[0]: Attempt(
            id=h[0],
            user=h[1],
            created_at=aware(_time(h[2])),
            kind=h[3],
            mode=h[4],
            problem=h[5],
            level=h[6],
            overall=h[7],
            is_design=bool(h[8]),
            words=h[9],
        )  # fmt: skip
        for h in heads
    }
    if not by_id:
        return []
    first = min(by_id)
    recent = [h[0] for h in heads if h[8]][-criteria_window:] if criteria_window else []
    for row in conn.execute(_STAGES, (first,)):
        if row[0] in by_id:
            by_id[row[0]].stages.append(StageScore(*row[1:]))
    if criteria_window:
        where, args = _in_list(recent)
    else:
        where, args = "attempt_criteria.attempt_id >= ?", [first]
    for row in conn.execute(_CRITERIA + where, args) if args else ():
        if row[0] in by_id:
            cid, stage_id, status, expected, description, source, section = row[1:]
            by_id[row[0]].criteria.append(
                CriterionStatus(cid, stage_id, status, bool(expected), description, source, section)
            )
    for row in conn.execute(_FLAGS, (first,)):
        if row[0] in by_id:
            by_id[row[0]].red_flags.append(row[1])
    return list(by_id.values())


def _in_list(ids: list[int]) -> tuple[str, list[int]]:
    """SQLAlchemy expands `in_(ids)` to one placeholder per id; an empty list matches none."""
    return f"attempt_criteria.attempt_id IN ({', '.join('?' * len(ids))})", list(ids)


def queue_status(conn: sqlite3.Connection, who: str, now: datetime | None = None) -> dict:
    """`review.queue_status` on a sqlite3 connection."""
    now = now or datetime.now(UTC)
    at = bind_time(now)
    total = conn.execute(f"SELECT count(*) AS count_1 {_MINE}", (who,)).fetchone()[0]
    due = conn.execute(
        f"SELECT count(*) AS count_1 {_MINE} AND review_cards.due <= ?", (who, at)
    ).fetchone()[0]
    upcoming = conn.execute(
        f"SELECT min(review_cards.due) AS min_1 {_MINE} AND review_cards.due > ?", (who, at)
    ).fetchone()[0]
    when = aware(_time(upcoming)).isoformat() if upcoming is not None else None
    return {"due": due, "total": total, "next_due": when}


def read_inputs(
    settings: Any, who: str, since: datetime | None, window: int
) -> tuple[list[Attempt], dict] | None:
    """(attempts, review queue status) from a SQLite history, or None when the SQLAlchemy
    path must read it (see the module docstring)."""
    path = sqlite_file(settings.database_url)
    if path is None:
        return None
    conn = None
    try:
        conn = connect(path, settings.database_busy_timeout_s)
        if conn is None:
            return None
        conn.execute("BEGIN")  # one snapshot for every read (the full path's transaction)
        attempts = load_attempts(conn, who, since, window)
        queue = queue_status(conn, who)
        conn.execute("COMMIT")
    except (sqlite3.Error, ValueError) as exc:  # the full path reports it with one line
        log.info("quick history read unavailable (%s); reading through SQLAlchemy", exc)
        return None
    finally:
        if conn is not None:
            conn.close()
    return attempts, queue
