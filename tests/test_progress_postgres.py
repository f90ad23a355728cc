"""The learner history on a real PostgreSQL server (the README's `MLSD_DATABASE_URL`
example): schema from an empty database, saving, reading, users, review scheduling, two
writer processes at once, and `mlsd progress --json` through the non-SQLite path."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
from conftest import run_cli
from sqlalchemy import create_engine, inspect, select, text
from test_progress_db import WRITER, report

from core.settings import Settings
from progress import db, history, review
from progress.overview import load_rubric


@pytest.fixture
def pg_settings(postgres_server):
    """A fresh database per test on the session's server."""
    name = f"mlsd_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db.forget_engines()
    url = postgres_server.url.rsplit("/", 1)[0] + f"/{name}"
    yield Settings(database_url=url, database_busy_timeout_s=5)
    db.forget_engines()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_empty_postgres_database_gets_the_schema_and_keeps_attempts(pg_settings):
    first = history.save_attempt(pg_settings, report(overall=55), problem="fraud-detection")
    history.save_attempt(pg_settings, report(overall=75, missing=("modeling_c1",)))
    engine = create_engine(pg_settings.database_url)
    with engine.connect() as conn:
        assert conn.execute(select(db.schema_version.c.version)).scalar_one() == db.SCHEMA_VERSION
        assert {"attempts", "review_cards", "review_logs"} <= set(inspect(conn).get_table_names())
    engine.dispose()
    attempts = history.load_attempts(pg_settings)
    assert [(a.problem, a.overall) for a in attempts] == [
        ("fraud-detection", 55),
        (history.OWN_DESIGN, 75),
    ]
    assert attempts[0].id == first
    missing = [c.criterion_id for c in attempts[1].criteria if c.status == "missing"]
    assert missing == ["modeling_c1"]


def test_users_are_apart_and_reset_deletes_one_on_postgres(pg_settings):
    history.save_attempt(pg_settings, report(overall=10))
    token = history.current_user.set("ada@example.com")
    try:
        history.save_attempt(pg_settings, report(overall=90))
        assert history.reset_history(pg_settings)["attempts"] == 1
        assert history.count_attempts(pg_settings) == 0
    finally:
        history.current_user.reset(token)
    assert [a.overall for a in history.load_attempts(pg_settings)] == [10]


def test_review_cards_are_scheduled_on_postgres(pg_settings):
    settings = pg_settings.model_copy(update={"review_new_per_day": 3})
    review.refresh_queue(settings, [], load_rubric(settings))  # no history: new cards only
    due = review.due_cards(settings)
    assert due, "a new queue has due cards"
    card = review.record_review(settings, due[0].id, "good", answer="my answer", score=0.7)
    assert card.due > due[0].due
    assert card.id not in {c.id for c in review.due_cards(settings)}


def test_two_processes_saving_at_once_lose_nothing_on_postgres(pg_settings):
    history.count_attempts(pg_settings)  # the schema exists before the race starts
    n = 40
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, pg_settings.database_url, str(tag), str(n)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in (1, 2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    overall = [a.overall for a in history.load_attempts(pg_settings)]
    assert (overall.count(1), overall.count(2)) == (n, n)


def test_mlsd_progress_json_reads_postgres(pg_settings):
    for score in (30, 50, 70):
        history.save_attempt(pg_settings, report(overall=score))
    out = run_cli("progress", "--json", env={"MLSD_DATABASE_URL": pg_settings.database_url})
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["attempts"] == 3
    assert [row["overall"] for row in data["overall"]] == [30, 50, 70]
