"""The history database: schema, schema version, migrations and engines.

SQLAlchemy 2 Core over any URL (`MLSD_DATABASE_URL`; default a SQLite file in `.mlsd/`).
The `schema_version` table holds one row; `ensure_schema` creates a fresh database at
`SCHEMA_VERSION` or upgrades an older one step by step (`MIGRATIONS[n]` goes n-1 -> n) inside
one transaction. SQLite runs in WAL mode with a busy timeout, and every transaction starts with
`BEGIN IMMEDIATE`, so writers from several processes queue instead of failing or losing rows.
Any database failure becomes a `HistoryError` with a one-line message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    make_url,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from core.errors import MlsdError
from progress import records

log = logging.getLogger(__name__)

SCHEMA_VERSION = records.SCHEMA_VERSION  # defined there: the quick reader checks it too

metadata = MetaData()

schema_version = Table("schema_version", metadata, Column("version", Integer, nullable=False))

attempts = Table(
    "attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user", String(200), nullable=False, server_default="local"),  # v2
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("kind", String(20), nullable=False),  # critique | interview
    Column("mode", String(20), nullable=False),  # cli | app | chat
    Column("problem", String(200), nullable=False),  # solution id, or "own design"
    Column("level", String(20), nullable=False),
    Column("overall", Integer, nullable=False),
    Column("is_design", Boolean, nullable=False),
    Column("words", Integer, nullable=False),
    Column("rubric_version", Integer, nullable=False),
    Column("summary", Text, nullable=False),
    Index("ix_attempts_user_created", "user", "created_at"),
)

attempt_stages = Table(
    "attempt_stages",
    metadata,
    Column("attempt_id", ForeignKey("attempts.id", ondelete="CASCADE"), primary_key=True),
    Column("stage_id", String(60), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("score", Integer, nullable=False),
    Column("share_of_design", Float, nullable=False),
    Column("budget_share", Float, nullable=False),
    Column("words", Integer, nullable=False),
)

attempt_criteria = Table(
    "attempt_criteria",
    metadata,
    Column("attempt_id", ForeignKey("attempts.id", ondelete="CASCADE"), primary_key=True),
    Column("criterion_id", String(80), primary_key=True),
    Column("stage_id", String(60), nullable=False),
    Column("status", String(20), nullable=False),  # met | partial | missing | n/a | ...
    Column("expected", Boolean, nullable=False),
    Column("description", Text, nullable=False),
    Column("ref_source", String(300), nullable=False),
    Column("ref_section", String(500), nullable=False),
)

attempt_red_flags = Table(
    "attempt_red_flags",
    metadata,
    Column("attempt_id", ForeignKey("attempts.id", ondelete="CASCADE"), primary_key=True),
    Column("flag_id", String(80), primary_key=True),
    Column("stage_id", String(60), nullable=False),
    Column("description", Text, nullable=False),
)

review_cards = Table(  # v2
    "review_cards",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user", String(200), nullable=False),
    Column("card_key", String(300), nullable=False),  # golden:g001, concept:..., criterion:...
    Column("origin", String(20), nullable=False),
    Column("question", Text, nullable=False),
    Column("reference", Text, nullable=False),
    Column("source", String(300), nullable=False),
    Column("section", String(500), nullable=False),
    Column("state_json", Text, nullable=False),  # fsrs.Card.to_json()
    Column("due", DateTime(timezone=True), nullable=False),
    Column("reps", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("user", "card_key", name="uq_review_cards_user_key"),
    Index("ix_review_cards_user_due", "user", "due"),
)

review_logs = Table(  # v2
    "review_logs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("card_id", ForeignKey("review_cards.id", ondelete="CASCADE"), nullable=False),
    Column("user", String(200), nullable=False),
    Column("rating", Integer, nullable=False),  # 1 Again, 2 Hard, 3 Good, 4 Easy
    Column("similarity", Float, nullable=True),
    Column("answer", Text, nullable=False),
    Column("reviewed_at", DateTime(timezone=True), nullable=False),
)

V2_TABLES = (review_cards, review_logs)


class HistoryError(MlsdError):
    """The history database cannot be read or written (corrupt, locked, unreachable)."""


def safe_url(url: str) -> str:
    """The URL with any password hidden (it goes into messages and logs)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as given, minus anything after '@'
        return url.split("@")[-1]


