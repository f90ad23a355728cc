"""The not-a-design check reads a document's structure (issue #16 item 3): a design written as
notes (a heading skeleton that walks the stages, a title naming one thing to build, terse
fragments without "I" or "we") is a design; an interview-advice article with the same stage
headings, written to "you" about designs in general, is not.

Texts here are new: not among the training documents of scripts/train_design_check.py.
"""

from __future__ import annotations

import pytest

from core.settings import Settings
from tools.grader import grade_design
from tools.grader.structure import document_outline
from tools.grader.text import split_passages
from tools.rubric import load_rubric

STAGES = [
    "Problem formulation",
    "Metrics",
    "Architecture",
    "Data preparation",
    "Feature engineering",
    "Model development and offline evaluation",
    "Prediction service",
    "Online testing and deployment",
    "Monitoring and scaling",
]
NOTE_BODIES = [
    "- Wine shop app: user photographs a bottle label, app shows the wine, price range, "
    "reviews\n- Task: image retrieval over ~400k catalogue labels, top-1 must be the exact "
    "vintage family\n- Goal: more label scans that end in a product page view or purchase",
    "- Offline: top-1 / top-5 retrieval accuracy on held-out phone photos\n- Online: scan "
    "success rate (product page opened), purchases per scan\n- Guardrail: p95 scan latency",
    "- Phone: crop + quality check -> upload\n- Server: label encoder -> ANN index over "
    "catalogue embeddings -> re-rank with OCR text match -> result",
    "- Catalogue images from distributors (clean, frontal)\n- 60k phone photos matched to "
    "catalogue ids by annotators; glare, curved bottles, partial labels\n- Split by wine "
    "(no label family in train and test)",
    "- Image embedding of the label crop\n- OCR tokens: producer, region, vintage year\n"
    "- Colour histogram as a cheap tie-breaker",
    "- Baseline: OCR text search on producer + vintage\n- Main: metric-learning encoder "
    "(triplet loss, hard negatives = same producer, other cuvee)\n- Offline: accuracy by "
    "photo quality bucket, by country",
    "- ANN lookup ~15 ms, re-rank ~20 ms; index rebuilt nightly for new catalogue items",
    "- Shadow: log predictions on 5% of scans\n- A/B by user on scan success rate; rollback "
    "to the OCR baseline behind a flag",
    "- Scan failure rate by phone model and by region\n- New vintages each year: embed new "
    "catalogue images daily, retrain the encoder quarterly",
]
ADVICE_BODIES = [
    "Before you draw anything, restate the prompt and ask about users, scale and latency. "
    "Interviewers typically want to hear you turn the business goal into an ML task.",
    "You should name one offline and one online metric and explain why they fit. Strong "
    "candidates usually add a guardrail.",
    "Sketch the main boxes first. You can always zoom in later if the interviewer asks.",
    "Talk about where your labels come from and how you'd split the data. Interviewers "
    "often probe for leakage here.",
    "You don't need a long list: a few feature groups with an example each is usually enough.",
    "Start with a baseline and say why, then propose the model you'd really use and its loss.",
    "Cover batch vs. online prediction and where your features come from at request time.",
    "Describe an A/B test: the unit, the metric and how long it runs. Mention a canary.",
    "Finish with what you'd watch after launch and how often you'd retrain.",
]


def skeleton(title: str, bodies: list[str], numbered: str = "## {n}. {name}") -> str:
    sections = [
        f"{numbered.format(n=n, name=name)}\n{body}"
        for n, (name, body) in enumerate(zip(STAGES, bodies, strict=True), start=1)
    ]
    return f"# {title}\n\n" + "\n\n".join(sections) + "\n"


NOTE_DESIGN = skeleton("Design a wine label recognition system", NOTE_BODIES)
ADVICE = skeleton("How to answer any ML system design interview question", ADVICE_BODIES)


@pytest.fixture(scope="module")
def rubric():
    return load_rubric(Settings().rubric_path)


@pytest.fixture(scope="module")
def grade(embedder, rubric):
    def run(text: str):
        return grade_design(text, "senior", rubric=rubric, embedder=embedder)

    return run


def outline(text: str, rubric):
    return document_outline(text, [p.text for p in split_passages(text) if p.is_heading], rubric)


def test_a_note_form_design_with_a_stage_skeleton_and_no_first_person_is_a_design(grade):
    assert not any(w in NOTE_DESIGN.lower().split() for w in ("i", "we", "our", "i'd", "we'd"))
    report = grade(NOTE_DESIGN)
    assert report.is_design, report.summary
    assert report.overall > 0


def test_advice_with_the_same_stage_headings_in_second_person_is_not_a_design(grade, rubric):
    # the section headings are the same and name most stages: the skeleton alone does not decide
    def sections(text: str) -> list[str]:
        return outline(text.split("\n", 1)[1], rubric).stages  # without the title line

    assert sections(ADVICE) == sections(NOTE_DESIGN) and len(sections(ADVICE)) >= 6
    report = grade(ADVICE)
    assert not report.is_design and report.overall == 0, report.summary
    assert "\n" not in report.summary


def test_numbered_plain_lines_count_as_headings(rubric):
    text = (
        "A short framework\n\n"
        "1) Clarify the requirements first\nAsk questions.\n\n"
        "2) Draw the end-to-end pipeline (data -> training -> inference)\nBoxes.\n\n"
        "Step 3: Data collection - labels and splits\nMore.\n\n"
        "4. Deployment: shadow, canary, A/B\nRollout.\n"
    )
    stages = outline(text, rubric).stages
    assert {"problem_framing", "high_level_design", "data_features"} <= set(stages)
    assert "deployment_serving" in stages
    # a long numbered sentence is a list item, not a heading
    long_item = "1. Start by giving the model every feature you can think of and see what it does"
    assert outline(long_item, rubric).stages == []


@pytest.mark.parametrize(
    ("title", "score"),
    [
        ("Design an event recommendation system", 1.0),
        ("Hotel search ranking", 1.0),
        ("How to answer ML design questions", -1.0),
        ("Release notes 2.3.0", -1.0),
        ("Two-tower retrieval and multi-stage ranking", 0.0),  # a concept, no domain
        ("Monitoring and drift detection", 0.0),
    ],
)
def test_the_title_names_one_thing_to_build_or_a_topic(rubric, title, score):
    assert outline(f"# {title}\n\nSome text about it.\n", rubric).title_score == score
