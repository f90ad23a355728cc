"""Critiques are saved to the history from the CLI; --no-save and a broken database."""

from __future__ import annotations

from pathlib import Path

from conftest import ROOT, run_cli

from core.settings import Settings
from progress import db, history

DESIGN = ROOT / "tests" / "designs" / "partial.md"


def _env(tmp_path: Path, url: str) -> dict:
    return {"MLSD_DATABASE_URL": url, "MLSD_STORE_DIR": str(tmp_path / "no-store")}


def test_cli_critique_is_saved_unless_no_save(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    saved = run_cli("critique", str(DESIGN), "--json", env=_env(tmp_path, url))
    assert saved.returncode == 0, saved.stderr
    skipped = run_cli("critique", str(DESIGN), "--json", "--no-save", env=_env(tmp_path, url))
    assert skipped.returncode == 0, skipped.stderr
    db.forget_engines()
    [attempt] = history.load_attempts(Settings(database_url=url))
    assert (attempt.kind, attempt.mode, attempt.problem) == ("critique", "cli", "own design")
    assert attempt.stages and attempt.criteria
    db.forget_engines()


def test_cli_critique_with_a_corrupt_database_still_prints_the_report(tmp_path):
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"garbage, not sqlite " * 500)
    result = run_cli("critique", str(DESIGN), env=_env(tmp_path, f"sqlite:///{broken}"))
    assert result.returncode == 0, result.stderr
    assert "Design critique" in result.stdout
    lines = [line for line in result.stderr.splitlines() if "history not saved" in line]
    assert len(lines) == 1 and "not a database" in lines[0]


def _deps(corpus_settings, embedder, url: str, **overrides):
    from tools.deps import Deps

    settings = corpus_settings.model_copy(update={"database_url": url, **overrides})
    return Deps(settings, embedder_override=embedder)


def test_finished_interview_is_saved_once_as_an_interview(tmp_path, corpus_settings, embedder):
    from agents.interviewer import Interview

    url = f"sqlite:///{tmp_path / 'h.db'}"
    for save in (True, False):
        deps = _deps(corpus_settings, embedder, url, save_history=save)
        interview = Interview.create(deps, "fraud-detection", level="mid")
        interview.start()
        interview.reply("We predict the probability that a card transaction is fraud.")
        result = interview.finish()
        assert result.report is not None
    db.forget_engines()
    [saved] = history.load_attempts(Settings(database_url=url))
    assert (saved.kind, saved.problem, saved.level) == ("interview", "fraud-detection", "mid")
    db.forget_engines()


def test_chat_critique_is_saved_as_chat(tmp_path, corpus_settings, embedder):
    from agents.critique import run_critique

    url = f"sqlite:///{tmp_path / 'h.db'}"
    deps = _deps(corpus_settings, embedder, url)
    critique = run_critique(deps, DESIGN.read_text(), "senior")
    assert critique.ok and critique.report
    run_critique(deps, DESIGN.read_text(), "senior", save=False)
    db.forget_engines()
    [saved] = history.load_attempts(Settings(database_url=url))
    assert (saved.kind, saved.mode) == ("critique", "chat")
    assert saved.overall == critique.report["overall"]
    db.forget_engines()


def test_cli_interview_no_save(tmp_path, corpus_settings):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    answer = "We predict the probability that a card transaction is fraud, at 50M a day.\n/finish\n"
    common = ["interview", "--question", "fraud-detection", "--offline"]
    common += ["--store", str(corpus_settings.store_dir)]
    env = {"MLSD_DATABASE_URL": url}
    for extra in (["--no-save"], []):
        result = run_cli(*common, *extra, env=env, input=answer)
        assert result.returncode == 0, result.stderr[-2000:]
    db.forget_engines()
    [saved] = history.load_attempts(Settings(database_url=url))
    assert (saved.kind, saved.problem, saved.mode) == ("interview", "fraud-detection", "cli")
    db.forget_engines()
