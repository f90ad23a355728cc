"""The Progress and Review pages through `AppTest`, over a real SQLite history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.settings import Settings
from progress import db, history
from ui.critique import examples

WEAK = {"problem_framing": 30, "modeling": 20}


def _report(overall: int, missing: bool) -> dict:
    stages = []
    for stage_id in ("problem_framing", "modeling", "evaluation"):
        crit = {"id": f"{stage_id}_x", "status": "missing" if missing else "met", "expected": True,
                "description": f"Covers {stage_id}."}  # fmt: skip
        stages.append(
            {"id": stage_id, "name": stage_id.replace("_", " ").capitalize(),
             "score": WEAK.get(stage_id, 70) if missing else 80, "share_of_design": 0.1,
             "budget_share": 0.2, "words": 40, "criteria": [crit], "red_flags": []}
        )  # fmt: skip
    return {"overall": overall, "is_design": True, "level": "senior", "stages": stages}


@pytest.fixture
def history_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'history.db'}"
    monkeypatch.setenv("MLSD_DATABASE_URL", url)
    db.forget_engines()
    yield url
    db.forget_engines()


@pytest.fixture
def seeded(history_url):
    settings = Settings(database_url=history_url)
    start = datetime.now(UTC) - timedelta(days=6)
    for day in range(5):
        history.save_attempt(
            settings, _report(40 + day, missing=True), at=start + timedelta(days=day),
            problem="fraud-detection",
        )  # fmt: skip
    return settings


def _open(app_test, page: str):
    at = app_test().run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_progress_page_shows_charts_missed_criteria_and_starts_the_planned_interview(
    app_test, seeded
):
    at = _open(app_test, "ui/progress.py")
    assert [m.value for m in at.metric if m.label == "Attempts"] == ["5"]
    assert len(at.get("arrow_line_chart")) + len(at.get("vega_lite_chart")) >= 4
    text = " ".join(m.value for m in at.markdown)
    assert "missed 5/5" in text
    assert any("Study:" in link.proto.label for link in at.get("page_link"))
    [start] = [b for b in at.button if b.label == "Start a mock interview on it"]
    start.click().run()
    assert not at.exception, [e.value for e in at.exception]
    interview = at.session_state.interview
    assert interview is not None and interview.question_id != "fraud-detection"
    assert at.session_state.interview_log[0]["content"].startswith("Mock ML system design")


def test_toggle_off_keeps_a_critique_out_of_the_history(app_test, history_url):
    settings = Settings(database_url=history_url)
    at = _open(app_test, "ui/progress.py")
    at.toggle(key="save_history_widget").set_value(False).run()
    at.switch_page("ui/critique.py").run()
    at.button(key=f"example-{examples()[0]['name']}").click().run()
    [b for b in at.button if b.label == "Critique"][0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state.critique["report"]["stages"]  # graded, but not saved
    assert history.count_attempts(settings) == 0
    at.switch_page("ui/progress.py").run()
    at.toggle(key="save_history_widget").set_value(True).run()
    at.switch_page("ui/critique.py").run()
    [b for b in at.button if b.label == "Critique"][0].click().run()
    assert history.count_attempts(settings) == 1
    [saved] = history.load_attempts(settings)
    assert (saved.mode, saved.kind) == ("app", "critique")


def test_broken_database_is_one_error_not_a_crash(app_test, tmp_path, monkeypatch):
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database " * 300)
    monkeypatch.setenv("MLSD_DATABASE_URL", f"sqlite:///{broken}")
    db.forget_engines()
    for page in ("ui/progress.py", "ui/review.py"):
        at = _open(app_test, page)
        assert len(at.error) == 1 and "not a database" in at.error[0].value


def test_review_page_compares_the_answer_and_schedules_on_the_rating(app_test, seeded):
    at = _open(app_test, "ui/review.py")
    question = at.markdown[0].value
    at.text_area(key="review_answer").set_value("A proxy metric can be gamed by the model.").run()
    [b for b in at.button if b.label == "Check my answer"][0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    [similarity] = [m for m in at.metric if m.label == "Similarity in meaning"]
    assert 0.0 <= float(similarity.value) <= 1.0
    assert any(m.value == "**Reference**" for m in at.markdown)
    at.button(key="rate-easy").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.success and "Easy: next review in" in at.success[0].value
    assert at.markdown[0].value != question  # the next card
    with db.transaction(seeded.database_url) as conn:
        [log] = conn.execute(db.review_logs.select()).all()
    assert log.rating == 4 and log.similarity is not None
