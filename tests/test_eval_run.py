"""End-to-end evaluation runs over the real corpus store: reports on disk, LLM metrics through a
real OpenAI-compatible HTTP server on 127.0.0.1 (scripted judge replies), faults per row."""

from __future__ import annotations

import csv
import itertools
import json
import math
from pathlib import Path

import pytest
from fake_openai import Reply

from eval.phases import PHASE
from eval.report import write_report
from eval.runner import run_eval
from tools.deps import Deps

SMALL = Path(__file__).parent / "fixtures" / "eval" / "small.jsonl"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FAIL_MARKER = "PR-AUC"  # the judge fails every request about this row's question


@pytest.fixture
def corpus_deps(corpus_settings, embedder) -> Deps:
    return Deps(corpus_settings, embedder_override=embedder)


def _prompt(request: dict) -> str:
    content = request["messages"][-1]["content"]
    if isinstance(content, list):
        content = " ".join(part.get("text", "") for part in content)
    return content


def judge(verdicts=None):
    """A RAGAS judge: answers each ragas prompt with the JSON its parser expects.

    `verdicts` yields the faithfulness verdict of the second statement (to make repeats differ).
    """
    verdicts = verdicts or itertools.repeat(1)

    def handler(request: dict):
        text = _prompt(request)
        if FAIL_MARKER in text:
            return Reply.status(500, message="judge overloaded")
        if "fully understandable statements" in text:
            return {"statements": ["Statement one.", "Statement two."]}
        if "judge the faithfulness" in text:
            second = next(verdicts)
            return {
                "statements": [
                    {"statement": "Statement one.", "reason": "stated", "verdict": 1},
                    {"statement": "Statement two.", "reason": "maybe", "verdict": second},
                ]
            }
        if "Generate a question for the given answer" in text:
            return {"question": "How should data be split by time?", "noncommittal": 0}
        if "context was useful" in text:
            return {"reason": "it helps", "verdict": 1}
        return "A short answer grounded in the study notes [1]."  # the answering agent, if any

    return handler