def one_line(exc: BaseException) -> str:
    """The driver's own reason (`database is locked`), not SQLAlchemy's statement dump."""
    reason = getattr(exc, "orig", None) or exc
    first = (str(reason).strip().splitlines() or [type(reason).__name__])[0]
    return first[:200]


def v1_metadata() -> MetaData:
    """Schema version 1 (before learners and review): attempts had no `user` column."""
    old = MetaData()
    columns = [c.copy() for c in attempts.columns if c.name != "user"]
    Table("schema_version", old, Column("version", Integer, nullable=False))
    Table("attempts", old, *columns)
    for table in (attempt_stages, attempt_criteria, attempt_red_flags):
        table.to_metadata(old)
    return old


def _migrate_1_to_2(conn: Connection) -> None:
    quote = conn.dialect.identifier_preparer.quote
    column = f"{quote('user')} VARCHAR(200) NOT NULL DEFAULT 'local'"
    conn.execute(text(f"ALTER TABLE attempts ADD COLUMN {column}"))
    for index in attempts.indexes:  # the table's own Index objects (a new one would attach)
        index.create(conn, checkfirst=True)
    for table in V2_TABLES:
        table.create(conn, checkfirst=True)


MIGRATIONS: dict[int, Callable[[Connection], None]] = {2: _migrate_1_to_2}


def _sqlite_pragmas(busy_timeout_s: float) -> Callable:
    def on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN itself
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    return on_connect


def _build_engine(url: str, busy_timeout_s: float) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": busy_timeout_s})
    event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_s))
    # BEGIN IMMEDIATE takes the write lock up front: two writers queue on the busy timeout
    # instead of one failing when it upgrades a read lock (which no timeout can resolve).
    event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    return engine


_engines: dict[tuple[str, float], Engine] = {}
_ready: set[tuple[str, float]] = set()
_lock = threading.Lock()


def current_version(conn: Connection) -> int | None:
    """The stored schema version; None for an empty database."""
    names = set(inspect(conn).get_table_names())
    if "schema_version" not in names:
        return 1 if "attempts" in names else None
    return conn.execute(select(schema_version.c.version)).scalar_one_or_none()


def ensure_schema(conn: Connection) -> int:
    """Create or upgrade the schema to SCHEMA_VERSION; returns the version found."""
    found = current_version(conn)
    if found is None:
        metadata.create_all(conn)
        conn.execute(schema_version.insert().values(version=SCHEMA_VERSION))
        return 0
    if found > SCHEMA_VERSION:
        raise HistoryError(
            f"history schema v{found} is newer than this mlsd-coach (v{SCHEMA_VERSION}): upgrade"
        )
    for version in range(found + 1, SCHEMA_VERSION + 1):
        log.info("migrating the history database to schema v%d", version)
        MIGRATIONS[version](conn)
    if found < SCHEMA_VERSION:
        conn.execute(schema_version.update().values(version=SCHEMA_VERSION))
    return found


def get_engine(url: str, busy_timeout_s: float = 5.0) -> Engine:
    """One engine per URL and process, its schema checked (and migrated) once."""
    key = (url, busy_timeout_s)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = _build_engine(url, busy_timeout_s)
    if key not in _ready:
        with engine.begin() as conn:
            ensure_schema(conn)
        _ready.add(key)
    return engine


def forget_engines() -> None:
    """Dispose every cached engine (tests, reset of a deleted file)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _ready.clear()


@contextmanager
def transaction(url: str, busy_timeout_s: float = 5.0) -> Iterator[Connection]:
    """A connection in one transaction; any database failure -> HistoryError (one line)."""
    try:
        engine = get_engine(url, busy_timeout_s)
        with engine.begin() as conn:
            yield conn
    except HistoryError:
        raise
    except (SQLAlchemyError, OSError) as exc:
        raise HistoryError(f"history database {safe_url(url)}: {one_line(exc)}") from exc
