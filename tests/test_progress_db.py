"""The history database on a real SQLite file: schema, migration, failures, two writers."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, insert, inspect, select

from core.settings import Settings
from progress import db, history


def report(overall: int = 60, stages: dict | None = None, missing: tuple = ()) -> dict:
    """A grader-shaped report: {stage_id: score}, criteria ids in `missing` are missing."""
    stages = stages or {"problem_framing": 70, "modeling": 40}
    out = []
    for stage_id, score in stages.items():
        crits = [
            {
                "id": f"{stage_id}_c{i}",
                "status": "missing" if f"{stage_id}_c{i}" in missing else "met",
                "expected": True,
                "description": f"criterion {i} of {stage_id}",
            }
            for i in range(3)
        ]
        out.append(
            {
                "id": stage_id,
                "name": stage_id.replace("_", " ").title(),
                "score": score,
                "share_of_design": 0.5,
                "budget_share": 0.5,
                "words": 100,
                "criteria": crits,
                "red_flags": [],
            }
        )
    return {"overall": overall, "is_design": True, "level": "senior", "stages": out, "words": 200}


@pytest.fixture
def db_settings(tmp_path):
    db.forget_engines()
    yield Settings(database_url=f"sqlite:///{tmp_path / 'h.db'}", database_busy_timeout_s=0.3)
    db.forget_engines()


def test_empty_database_is_created_at_the_current_version(db_settings):
    attempt_id = history.save_attempt(db_settings, report(), problem="fraud-detection")
    engine = create_engine(db_settings.database_url)
    with engine.connect() as conn:
        assert conn.execute(select(db.schema_version.c.version)).scalar_one() == db.SCHEMA_VERSION
        assert {"attempts", "review_cards", "review_logs"} <= set(inspect(conn).get_table_names())
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar_one()
    assert mode == "wal"
    [saved] = history.load_attempts(db_settings)
    assert (saved.id, saved.user, saved.problem, saved.overall) == (
        attempt_id,
        "local",
        "fraud-detection",
        60,
    )
    assert {s.stage_id: s.score for s in saved.stages} == {"problem_framing": 70, "modeling": 40}


def test_version_1_database_is_migrated_and_keeps_its_rows(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        db.v1_metadata().create_all(conn)
        conn.execute(insert(db.schema_version).values(version=1))
        conn.execute(
            insert(db.v1_metadata().tables["attempts"]).values(
                created_at=datetime(2026, 1, 5, tzinfo=UTC),
                kind="critique",
                mode="cli",
                problem="own design",
                level="mid",
                overall=42,
                is_design=True,
                words=120,
                rubric_version=1,
                summary="old",
            )
        )
        assert "user" not in {c["name"] for c in inspect(conn).get_columns("attempts")}
    engine.dispose()
    db.forget_engines()
    settings = Settings(database_url=url)
    history.save_attempt(settings, report(overall=70))
    attempts = history.load_attempts(settings)
    assert [(a.user, a.overall) for a in attempts] == [("local", 42), ("local", 70)]
    with create_engine(url).connect() as conn:
        assert conn.execute(select(db.schema_version.c.version)).scalar_one() == 2
        assert "review_cards" in inspect(conn).get_table_names()
    db.forget_engines()


def test_newer_schema_is_refused_with_one_line(db_settings):
    history.save_attempt(db_settings, report())
    db.forget_engines()
    with create_engine(db_settings.database_url).begin() as conn:
        conn.execute(db.schema_version.update().values(version=99))
    with pytest.raises(db.HistoryError, match="newer than this mlsd-coach") as info:
        history.load_attempts(db_settings)
    assert "\n" not in str(info.value)


def test_corrupt_database_is_one_warning_and_saving_goes_on(tmp_path, caplog):
    path = tmp_path / "broken.db"
    path.write_bytes(b"this is not a sqlite database at all" * 200)
    db.forget_engines()
    settings = Settings(database_url=f"sqlite:///{path}")
    with caplog.at_level(logging.WARNING, logger="progress.history"):
        assert history.save_attempt_safely(settings, report()) is None
    [record] = [r for r in caplog.records if r.name == "progress.history"]
    assert "not a database" in record.getMessage() and "\n" not in record.getMessage()
    with pytest.raises(db.HistoryError, match="not a database"):
        history.load_attempts(settings)
    db.forget_engines()


def test_locked_database_gives_up_after_the_busy_timeout(db_settings, caplog):
    history.save_attempt(db_settings, report())
    holder = sqlite3.connect(db_settings.database_url.removeprefix("sqlite:///"))
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with caplog.at_level(logging.WARNING, logger="progress.history"):
            assert history.save_attempt_safely(db_settings, report()) is None
        assert any("locked" in r.getMessage() for r in caplog.records)
    finally:
        holder.rollback()
        holder.close()
    assert history.save_attempt_safely(db_settings, report()) is not None
    assert history.count_attempts(db_settings) == 2


def test_saving_off_stores_nothing(db_settings):
    off = db_settings.model_copy(update={"save_history": False})
    assert history.save_attempt_safely(off, report()) is None
    token = history.saving_enabled.set(False)
    try:
        assert history.save_attempt_safely(db_settings, report()) is None
    finally:
        history.saving_enabled.reset(token)
    assert history.count_attempts(db_settings) == 0


def test_users_are_kept_apart_and_reset_deletes_only_one(db_settings):
    history.save_attempt(db_settings, report(overall=10))
    token = history.current_user.set("ada@example.com")
    try:
        history.save_attempt(db_settings, report(overall=90))
        assert [a.overall for a in history.load_attempts(db_settings)] == [90]
        assert history.reset_history(db_settings)["attempts"] == 1
        assert history.load_attempts(db_settings) == []
    finally:
        history.current_user.reset(token)
    assert [a.overall for a in history.load_attempts(db_settings)] == [10]


def test_since_filters_by_time(db_settings):
    now = datetime.now(UTC)
    history.save_attempt(db_settings, report(overall=1), at=now - timedelta(days=10))
    history.save_attempt(db_settings, report(overall=2), at=now)
    since = history.parse_since((now - timedelta(days=2)).date().isoformat())
    assert [a.overall for a in history.load_attempts(db_settings, since=since)] == [2]
    with pytest.raises(ValueError):
        history.parse_since("last tuesday")


WRITER = textwrap.dedent(
    """
    import sys
    from core.settings import Settings
    from progress import history
    settings = Settings(database_url=sys.argv[1], database_busy_timeout_s=30)
    report = {"overall": int(sys.argv[2]), "is_design": True, "level": "mid", "stages": [
        {"id": "modeling", "name": "Modeling", "score": 50, "criteria": [
            {"id": "baseline", "status": "missing"}]}]}
    for i in range(int(sys.argv[3])):
        history.save_attempt(settings, report, problem=f"p{i}")
    """
)


def test_two_processes_saving_at_once_lose_nothing(db_settings):
    history.count_attempts(db_settings)  # the schema exists before the race starts
    n = 60
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, db_settings.database_url, str(tag), str(n)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in (1, 2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    attempts = history.load_attempts(db_settings)
    assert sorted(a.overall for a in attempts).count(1) == n
    assert sorted(a.overall for a in attempts).count(2) == n
    assert all(len(a.criteria) == 1 for a in attempts)
