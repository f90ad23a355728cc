"""`mlsd progress` and `mlsd review` over a real SQLite history of real grader reports."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import ROOT, run_cli

from core.settings import Settings
from progress import db, history, review, stats
from progress.overview import load_rubric

DESIGNS = ROOT / "tests" / "designs"


@pytest.fixture(scope="module")
def reports(embedder):
    """Real grader reports of a weak and a strong design."""
    from tools.grader import grade_design
    from tools.rubric import load_rubric as load

    rubric = load(Settings().rubric_path)
    return {
        name: grade_design((DESIGNS / f"{name}.md").read_text(), "senior", rubric=rubric,
                           embedder=embedder).model_dump()
        for name in ("partial", "strong")
    }  # fmt: skip


@pytest.fixture
def seeded(tmp_path, reports):
    """Six weak attempts then two strong ones, a day apart; returns (settings, env)."""
    url = f"sqlite:///{tmp_path / 'history.db'}"
    db.forget_engines()
    settings = Settings(database_url=url)
    start = datetime.now(UTC) - timedelta(days=10)
    for day, name in enumerate(["partial"] * 6 + ["strong"] * 2):
        history.save_attempt(
            settings, reports[name], at=start + timedelta(days=day), problem="fraud-detection"
        )
    yield settings, {"MLSD_DATABASE_URL": url}
    db.forget_engines()


def test_progress_json_has_scores_missed_criteria_time_plan_and_a_plan(seeded, reports):
    settings, env = seeded
    result = run_cli("progress", "--json", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["attempts"] == 8 and data["user"] == "local"
    assert [p["overall"] for p in data["overall"]][-1] == reports["strong"]["overall"]
    stage_ids = [s["id"] for s in data["stages"]]
    assert stage_ids == [s.id for s in load_rubric(settings).stages]
    assert all(len(s["scores"]) == 8 for s in data["stages"])
    missed_in_partial = {
        c["id"] for s in reports["partial"]["stages"] for c in s["criteria"]
        if c["status"] in ("missing", "partial") and c["expected"]
    }  # fmt: skip
    top = data["missed_criteria"][0]
    assert top["id"] in missed_in_partial and top["missed"] >= 6
    assert top["teaches"]["source"].endswith(".md")
    assert (ROOT / "corpus" / top["teaches"]["source"]).is_file()
    plan = data["plan"]
    assert plan["problem"] != "fraud-detection"  # practised lately
    assert (ROOT / "corpus" / "solutions" / f"{plan['problem']}.md").is_file()
    assert 2 <= len(plan["read_first"]) <= 3


def test_since_keeps_later_attempts_and_a_bad_date_is_exit_2(seeded):
    _, env = seeded
    since = (datetime.now(UTC) - timedelta(days=3, hours=12)).date().isoformat()
    result = run_cli("progress", "--json", "--since", since, env=env)
    assert result.returncode == 0, result.stderr
    assert 1 <= json.loads(result.stdout)["attempts"] < 8
    bad = run_cli("progress", "--since", "soon", env=env)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "--since" in bad.stderr


def test_table_and_export_with_charts(seeded, tmp_path):
    _, env = seeded
    table = run_cli("progress", env=env)
    assert table.returncode == 0, table.stderr
    assert "8 attempts" in table.stdout and "Missed most often" in table.stdout
    assert "mlsd interview --question" in table.stdout
    out = tmp_path / "out" / "report.md"
    result = run_cli("progress", "--export", str(out), env=env)
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    for chart in ("overall.png", "stages.png"):
        path = out.parent / "report_charts" / chart
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](report_charts/{chart})" in text
    assert "## Criteria missed most often" in text


def test_reset_asks_first(seeded):
    settings, env = seeded
    declined = run_cli("progress", "--reset", env=env, input="n\n")
    assert declined.returncode == 1
    assert history.count_attempts(settings) == 8
    confirmed = run_cli("progress", "--reset", env=env, input="y\n")
    assert confirmed.returncode == 0 and "Deleted 8 attempts" in confirmed.stdout
    assert history.count_attempts(settings) == 0
    history.save_attempt(settings, {"overall": 1, "stages": []})
    assert run_cli("progress", "--reset", "--yes", env=env).returncode == 0
    assert history.count_attempts(settings) == 0


def test_kept_missing_criteria_enter_the_review_queue(seeded):
    settings, _ = seeded
    attempts = history.load_attempts(settings)
    review.refresh_queue(settings, attempts, load_rubric(settings))
    due = review.due_cards(settings, limit=500)
    keys = {c.key for c in due}
    top = stats.missed_criteria(attempts)[0]["id"]
    assert f"criterion:{top}" in keys
    news = [c for c in due if c.origin != "criterion"]
    assert len(news) == settings.review_new_per_day
    again = review.refresh_queue(settings, attempts, load_rubric(settings))
    assert again == 0  # today's new cards are already in


def test_review_cli_answers_rates_and_reschedules(seeded):
    settings, env = seeded
    first = run_cli("review", "--json", "-n", "2", env=env)
    assert first.returncode == 0, first.stderr
    cards = json.loads(first.stdout)
    assert len(cards) == 2
    answer = "It is the simplest credible approach that every complex model must beat."
    result = run_cli("review", "-n", "2", env=env, input=f"{answer}\n4\n\n1\n")
    assert result.returncode == 0, result.stderr
    assert "similarity" in result.stdout and "reference:" in result.stdout
    assert "easy: next review in" in result.stdout and "again: next review in" in result.stdout
    with db.transaction(settings.database_url) as conn:
        logs = conn.execute(db.review_logs.select().order_by(db.review_logs.c.id)).all()
        dues = {r.id: r.due for r in conn.execute(db.review_cards.select())}
    assert [log.rating for log in logs] == [4, 1]
    assert logs[0].similarity is not None and logs[1].similarity is None
    assert dues[logs[0].card_id] > dues[logs[1].card_id]  # Easy waits longer than Again


def test_answers_are_compared_by_meaning(embedder):
    reference = "A baseline is the simplest credible model, a reference a complex model must beat."
    paraphrase = "The simple reference model that fancier models must outperform."
    close = review.similarity(embedder, paraphrase, reference)
    far = review.similarity(embedder, "Kubernetes schedules containers onto nodes.", reference)
    assert close > far
    assert review.verdict(0.9) != review.verdict(0.1)
