"""The rubric file (`corpus/rubric.yaml`): schema, sanity, detect specs and the lookup tool."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from core.errors import ConfigError
from core.settings import Settings
from tools.deps import Deps
from tools.grader.match import detect_red_flags
from tools.grader.text import split_passages
from tools.rubric import LEVELS, Rubric, ToolError, load_rubric, rubric_for_stage, stage

CORPUS = Settings().corpus_dir
STAGE_IDS = [
    "problem_framing",
    "high_level_design",
    "data_features",
    "modeling",
    "evaluation",
    "deployment_serving",
    "monitoring",
    "tradeoffs_deep_dives",
]
BUDGETS = [7, 6, 8, 8, 6, 4, 3, 3]


@pytest.fixture(scope="module")
def rubric() -> Rubric:
    return load_rubric(Settings().rubric_path)


def _criteria(rubric: Rubric):
    return [c for s in rubric.stages for c in s.criteria]


def test_stages_in_order_with_45_minute_budgets(rubric):
    assert rubric.stage_ids == STAGE_IDS
    assert [s.time_budget_min for s in rubric.stages] == BUDGETS
    assert sum(s.time_budget_min for s in rubric.stages) == rubric.interview_minutes == 45


def test_weights_are_sane_and_tradeoffs_grow_with_level(rubric):
    for level in LEVELS:
        weights = [s.weight[level] for s in rubric.stages]
        assert all(w > 0 for w in weights), level
        assert sum(weights) == pytest.approx(100)
    deep = stage(rubric, "tradeoffs_deep_dives").weight
    assert deep["mid"] < deep["senior"] < deep["staff"]


def test_each_stage_has_questions_criteria_flags_and_expectations(rubric):
    for s in rubric.stages:
        assert 3 <= len(s.probing_questions) <= 5, s.id
        assert all(len(q.split()) >= 5 for q in s.probing_questions), s.id
        assert 3 <= len(s.criteria) <= 6, s.id
        assert set(s.expectations) == set(LEVELS), s.id
        assert all(len(text.split()) >= 8 for text in s.expectations.values()), s.id
        assert s.heading_keywords, s.id


def test_criteria_ids_unique_and_fields_complete(rubric):
    ids = [c.id for c in _criteria(rubric)]
    assert len(ids) == len(set(ids))
    for c in _criteria(rubric):
        assert re.fullmatch(r"[a-z][a-z0-9_]+", c.id), c.id
        assert c.description.strip() and c.follow_up.strip().endswith("?"), c.id
        assert c.min_level in LEVELS


def test_phrases_lowercase_nonempty_and_distinct(rubric):
    for c in _criteria(rubric):
        # up to 20: a criterion needs wording for both classic (ranking, tabular) designs and
        # generative-AI ones (prompts, retrieval, pass@1); more than that dilutes the list
        assert 5 <= len(c.phrases) <= 20, (c.id, len(c.phrases))
        assert all(p == p.lower() and p.strip() == p and p for p in c.phrases), c.id
        assert len(set(c.phrases)) == len(c.phrases), c.id


def test_every_teaches_document_exists(rubric):
    for c in _criteria(rubric):
        assert (CORPUS / c.teaches).is_file(), (c.id, c.teaches)
    for s in rubric.stages:
        for flag in s.red_flags:
            assert flag.teaches is None or (CORPUS / flag.teaches).is_file(), flag.id


def test_levels_are_graded_mid_senior_staff(rubric):
    """Every stage expects something of a mid-level candidate and keeps a staff-only bonus."""
    for s in rubric.stages:
        levels = [c.min_level for c in s.criteria]
        assert "mid" in levels, s.id
        assert "staff" in levels, s.id


REQUIRED_FLAGS = {
    "model_before_objective": "before",
    "no_baseline": "absent",
    "random_split_temporal": "present_without",
    "no_online_test": "absent",
    "no_monitoring": "absent",
    "no_safe_rollout": "absent",
}


def test_required_red_flags_with_valid_detect_specs(rubric):
    flags = {f.id: f for s in rubric.stages for f in s.red_flags}
    for flag_id, kind in REQUIRED_FLAGS.items():
        assert flag_id in flags, flag_id
        assert flags[flag_id].detect.kind == kind
    for flag in flags.values():
        assert 0 < flag.penalty <= 50, flag.id


def _fires(rubric, flag_id: str, text: str) -> bool:
    flag = next(f for s in rubric.stages for f in s.red_flags if f.id == flag_id)
    passages = [p for p in split_passages(text) if not p.is_heading]
    return bool(detect_red_flags(passages, [flag]))


@pytest.mark.parametrize(
    "flag_id, bad, good",
    [
        (
            "model_before_objective",
            "I would use XGBoost. The goal is to reduce fraud losses.",
            "The goal is to reduce fraud losses. I would use XGBoost.",
        ),
        (
            "no_baseline",
            "We train a deep ranker on clicks.",
            "As a baseline we rank by popularity, then train a deep ranker.",
        ),
        (
            "random_split_temporal",
            "We randomly split the click history into train and test.",
            "We randomly split users into groups, then use a temporal split for the click history.",
        ),
        (
            "no_online_test",
            "We measure NDCG offline.",
            "We measure NDCG offline and run an A/B test on sessions per user.",
        ),
        ("no_monitoring", "We deploy the model.", "We monitor PSI drift on every feature daily."),
        (
            "no_safe_rollout",
            "We deploy the model to all traffic.",
            "We ship to a 1% canary with automatic rollback.",
        ),
    ],
)
def test_detect_specs_fire_on_bad_text_only(rubric, flag_id, bad, good):
    assert _fires(rubric, flag_id, bad)
    assert not _fires(rubric, flag_id, good)


def test_load_is_cached_per_mtime_and_picks_up_edits(tmp_path):
    path = tmp_path / "rubric.yaml"
    shutil.copy(Settings().rubric_path, path)
    first = load_rubric(path)
    assert load_rubric(path) is first
    data = yaml.safe_load(path.read_text())
    data["stages"][0]["name"] = "Framing the problem"
    path.write_text(yaml.safe_dump(data))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    second = load_rubric(path)
    assert second is not first
    assert second.stages[0].name == "Framing the problem"
    assert second.fingerprint != first.fingerprint


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["stages"][0].pop("criteria"),
        lambda d: d["stages"][0]["criteria"][0].update(min_level="principal"),
        lambda d: d["stages"][2]["red_flags"][0]["detect"].update(kind="sometimes"),
        lambda d: d["stages"][1]["weight"].pop("staff"),
    ],
)
def test_invalid_rubric_is_a_config_error(tmp_path, mutate):
    data = yaml.safe_load(Path(Settings().rubric_path).read_text())
    mutate(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="fix the YAML"):
        load_rubric(path)


def test_missing_rubric_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="MLSD_RUBRIC_PATH"):
        load_rubric(tmp_path / "nope.yaml")


def test_stage_lookup_names_valid_ids(rubric):
    assert stage(rubric, "modeling").name == "Modeling"
    with pytest.raises(ConfigError, match="problem_framing"):
        stage(rubric, "vibes")


def test_rubric_for_stage_tool(make_settings):
    deps = Deps(make_settings())
    found = rubric_for_stage(deps, "evaluation")
    assert found.ok and found.id == "evaluation"
    assert found.time_budget_min == 6
    assert {c.id for c in found.criteria} >= {"offline_metrics", "ab_test"}
    assert all(c.follow_up for c in found.criteria)
    assert found.probing_questions
    # lenient spelling, same stage
    assert rubric_for_stage(deps, "Deployment-Serving").id == "deployment_serving"

    missing = rubric_for_stage(deps, "vibes")
    assert isinstance(missing, ToolError) and not missing.ok
    assert missing.valid == STAGE_IDS
    assert "vibes" in missing.error
    assert rubric_for_stage.__doc__ and "stage_id" in rubric_for_stage.__doc__
