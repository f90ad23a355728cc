"""A short bullet is read with its heading and parent line (tools/grader/evidence.py)."""

from __future__ import annotations

from tools.grader.evidence import CONTEXT_MAX_WORDS, context_strings, in_context
from tools.grader.text import split_passages


def _read(design: str) -> dict[str, str]:
    passages = [p for p in split_passages(design) if not p.is_heading]
    return {p.text: c for p, c in zip(passages, context_strings(passages, design))}


def test_a_short_bullet_is_read_under_its_heading():
    read = _read("## Metrics\n\n- offline: recall@50, NDCG@10\n- online: bookings per search\n")
    assert read["offline: recall@50, NDCG@10"] == "Metrics: offline: recall@50, NDCG@10"
    assert read["online: bookings per search"] == "Metrics: online: bookings per search"


def test_a_nested_bullet_is_read_under_its_parent_not_its_sibling():
    design = (
        "## Evaluation\n\n- Offline:\n  - recall@50\n  - NDCG@10\n- Online:\n  - A/B on bookings\n"
    )
    read = _read(design)
    assert read["recall@50"] == "Evaluation: Offline: recall@50"
    assert read["NDCG@10"] == "Evaluation: Offline: NDCG@10"  # a sibling is never context
    assert read["A/B on bookings"] == "Evaluation: Online: A/B on bookings"


def test_a_list_is_read_after_the_paragraph_that_introduces_it():
    read = _read("We'd track these offline:\n\n- recall@50\n- calibration error\n")
    assert read["recall@50"] == "We'd track these offline: recall@50"


def test_a_full_sentence_is_read_alone():
    sentence = "We retrain the ranker every week on the last 30 days of bookings and clicks."
    assert len(sentence.split()) >= CONTEXT_MAX_WORDS
    assert _read(f"## Monitoring\n\n{sentence}\n")[sentence] == sentence
    assert in_context("recall@50", "", "") == "recall@50"
