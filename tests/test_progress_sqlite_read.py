"""The stdlib sqlite3 read path gives the same progress summary as the SQLAlchemy path, on
real SQLite files: a long history (several users, review cards), an empty database, a
version-1 database (read through SQLAlchemy, which migrates it) and a missing file."""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime, timedelta

import pytest
from conftest import ROOT, run_cli
from sqlalchemy import create_engine, insert

from core.settings import Settings
from progress import db, history, overview, review, sqlite_read

STATUSES = ["met", "met", "partial", "missing", "n/a"]


def _report(rubric, rng: random.Random) -> dict:
    stages = []
    for stage in rubric.stages:
        criteria = [
            {"id": c.id, "status": rng.choice(STATUSES), "expected": rng.random() > 0.1,
             "description": c.description, "reference": {"source": c.teaches, "section": ""}}
            for c in stage.criteria
        ]  # fmt: skip
        flags = [{"id": "no_baseline", "description": "No baseline."}] if rng.random() < 0.2 else []
        stages.append(
            {"id": stage.id, "name": stage.name, "score": rng.randint(0, 100),
             "share_of_design": rng.uniform(0, 0.4), "budget_share": 1 / len(rubric.stages),
             "words": rng.randint(0, 200), "criteria": criteria, "red_flag_details": flags}
        )  # fmt: skip
    return {"overall": rng.randint(0, 100), "is_design": rng.random() > 0.1, "level": "senior",
            "stages": stages, "words": rng.randint(100, 2000)}  # fmt: skip


def _same(settings: Settings, since: datetime | None = None) -> dict:
    """The summary read both ways (the quick reader must be the one used); returns it."""
    attempts, _, used = overview.read_history(settings, since)
    assert used == "sqlite"
    quick = overview.build(settings, since, reader="sqlite")
    full = overview.build(settings, since, reader="sqlalchemy")
    assert json.dumps(quick, default=str) == json.dumps(full, default=str)
    return quick


@pytest.fixture
def url(tmp_path):
    db.forget_engines()
    yield f"sqlite:///{tmp_path / 'history.db'}"
    db.forget_engines()


@pytest.fixture(scope="module")
def long_history(tmp_path_factory):
    """240 attempts of two learners over 80 days, some not designs, plus review cards."""
    db.forget_engines()
    path = tmp_path_factory.mktemp("long") / "history.db"
    settings = Settings(database_url=f"sqlite:///{path}")
    rubric = overview.load_rubric(settings)
    rng = random.Random(7)
    start = datetime.now(UTC) - timedelta(days=80)
    for i in range(240):
        token = history.current_user.set("ada" if i % 5 == 0 else None)
        try:
            history.save_attempt(
                settings, _report(rubric, rng), at=start + timedelta(hours=8 * i),
                kind=rng.choice(["critique", "interview"]), problem=f"p{i % 9}",
            )  # fmt: skip
        finally:
            history.current_user.reset(token)
    attempts = history.load_attempts(settings, criteria_window=settings.history_window)
    review.refresh_queue(settings, attempts, rubric)
    [card] = review.due_cards(settings, limit=1)
    review.record_review(settings, card.id, "good")  # one card due later: next_due is set
    db.forget_engines()
    yield settings
    db.forget_engines()


def test_long_history_reads_the_same_both_ways(long_history):
    summary = _same(long_history)
    assert summary["attempts"] == 192 and summary["review"]["next_due"] is not None
    assert summary["missed_criteria"] and summary["plan"]["read_first"]


def test_since_and_other_users_read_the_same_both_ways(long_history):
    for days in (3, 30, 200):
        _same(long_history, datetime.now(UTC) - timedelta(days=days))
    token = history.current_user.set("ada")
    try:
        assert _same(long_history)["attempts"] == 48
    finally:
        history.current_user.reset(token)
    assert _same(long_history.model_copy(update={"history_window": 3}))["window"] == 3


def test_empty_database_reads_the_same_both_ways(url):
    settings = Settings(database_url=url)
    assert history.count_attempts(settings) == 0  # creates the schema, no attempts
    assert _same(settings)["attempts"] == 0


