"""Progress statistics and the study plan as pure functions of saved attempts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.settings import Settings
from progress import plan, stats
from progress.history import Attempt, CriterionStatus, StageScore
from progress.overview import load_rubric, load_solutions


@pytest.fixture(scope="module")
def rubric():
    return load_rubric(Settings())


def attempt(i: int, rubric, scores: dict, missed: set, short: set = frozenset(), problem="x"):
    stages, criteria = [], []
    for s in rubric.stages:
        share = 0.0 if s.id in short else 0.2
        stages.append(StageScore(s.id, s.name, scores.get(s.id, 80), share, 0.12, 50))
        for c in s.criteria:
            status = "missing" if c.id in missed else "met"
            criteria.append(CriterionStatus(c.id, s.id, status, True, c.description, "", ""))
    criteria.append(CriterionStatus("zz_na", "modeling", "n/a", True, "not graded", "", ""))
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=i)
    return Attempt(i, "local", at, "critique", "cli", problem, "senior", 60, True, 900,
                   stages, criteria)  # fmt: skip


def test_trend_follows_the_miss_rate(rubric):
    first = rubric.stages[3].criteria[0].id
    second = rubric.stages[3].criteria[1].id
    history = [attempt(i, rubric, {}, {first} | ({second} if i >= 4 else set())) for i in range(4)]
    history += [attempt(i, rubric, {}, {second}) for i in range(4, 8)]
    found = {m["id"]: m for m in stats.missed_criteria(history, rubric)}
    assert found[first]["trend"] == "improving" and found[first]["missed"] == 4
    assert found[second]["trend"] == "worsening"
    assert "zz_na" not in found  # a status other than met/partial/missing is not graded
    assert found[first]["teaches"]["source"] == rubric.stages[3].criteria[0].teaches
    assert found[first]["teaches"]["section"]  # a heading of the teaching document


def test_time_plan_flags_a_stage_short_in_most_designs(rubric):
    stage = rubric.stages[4].id
    history = [attempt(i, rubric, {}, set(), short={stage} if i != 1 else set()) for i in range(4)]
    habits = stats.time_plan_habits(history)
    assert [h["id"] for h in habits] == [stage] and habits[0]["short_in"] == 3
    assert stats.time_plan_habits(history[:1]) == []  # once is not a habit


def test_plan_targets_the_weak_stage_and_skips_recent_problems(rubric):
    weak = rubric.stages[2]  # data and features
    missed = {c.id for c in weak.criteria}
    history = [
        attempt(i, rubric, {weak.id: 20}, missed, problem="fraud-detection") for i in range(3)
    ]
    solutions = load_solutions(Settings())
    result = plan.study_plan(history, rubric, solutions)
    assert result["weak_stages"][0]["id"] == weak.id
    assert result["problem"] != "fraud-detection"
    phrases = [p for c in weak.criteria for p in c.phrases]

    def hits(sol) -> int:
        text = " ".join(
            s.text for s in sol.sections if s.stage in {w["id"] for w in result["weak_stages"]}
        )
        return plan._phrase_hits(text, phrases)  # fmt: skip

    chosen = next(s for s in solutions if s.id == result["problem"])
    others = [s for s in solutions if s.id != "fraud-detection"]
    assert hits(chosen) == max(hits(s) for s in others)
    assert 2 <= len(result["read_first"]) <= 3
    assert all(r["criterion"] in missed for r in result["read_first"])
