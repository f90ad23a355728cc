"""`mlsd eval` through the real entry point: outputs, exit codes, and the regression gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

TINY = Path(__file__).parent / "fixtures" / "eval" / "tiny.jsonl"  # 2 valid rows, 1 bad


def _eval(store: Path, out: Path, *extra: str):
    # one mode, two questions: each run stays quick
    return run_cli(
        "eval", "--dataset", str(TINY), "--modes", "bm25", "--store", str(store),
        "--out", str(out), *extra,
    )  # fmt: skip


@pytest.fixture(scope="module")
def first_run(corpus_settings, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval_cli") / "first"
    result = _eval(corpus_settings.store_dir, out)
    assert result.returncode == 0, result.stderr
    return {"store": corpus_settings.store_dir, "out": out, "result": result}


def test_eval_writes_reports_and_reports_bad_lines(first_run):
    result, out = first_run["result"], first_run["out"]
    assert "skipped" in result.stderr and "tiny.jsonl:3:" in result.stderr
    assert "bm25" in result.stdout and "report.md" in result.stdout
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert list(data["modes"]) == ["bm25"]
    assert data["modes"]["bm25"]["metrics"]["hit@5"]["mean"] is not None
    for name in ("rows.csv", "report.md", "metrics_by_mode.png"):
        assert (out / name).stat().st_size > 0


def test_gate_passes_on_the_same_numbers_and_fails_on_a_drop(first_run, tmp_path):
    baseline = first_run["out"] / "report.json"
    same = _eval(first_run["store"], tmp_path / "same", "--baseline", str(baseline))
    assert same.returncode == 0, same.stderr
    assert "gate: passed" in same.stdout

    # a baseline that was better than today by more than --max-drop: the gate must fail
    better = json.loads(baseline.read_text(encoding="utf-8"))
    mrr = better["modes"]["bm25"]["metrics"]["mrr"]
    mrr["mean"] = mrr["mean"] + 0.1
    better_path = tmp_path / "better.json"
    better_path.write_text(json.dumps(better), encoding="utf-8")
    dropped = _eval(
        first_run["store"],
        tmp_path / "dropped",
        "--baseline",
        str(better_path),
        "--max-drop",
        "0.05",
    )
    assert dropped.returncode == 3, dropped.stderr
    assert "REGRESSION" in dropped.stdout and "gate: FAILED" in dropped.stderr


def test_usage_errors_exit_2(corpus_settings, tmp_path):
    store = str(corpus_settings.store_dir)
    assert run_cli("eval", "--modes", "fuzzy", "--store", store).returncode == 2
    assert run_cli("eval", "-k", "0", "--store", store).returncode == 2
    missing = run_cli("eval", "--dataset", str(tmp_path / "nope.jsonl"), "--store", store)
    assert missing.returncode == 2 and "Cannot read" in missing.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"reference": "no question"}\n', encoding="utf-8")
    none_valid = run_cli("eval", "--dataset", str(empty), "--store", store)
    assert none_valid.returncode == 2 and "no valid rows" in none_valid.stderr
    bad_base = tmp_path / "base.json"
    bad_base.write_text("{}", encoding="utf-8")
    result = run_cli("eval", "--dataset", str(TINY), "--baseline", str(bad_base), "--store", store)
    assert result.returncode == 2 and "report.json" in result.stderr
    no_llm = run_cli("eval", "--dataset", str(TINY), "--llm", "--store", store)
    assert no_llm.returncode == 2 and "OPENAI" in no_llm.stderr
