"""The Evaluate page through `AppTest`: a real run on a small uploaded dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.settings import Settings


@pytest.fixture
def small_dataset() -> bytes:
    """Three golden rows plus one broken line (reported, not fatal)."""
    lines = Settings().golden_path.read_text(encoding="utf-8").splitlines()[:3]
    return ("\n".join(lines) + "\n{not json\n").encode()


def _evaluate_page(app_test):
    at = app_test().run()
    at.switch_page("ui/evaluate.py").run()
    assert not at.exception
    return at


def _run(at, dataset: bytes, modes: list[str]):
    at.radio[0].set_value("Upload a JSONL file").run()
    at.file_uploader(key="eval_upload").set_value(("mine.jsonl", dataset, "x")).run()
    at.multiselect[0].set_value(modes)
    at.number_input[0].set_value(3)
    [b for b in at.button if b.label == "Run evaluation"][0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_run_shows_metrics_rows_downloads_then_compares(app_test, app_env, small_dataset):
    at = _run(_evaluate_page(app_test), small_dataset, ["bm25"])
    assert not at.error, [e.value for e in at.error]
    metrics = at.dataframe[0].value
    assert list(metrics.columns) == ["bm25"]  # one column per mode, one row per metric
    assert "hit@3" in metrics.index and "mrr" in metrics.index
    rows = at.dataframe[-1].value
    assert len(rows) == 3 and set(rows["mode"]) == {"bm25"}
    assert any("1 dataset lines were skipped" in w.value for w in at.warning)
    labels = [d.proto.label for d in at.get("download_button")]
    assert labels == ["Download report.md", "Download report.json", "Download rows.csv"]
    runs = list(Path(app_env["MLSD_EVAL_DIR"]).glob("app-*/report.json"))
    assert len(runs) == 1
    assert json.loads(runs[0].read_text())["settings"]["k"] == 3

    at = _run(at, small_dataset, ["bm25", "dense"])
    assert list(at.dataframe[0].value.columns) == ["bm25", "dense"]
    compare = [e for e in at.expander if e.label.startswith("Compare")]
    assert compare
    table = compare[0].dataframe[0].value
    assert {"this run", "previous", "Δ"} <= set(table.columns)
    same = table[(table["mode"] == "bm25") & (table["metric"] == "mrr")]
    assert same["Δ"].iloc[0] == pytest.approx(0.0)  # bm25 is deterministic


def test_row_filters(app_test, small_dataset):
    at = _run(_evaluate_page(app_test), small_dataset, ["bm25", "dense"])
    assert len(at.dataframe[-1].value) == 6
    at.selectbox(key="rows_mode").set_value("dense").run()
    assert set(at.dataframe[-1].value["mode"]) == {"dense"}
    question = at.dataframe[-1].value["question"].iloc[0]
    at.text_input(key="rows_text").set_value(question[:25]).run()
    assert len(at.dataframe[-1].value) >= 1
    at.text_input(key="rows_text").set_value("no question says this").run()
    assert len(at.dataframe[-1].value) == 0


def test_no_run_yet_says_how_to_start(app_test):
    at = _evaluate_page(app_test)
    assert any("No evaluation run yet" in i.value for i in at.info)
