"""The grader's not-a-design check (tools/grader/design_check.py) with the real model.

Texts here are new (not among the training documents): a design in any voice is graded, a text
that proposes no system is is_design false with overall 0 and a one-line reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tools.grader.design_check as design_check
from core.settings import Settings
from tools.grader import grade_design
from tools.rubric import load_rubric

ROOT = Path(__file__).resolve().parents[1]
TRAIN_DOCS = ROOT / "eval" / "datasets" / "grader_train" / "docs"
DEV = ROOT / "eval" / "datasets" / "grader_dev"

DESIGNS = {
    "qa_transcript": (
        "Q: Design a system that recommends courses on a learning platform.\n"
        "A: I'd first ask what success means; I'd pick course completions, not enrolments.\n"
        "Q: And the data?\n"
        "A: Enrolments and lesson progress as labels, split by time so we never train on the "
        "future. Baseline: most completed courses in the learner's topic.\n"
        "Q: Model?\n"
        "A: Retrieval by topic embeddings, then a GBDT ranker. Offline recall@10, then an A/B "
        "test on completions, and I'd monitor completion rate by topic after launch."
    ),
    "terse_notes": (
        "bike-share demand per dock, next 2 h\n"
        "- goal: fewer empty docks at rush hour; rebalancing trucks use the forecast\n"
        "- regression per dock per 15 min; baseline = same slot last week\n"
        "- feats: weather, events, lagged pickups; split by week\n"
        "- GBDT, MAE per dock; batch every 15 min to the ops map\n"
        "- watch error on rainy days, dock sensor outages"
    ),
    "weak_answer": (
        "To stop fake reviews I would train a neural network on reviews that were fake and "
        "real. Then we block the fake ones. We can check accuracy on a test set."
    ),
}
NOT_DESIGNS = {
    "release_notes": (
        "Version 4.1.0\n- Added GPU support for the k-means estimator.\n"
        "- Fixed a crash in the ROC curve with a single class.\n"
        "- Changed the default learning rate of the boosting models to 0.05.\n"
        "- Deprecated the old tokenizer API; it will be removed in 5.0.0."
    ),
    "explainer": (
        "Dropout is a regularisation technique for neural networks. During training, each "
        "unit is switched off with some probability, so the network cannot rely on any single "
        "unit. At inference time all units are used and their outputs are scaled. Dropout "
        "often reduces overfitting in large fully connected layers, for example in image "
        "classifiers, while convolutional layers usually benefit less."
    ),
    "tips_list": (
        "Seven habits of strong ML interview candidates: they ask about the business goal, "
        "they name a baseline, they mention leakage, they talk about online tests, they "
        "plan monitoring, they manage the clock, and they explain trade-offs out loud. "
        "Interviewers usually notice when you skip one of them."
    ),
}


@pytest.fixture(scope="module")
def grade(embedder):
    rubric = load_rubric(Settings().rubric_path)

    def run(text: str):
        return grade_design(text, "senior", rubric=rubric, embedder=embedder)

    return run


def test_the_shipped_model_matches_the_features():
    model = design_check.load_design_model()
    assert model is not None, "run scripts/train_design_check.py"
    assert model.weights.shape == model.mean.shape == (len(design_check.FEATURES),)
    assert np.all(model.scale > 0)


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_designs_in_any_voice_are_graded(grade, name):
    report = grade(DESIGNS[name])
    assert report.is_design, report.summary
    assert report.overall > 0


@pytest.mark.parametrize("name", sorted(NOT_DESIGNS))
def test_texts_that_propose_no_system_score_zero_with_one_line_reason(grade, name):
    report = grade(NOT_DESIGNS[name])
    assert not report.is_design and report.overall == 0
    assert "does not look like an ML system design" in report.summary
    assert "\n" not in report.summary


def test_a_changelog_is_named_as_one(grade):
    assert "changelog" in grade(NOT_DESIGNS["release_notes"]).summary


def test_without_the_artefact_the_hand_rules_decide(grade, monkeypatch, tmp_path):
    monkeypatch.setattr(design_check, "MODEL_PATH", tmp_path / "absent.npz")
    monkeypatch.setattr(
        design_check, "load_design_model", lambda path=tmp_path / "absent.npz": None
    )
    assert not grade(NOT_DESIGNS["release_notes"]).is_design
    assert grade(DESIGNS["qa_transcript"]).overall >= 0  # graded, no crash


def test_training_documents_are_not_judging_documents():
    """The judging set stays unseen: no training document repeats a dev text."""
    dev = {p.read_text(encoding="utf-8").strip() for p in DEV.rglob("*.md")}
    dev_lines = {line.strip() for text in dev for line in text.splitlines() if len(line) > 60}
    for path in TRAIN_DOCS.rglob("*.md"):
        text = path.read_text(encoding="utf-8")
        assert text.strip() not in dev, path.name
        shared = [line for line in text.splitlines() if line.strip() in dev_lines]
        assert not shared, (path.name, shared[:1])
