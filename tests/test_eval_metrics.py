"""Unit tests for the eval building blocks: dataset parsing, retrieval metrics, summaries, gate.

No model and no store: the metric functions are exercised on hand-built chunks where the right
answer is known by construction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from core.errors import InputError
from eval.dataset import load_dataset, parse_lines
from eval.gate import compare
from eval.ragas_metrics import RepeatedScore
from eval.retrieval_metrics import (
    hit_at_k,
    matches_context,
    matches_source,
    ndcg_at_k,
    overlap,
    reciprocal_rank,
    relevance,
    retrieval_scores,
)
from eval.summary import summarize


@dataclass
class Chunk:
    text: str
    source: str
    section: str


SPLITS = "concepts/data-splits-and-leakage.md"
TEMPORAL = Chunk(
    "Train on the past, validate and test on later periods. Leave a gap when labels are delayed.",
    SPLITS,
    "Data splits and leakage > Temporal splits",
)
RANDOM = Chunk(
    "Random splits are fine when examples are independent.",
    SPLITS,
    "Data splits and leakage > Random splits and when they are acceptable",
)
OTHER = Chunk("Focal loss down-weights easy examples.", "concepts/class-imbalance.md", "Focal")
GAP = "leave a gap   when labels\nare delayed"


# -- relevance -----------------------------------------------------------------------------
def test_source_matching_follows_the_heading_rule():
    assert matches_source(SPLITS, SPLITS, "anything")  # a file alone matches any section
    assert matches_source(f"{SPLITS}#Temporal splits", SPLITS, TEMPORAL.section)
    assert matches_source(f"{SPLITS}#temporal  splits", SPLITS, TEMPORAL.section)
    # a heading must be a whole component of the section path, not a substring of one
    assert not matches_source(f"{SPLITS}#Temporal", SPLITS, TEMPORAL.section)
    assert not matches_source(f"{SPLITS}#Temporal splits", SPLITS, RANDOM.section)
    assert not matches_source(f"{SPLITS}#Temporal splits", "concepts/other.md", TEMPORAL.section)


def test_reference_context_matches_with_normalized_whitespace_or_strong_overlap():
    assert matches_context(GAP, TEMPORAL.text)
    assert not matches_context(GAP, OTHER.text)
    # a passage split across two chunks still counts for the chunk holding most of it
    long_ref = TEMPORAL.text + " Walk-forward validation averages several test windows."
    assert overlap(long_ref, TEMPORAL.text) >= 0.6
    assert matches_context(long_ref, TEMPORAL.text)


# -- metrics where the right answer is known --------------------------------------------------
def test_perfect_retriever_scores_one():
    scores = retrieval_scores([TEMPORAL, OTHER, RANDOM], [f"{SPLITS}#Temporal splits"], [], k=3)
    assert scores["hit@3"] == 1.0
    assert scores["mrr"] == 1.0
    assert scores["ndcg@3"] == 1.0
    assert scores["recall@3"] == 1.0


def test_wrong_retriever_scores_zero():
    scores = retrieval_scores([OTHER, RANDOM], [f"{SPLITS}#Temporal splits"], [GAP], k=2)
    assert scores == {"hit@2": 0.0, "mrr": 0.0, "ndcg@2": 0.0, "recall@2": 0.0}


def test_rank_two_gives_half_reciprocal_rank():
    rels = relevance([OTHER, TEMPORAL], [], [GAP])
    assert rels == [0, 1]
    assert hit_at_k(rels, 2) == 1.0
    assert reciprocal_rank(rels, 2) == 0.5
    assert hit_at_k(rels, 1) == 0.0  # the cut-off is respected
    assert ndcg_at_k(rels, 2) == pytest.approx(1 / math.log2(3))


def test_ndcg_counts_relevant_chunks_the_retriever_missed():
    # one relevant chunk at rank 1, but the corpus holds three: the ideal list has three on top
    full = ndcg_at_k([1, 0, 0], 3, n_relevant=3)
    assert full == pytest.approx(1 / (1 + 1 / math.log2(3) + 0.5))
    assert ndcg_at_k([1, 0, 0], 3) == 1.0  # unknown corpus count: judged on what was retrieved
    assert ndcg_at_k([1, 1, 1], 3, n_relevant=10) == 1.0  # capped at k


def test_recall_counts_each_target_once():
    sources = [f"{SPLITS}#Temporal splits", "concepts/class-imbalance.md"]
    assert retrieval_scores([TEMPORAL, TEMPORAL], sources, [], k=2)["recall@2"] == 0.5
    assert retrieval_scores([TEMPORAL, OTHER], sources, [], k=2)["recall@2"] == 1.0


# -- dataset ---------------------------------------------------------------------------------
def test_bad_rows_are_reported_with_line_numbers_and_skipped():
    lines = [
        '{"question": "What is a temporal split?", "sources": "concepts/a.md"}',
        "",
        "{not json",
        '{"reference": "no question here"}',
        '["a", "list"]',
        '{"question": "   "}',
        '{"question": "Salary tips?", "kind": "out-of-scope"}',
        '{"question": "Bad type", "reference_contexts": 5}',
    ]
    data = parse_lines(lines)
    assert [r.line for r in data.rows] == [1, 7]
    assert data.rows[0].sources == ["concepts/a.md"]  # a single string becomes a list
    assert data.rows[1].out_of_scope and not data.rows[0].out_of_scope
    assert [b.line for b in data.bad_lines] == [3, 4, 5, 6, 8]
    assert "invalid JSON" in data.bad_lines[0].reason
    assert "question" in data.bad_lines[1].reason


def test_duplicate_ids_stay_unique():
    data = parse_lines(['{"id": "a", "question": "q1"}', '{"id": "a", "question": "q2"}'])
    assert len({r.id for r in data.rows}) == 2


def test_dataset_without_valid_rows_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"reference": "x"}\nnot json\n', encoding="utf-8")
    with pytest.raises(InputError, match="no valid rows.*line 1"):
        load_dataset(path)
    with pytest.raises(InputError, match="Cannot read"):
        load_dataset(tmp_path / "missing.jsonl")


# -- summaries and repeats ----------------------------------------------------------------------
def test_summary_means_skip_missing_values_and_rates_split_by_scope():
    rows = [
        {"metrics": {"mrr": 1.0, "rouge_score": None}, "declined": False, "llm": {}},
        {"metrics": {"mrr": 0.5, "rouge_score": 0.4}, "declined": True, "llm": {}},
        {"metrics": {}, "declined": True, "out_of_scope": True, "llm": {}},
        {"metrics": {}, "declined": False, "out_of_scope": True, "llm": {}},
    ]
    summary = summarize(rows)
    assert summary["mrr"].mean == 0.75 and summary["mrr"].std == 0.25 and summary["mrr"].n == 2
    assert summary["rouge_score"].n == 1
    assert summary["decline_rate"].mean == 0.5
    assert summary["false_decline_rate"].mean == 0.5


def test_repeated_scores_flag_verdicts_that_straddle_one_half():
    unstable = RepeatedScore(runs=[0.2, 0.8, math.nan], errors=["TimeoutError"])
    assert unstable.straddles
    assert unstable.mean == 0.5 and unstable.std == pytest.approx(0.3)
    assert unstable.to_json()["runs"] == [0.2, 0.8, None]
    assert not RepeatedScore(runs=[0.6, 0.9]).straddles
    assert RepeatedScore(runs=[math.nan]).mean is None


# -- regression gate -----------------------------------------------------------------------------
def _report(k: int = 5, **means: float) -> dict:
    return {
        "settings": {"k": k},
        "modes": {"hybrid": {"metrics": {n: {"mean": v, "std": 0} for n, v in means.items()}}},
    }


def test_gate_flags_only_drops_beyond_the_limit():
    base = _report(mrr=0.80, rouge_score=0.30, false_decline_rate=0.10)
    within = compare(base, _report(mrr=0.78, rouge_score=0.40, false_decline_rate=0.11), 0.02)
    assert within.passed, within.lines()
    dropped = compare(base, _report(mrr=0.70, rouge_score=0.30, false_decline_rate=0.10), 0.02)
    assert [d.metric for d in dropped.regressions] == ["mrr"]
    # a rate of failures regresses when it goes up
    worse = compare(base, _report(mrr=0.80, rouge_score=0.30, false_decline_rate=0.20), 0.02)
    assert [d.metric for d in worse.regressions] == ["false_decline_rate"]


def test_gate_notes_what_it_cannot_compare():
    result = compare(_report(k=5, mrr=0.8), _report(k=3, other=0.1), 0.02)
    assert result.passed
    assert any("k differs" in n for n in result.notes)
    assert any("mrr" in n for n in result.notes)


def test_importing_eval_does_not_load_ragas_or_plotting():
    import subprocess
    import sys

    from conftest import ROOT

    code = (
        "import sys, eval.runner, eval.report, eval.gate, cli.eval_cmd; "
        "print(sorted(m for m in ('ragas', 'matplotlib', 'langchain_openai') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "[]"