def test_version_1_database_goes_through_sqlalchemy_which_migrates_it(url):
    engine = create_engine(url)
    with engine.begin() as conn:
        db.v1_metadata().create_all(conn)
        conn.execute(insert(db.schema_version).values(version=1))
        conn.execute(
            insert(db.v1_metadata().tables["attempts"]).values(
                created_at=datetime(2026, 1, 5, tzinfo=UTC), kind="critique", mode="cli",
                problem="own design", level="mid", overall=42, is_design=True, words=120,
                rubric_version=1, summary="old",
            )
        )  # fmt: skip
    engine.dispose()
    settings = Settings(database_url=url)
    assert sqlite_read.read_inputs(settings, "local", None, 20) is None
    summary = overview.build(settings)  # auto: SQLAlchemy, which migrates to v2
    assert summary["attempts"] == 1
    assert _same(settings)["attempts"] == 1


def test_missing_file_and_other_urls_go_through_sqlalchemy(tmp_path, url):
    settings = Settings(database_url=url)
    assert overview.read_history(settings)[2] == "sqlalchemy"  # and it creates the file
    assert _same(settings)["attempts"] == 0
    for other in ("sqlite://", "sqlite:///:memory:", f"sqlite:///{tmp_path}/h.db?timeout=3",
                  "postgresql+psycopg://u:p@localhost/db"):  # fmt: skip
        assert sqlite_read.sqlite_file(other) is None
    assert sqlite_read.sqlite_file(url) == tmp_path / "history.db"


def test_corrupt_file_is_left_to_sqlalchemy_for_its_one_line_error(tmp_path):
    path = tmp_path / "broken.db"
    path.write_bytes(b"this is not a database" * 100)
    settings = Settings(database_url=f"sqlite:///{path}")
    assert sqlite_read.read_inputs(settings, "local", None, 20) is None
    result = run_cli("progress", env={"MLSD_DATABASE_URL": settings.database_url})
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "history database" in result.stderr


def _typer_path(*args: str, env: dict) -> str:
    """`mlsd progress` through typer alone (no quick dispatch in cli.main.main)."""
    import os
    import subprocess

    code = "import sys; from cli.main import app; app(sys.argv[1:], prog_name='mlsd')"
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, **env},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("args", [("progress",), ("progress", "--json"), ("-v", "progress")])
def test_cli_prints_the_same_as_the_typer_path(long_history, args):
    env = {"MLSD_DATABASE_URL": long_history.database_url}
    quick = run_cli(*args, env=env)
    assert quick.returncode == 0, quick.stderr
    typer_out = _typer_path(*args, env=env)
    if "--json" in args:
        assert json.loads(quick.stdout) == json.loads(typer_out)
    else:
        assert quick.stdout == typer_out and "Missed most often" in quick.stdout


MODULES_AT_EXIT = """
import atexit, json, sys
atexit.register(lambda: sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n"))
sys.argv = ["mlsd", *sys.argv[1:]]
from cli.main import main
main()
"""


def test_quick_summary_imports_neither_typer_nor_sqlalchemy(long_history):
    import os
    import subprocess

    env = {**os.environ, "MLSD_DATABASE_URL": long_history.database_url}
    for args in (["progress"], ["progress", "--json", "--since", "2026-01-01"]):
        out = subprocess.run(
            [sys.executable, "-c", MODULES_AT_EXIT, *args], capture_output=True, text=True,
            cwd=ROOT, env=env,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        modules = json.loads(out.stderr.split("MODULES ")[-1])
        assert not [m for m in modules if m.split(".")[0] in ("typer", "click", "sqlalchemy")]


def test_controls_in_stored_text_are_left_to_the_typer_path(url):
    settings = Settings(database_url=url)
    rubric = overview.load_rubric(settings)
    evil = "fraud\x1b]0;owned\x07\u202e-detection"
    history.save_attempt(settings, _report(rubric, random.Random(1)) | {"is_design": True},
                         problem=evil)  # fmt: skip
    env = {"MLSD_DATABASE_URL": url}
    for args in (("progress",), ("progress", "--json")):
        quick = run_cli(*args, env=env)
        assert quick.returncode == 0, quick.stderr
        assert "\x1b" not in quick.stdout and "\u202e" not in quick.stdout
        assert quick.stdout == _typer_path(*args, env=env)