def test_offline_run_writes_parseable_reports(corpus_deps, tmp_path):
    calls = []
    report = run_eval(
        corpus_deps, SMALL, ["hybrid", "bm25"], k=5, progress=lambda *a: calls.append(a)
    )
    assert [b.line for b in report.bad_lines] == [5, 6]
    assert report.settings["answerer"] == "offline-agent"
    fusion = report.settings["hybrid"]  # the report says which fusion produced its numbers
    assert (fusion["fusion"], fusion["alpha"], fusion["depth"]) == (
        corpus_deps.settings.hybrid_fusion,
        corpus_deps.settings.hybrid_alpha,
        corpus_deps.settings.hybrid_depth,
    )
    rows_done = [c for c in calls if not c[2].startswith(PHASE)]
    assert rows_done[-1][:2] == (8, 8) and len(rows_done) == 8  # 4 valid rows x 2 modes
    phases = [c[2][len(PHASE) :] for c in calls if c[2].startswith(PHASE)]
    assert phases[0] == "reading the dataset" and "answering" in phases  # shown as they start
    assert calls.index(rows_done[0]) > calls.index((0, 8, f"{PHASE}answering"))
    assert {"dataset", "store", "answer", "score", "total"} <= set(report.timings)
    assert report.timings["answer"] <= report.timings["total"]

    for mode in ("hybrid", "bm25"):
        result = report.modes[mode]
        rows = {r["id"]: r for r in result.rows}
        assert set(rows) == {"temporal", "pr-auc", "focal", "weather"}
        # the out-of-scope row is kept out of retrieval and RAGAS metrics, but feeds decline_rate
        assert rows["weather"]["metrics"] == {}
        assert result.metrics["decline_rate"].n == 1
        assert result.metrics["hit@5"].n == 3
        for name in ("mrr", "ndcg@5", "non_llm_context_recall", "rouge_score"):
            assert 0.0 <= result.metrics[name].mean <= 1.0
        assert all(0 <= r["metrics"]["hit@5"] <= 1 for r in result.rows if not r["out_of_scope"])
        assert "faithfulness" not in result.metrics  # no LLM metrics without --llm

    paths = write_report(report, tmp_path / "out")
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert set(data) >= {"dataset", "created", "settings", "modes"}
    assert set(data["modes"]["hybrid"]["metrics"]["mrr"]) >= {"mean", "std"}
    with paths["csv"].open(encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 8 and {"mode", "id", "hit@5", "mrr", "ndcg@5"} <= set(table[0])
    markdown = paths["md"].read_text(encoding="utf-8")
    assert "| metric | hybrid | bm25 |" in markdown and "line 5" in markdown
    pngs = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert pngs == ["hit_by_stage.png", "metrics_by_mode.png", "score_distribution.png"]
    for png in (tmp_path / "out").glob("*.png"):
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 1000


def test_llm_metrics_with_repeats_against_a_real_http_judge(
    corpus_settings, embedder, fake_openai, tmp_path
):
    fake_openai.handler = judge(verdicts=itertools.cycle([1, 0]))
    settings = corpus_settings.model_copy(update=fake_openai.settings_overrides())
    deps = Deps(settings, embedder_override=embedder)
    report = run_eval(deps, SMALL, ["hybrid"], k=3, llm=True, repeats=2)

    result = report.modes["hybrid"]
    rows = {r["id"]: r for r in result.rows}
    assert report.settings["answerer"] == "llm-agent"
    temporal = rows["temporal"]
    assert temporal["answer"] and not temporal["fallback_reason"]
    faith = temporal["llm"]["faithfulness"]
    # verdicts alternate 1/0 for the second statement: runs of 1.0 and 0.5, mean 0.75
    assert sorted(faith["runs"]) == [0.5, 1.0]
    assert faith["mean"] == pytest.approx(0.75) and faith["std"] == pytest.approx(0.25)
    assert not faith["straddles_0_5"]
    assert temporal["llm"]["answer_relevancy"]["mean"] > 0.5
    assert temporal["llm"]["llm_context_precision_with_reference"]["mean"] == pytest.approx(1.0)
    assert result.metrics["faithfulness"].repeat_std is not None
    assert len(fake_openai.chat_requests) > 10  # the judge was really called over HTTP

    # the judge failed on one row: NaN with the reason on that row, the run went on
    failed = rows["pr-auc"]
    assert failed["llm"]["faithfulness"]["mean"] is None
    assert all(v is None for v in failed["llm"]["faithfulness"]["runs"])
    assert (
        "500" in failed["errors"]["faithfulness"]
        or "overloaded" in failed["errors"]["faithfulness"]
    )
    assert math.isfinite(result.metrics["faithfulness"].mean)

    paths = write_report(report, tmp_path / "llm", plots=False)
    data = json.loads(paths["json"].read_text(encoding="utf-8"))  # strict JSON: NaN became null
    stored = {r["id"]: r for r in data["modes"]["hybrid"]["rows"]}
    assert stored["pr-auc"]["metrics"]["faithfulness"] is None
    assert "Failures recorded on rows" in paths["md"].read_text(encoding="utf-8")


def test_straddling_repeats_are_flagged(corpus_settings, embedder, fake_openai, tmp_path):
    # two of three statements flip their verdict on each request: runs of 1/3 and 1.0
    flips = itertools.cycle([0, 1])

    def handler(request: dict):
        text = _prompt(request)
        if "fully understandable statements" in text:
            return {"statements": ["One.", "Two.", "Three."]}
        if "judge the faithfulness" in text:
            v = next(flips)
            verdicts = [1, v, v]
            return {
                "statements": [
                    {"statement": s, "reason": "r", "verdict": x}
                    for s, x in zip(["One.", "Two.", "Three."], verdicts)
                ]
            }
        return judge()(request)

    fake_openai.handler = handler
    settings = corpus_settings.model_copy(update=fake_openai.settings_overrides())
    dataset = tmp_path / "one.jsonl"
    dataset.write_text(SMALL.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    report = run_eval(Deps(settings, embedder_override=embedder), dataset, ["bm25"], 3, True, 2)
    faith = report.modes["bm25"].rows[0]["llm"]["faithfulness"]
    assert sorted(round(v, 3) for v in faith["runs"]) == [0.333, 1.0]
    assert faith["straddles_0_5"]
    paths = write_report(report, tmp_path / "flag", plots=False)
    assert "straddle 0.5" in paths["md"].read_text(encoding="utf-8")


@pytest.mark.slow
def test_full_golden_set_in_three_modes(corpus_deps, tmp_path):
    from eval.dataset import load_dataset

    golden = load_dataset(corpus_deps.settings.golden_path)
    report = run_eval(corpus_deps, golden.path, ["hybrid", "dense", "bm25"], k=5)
    in_scope = [r for r in golden.rows if not r.out_of_scope]
    for result in report.modes.values():
        assert result.metrics["hit@5"].n == len([r for r in in_scope if r.has_targets])
        assert result.metrics["decline_rate"].n == len(golden.rows) - len(in_scope)
        assert result.metrics["non_llm_context_recall"].n > 0
    assert not report.warnings, report.warnings  # every golden source resolves in the store
    paths = write_report(report, tmp_path / "golden")
    assert paths["md"].exists()


def test_a_slow_judge_is_cut_off_and_recorded(make_settings, embedder, fake_openai):
    from eval.ragas_metrics import RagasScorer, ScoreInput, build_judge_llm

    fake_openai.always(Reply.text('{"statements": ["x"]}', delay_s=3))
    settings = make_settings(**fake_openai.settings_overrides(eval_llm_metric_timeout_s=0.5))
    sample = ScoreInput(
        question="What is a temporal split?",
        answer="Train on the past and test on later periods.",
        retrieved_contexts=["Train on the past, validate and test on later periods."],
        answer_contexts=[],
        reference="Train on earlier data, test on later data.",
    )
    with RagasScorer(settings, embedder, build_judge_llm(settings)) as scorer:
        scores = scorer.score_llm(sample, repeats=1)
    for name in ("faithfulness", "answer_relevancy", "llm_context_precision_with_reference"):
        assert scores[name].mean is None
        assert "Timeout" in scores[name].errors[0]
