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
