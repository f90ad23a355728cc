"""Snapshots of validated inputs (progress/snapshot.py): the rubric and solution copies give the
same summary as the models, and a settings copy is only used for the environment it was
made in (variables, `.env`, working directory), so settings precedence is unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from conftest import ROOT

from core.settings import Settings
from progress import db, history, overview, plan, snapshot, stats

MODULES_AT_EXIT = """
import atexit, json, sys
atexit.register(lambda: sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n"))
sys.argv = ["mlsd", *sys.argv[1:]]
from cli.main import main
main()
"""


def _report(rubric, missing: bool) -> dict:
    stages = [
        {"id": s.id, "name": s.name, "score": 40, "share_of_design": 0.05, "budget_share": 0.15,
         "words": 30, "criteria": [{"id": c.id, "status": "missing" if missing else "met",
                                    "expected": True, "description": c.description}
                                   for c in s.criteria]}
        for s in rubric.stages
    ]  # fmt: skip
    return {"overall": 40, "is_design": True, "level": "senior", "stages": stages}


@pytest.fixture
def history_db(tmp_path):
    db.forget_engines()
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'history.db'}")
    rubric = overview.load_rubric(settings)
    start = datetime.now(UTC) - timedelta(days=5)
    for day in range(5):
        history.save_attempt(
            settings, _report(rubric, day < 4), at=start + timedelta(days=day), problem="p1"
        )
    db.forget_engines()
    yield settings
    db.forget_engines()


def mlsd(*args: str, cwd, env: dict) -> tuple[subprocess.CompletedProcess, set[str]]:
    full = {k: v for k, v in os.environ.items() if not k.upper().startswith("MLSD_")}
    out = subprocess.run(
        [sys.executable, "-c", MODULES_AT_EXIT, *args], capture_output=True, text=True,
        cwd=cwd, env={**full, "PYTHONPATH": str(ROOT), **env},
    )  # fmt: skip
    modules = set(json.loads(out.stderr.split("MODULES ")[-1]))
    return out, modules


def test_rubric_and_solution_copies_give_the_summary_of_the_models(
    history_db, tmp_path, monkeypatch
):
    monkeypatch.setattr(snapshot, "CACHE_DIR", tmp_path / "cache")  # none stored yet
    attempts = history.load_attempts(history_db, criteria_window=20)
    model = overview.load_rubric(history_db)
    solutions = overview.load_solutions(history_db)
    for _ in range(2):  # computed from the models (and stored), then read from the copies
        view = overview.rubric_view(history_db)
        copies = overview.load_solutions(history_db)
        assert json.dumps(stats.summary(attempts, view)) == json.dumps(
            stats.summary(attempts, model)
        )
        assert plan.study_plan(attempts, view, copies) == plan.study_plan(
            attempts, model, solutions
        )


def test_a_copy_is_made_for_its_key_only(tmp_path):
    folder = tmp_path / "cache"
    snapshot.put("kind", ["a", 1], {"x": 1}, folder)
    snapshot.put("kind", ["b", 2], {"x": 2}, folder)
    assert snapshot.get("kind", ("a", 1), folder) == {"x": 1}
    assert snapshot.get("kind", ["a", 2], folder) is None
    (folder / "kind.json").write_text("{not json")
    assert snapshot.get("kind", ["a", 1], folder) is None  # damaged: computed again
    snapshot.put("kind", ["a", 1], {"x": 3}, folder)
    assert snapshot.get("kind", ["a", 1], folder) == {"x": 3}


def test_second_run_imports_no_pydantic_and_follows_env_and_dotenv(history_db, tmp_path):
    cwd = tmp_path / "work"
    cwd.mkdir()
    env = {"MLSD_DATABASE_URL": history_db.database_url}
    first, _ = mlsd("progress", "--json", cwd=cwd, env=env)
    second, modules = mlsd("progress", "--json", cwd=cwd, env=env)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert json.loads(first.stdout) == json.loads(second.stdout)
    heavy = ("pydantic", "pydantic_settings", "typer", "sqlalchemy")
    assert not [m for m in modules if m.split(".")[0] in heavy]
    # .env below the environment, and a changed .env is read again
    (cwd / ".env").write_text("MLSD_HISTORY_USER=ada\n")
    for _ in range(2):
        out, _ = mlsd("progress", "--json", cwd=cwd, env=env)
        assert json.loads(out.stdout)["user"] == "ada" and json.loads(out.stdout)["attempts"] == 0
    (cwd / ".env").write_text("MLSD_HISTORY_USER=bob\n")
    out, _ = mlsd("progress", "--json", cwd=cwd, env=env)
    assert json.loads(out.stdout)["user"] == "bob"
    out, _ = mlsd("progress", "--json", cwd=cwd, env={**env, "MLSD_HISTORY_USER": "local"})
    assert json.loads(out.stdout)["user"] == "local"  # the environment wins over .env
    assert json.loads(out.stdout)["attempts"] == 5


def test_an_invalid_setting_still_stops_with_one_line_after_a_copy_exists(history_db, tmp_path):
    env = {"MLSD_DATABASE_URL": history_db.database_url}
    ok, _ = mlsd("progress", cwd=tmp_path, env=env)
    assert ok.returncode == 0, ok.stderr
    bad, _ = mlsd("progress", cwd=tmp_path, env={**env, "MLSD_HISTORY_WINDOW": "many"})
    assert bad.returncode == 2
    assert "MLSD_HISTORY_WINDOW" in bad.stderr and "Traceback" not in bad.stderr
    store = {**env, "MLSD_STORE_DIR": str(tmp_path / "store")}
    ok, _ = mlsd("progress", cwd=tmp_path, env=store)  # a copy of these settings is made
    assert ok.returncode == 0, ok.stderr
    (tmp_path / "store").write_text("")  # now the store path is a file: checked every time
    bad, _ = mlsd("progress", cwd=tmp_path, env=store)
    assert bad.returncode == 2 and "is a file" in bad.stderr
