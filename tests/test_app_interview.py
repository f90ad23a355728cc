"""The Mock interview page through `AppTest`, with the real offline interviewer and grader."""

from __future__ import annotations

import pytest

ANSWER = (
    "I would clarify the scale: 50M transactions per day at a 100 ms latency budget. The "
    "business objective is to minimize fraud losses and false declines; the ML objective is "
    "to predict the probability of fraud per transaction."
)


def _page(app_test):
    at = app_test().run()
    at.switch_page("ui/interview.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _click(at, label: str):
    [b for b in at.button if b.label.startswith(label)][0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _start(at, problem: str = "fraud-detection", level: str = "senior"):
    [s for s in at.selectbox if s.label == "Problem"][0].set_value(problem)
    at.button_group(key="interview_level").set_value(level)
    return _click(at, "Start the interview")


def _timer_text(at) -> str:
    return " ".join(p.proto.text for p in at.get("progress"))


@pytest.fixture
def started(app_test):
    return _start(_page(app_test))


def test_interview_starts_on_the_chosen_problem_with_a_stage_timer(started):
    at = started
    assert at.session_state.interview.question_id == "fraud-detection"
    opening = at.chat_message[0].markdown[0].value
    assert opening.startswith("Mock ML system design interview")  # routing tag removed
    assert "Stage 1/8" in _timer_text(at) and "Problem framing" in _timer_text(at)
    assert "of 7:00" in _timer_text(at)  # the rubric's budget for the stage


def test_answer_gets_a_reply_and_next_stage_moves_the_timer(started):
    at = started
    at.chat_input[0].set_value(ANSWER).run()
    assert not at.exception
    roles = [m.name for m in at.chat_message]
    assert roles == ["assistant", "user", "assistant"]
    at = _click(at, "Next stage")
    assert "Stage 2/8" in _timer_text(at) or "Stage 3/8" in _timer_text(at)


def test_finish_shows_report_reference_solution_and_download(started):
    at = started
    at.chat_input[0].set_value(ANSWER).run()
    at = _click(at, "Finish and grade")
    assert [m for m in at.metric if m.label == "Overall"]
    reference = [e for e in at.expander if e.label == "Reference solution"][0]
    assert "fraud" in " ".join(m.value for m in reference.markdown).lower()
    download = at.get("download_button")[0]
    assert download.proto.label.startswith("Download report")
    assert not at.chat_input  # the interview is over
    at = _click(at, "New interview")
    assert at.session_state.interview is None
    assert [s for s in at.selectbox if s.label == "Problem"]


def test_random_draw_and_separate_tabs(app_test):
    first = _start(_page(app_test), problem="__random__", level="staff")
    second = _page(app_test)
    assert first.session_state.interview.level == "staff"
    assert first.session_state.interview.question_id
    assert second.session_state.interview is None
