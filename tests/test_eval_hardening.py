"""Evaluation inputs that used to stop a run, the row cap, Ctrl-C, and progress in a log.

Every test here failed before its fix: a BOM made line 1 invalid JSON, a deeply nested row
raised RecursionError out of the whole load, a huge dataset had no cap, Ctrl-C lost every row
done, and a non-TTY run printed nothing until the end.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

from eval.dataset import load_dataset, parse_lines
from eval.phases import PHASE
from eval.runner import run_eval
from tools.deps import Deps

SMALL = Path(__file__).parent / "fixtures" / "eval" / "small.jsonl"


def _rows(n: int) -> list[str]:
    return [
        json.dumps({"id": f"q{i}", "question": f"How do I split data by time? {i}"})
        for i in range(n)
    ]


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_text("\n".join(_rows(2)), encoding="utf-8-sig")  # writes the BOM first
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    dataset = load_dataset(path)
    assert [r.id for r in dataset.rows] == ["q0", "q1"] and not dataset.bad_lines


def test_a_deeply_nested_row_is_one_bad_line_and_the_rest_loads():
    nested = '{"question": "q", "x": ' + "[" * 50_000 + "]" * 50_000 + "}"
    dataset = parse_lines([_rows(1)[0], nested, _rows(3)[2]])
    assert [b.line for b in dataset.bad_lines] == [2]
    assert "nested too deeply" in dataset.bad_lines[0].reason
    assert [r.id for r in dataset.rows] == ["q0", "q2"]


def test_answer_spans_are_read():
    row = json.dumps({"question": "q", "answer_spans": "a verbatim span"})
    assert parse_lines([row]).rows[0].answer_spans == ["a verbatim span"]


def test_rows_past_the_cap_are_not_read(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(_rows(50)), encoding="utf-8")
    dataset = load_dataset(path, max_rows=7)
    assert len(dataset.rows) == 7 and dataset.truncated_at == 8


def test_a_fifo_is_not_read(tmp_path):
    import os

    from core.errors import InputError

    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        load_dataset(fifo)  # opening a FIFO with no writer would block forever


@pytest.fixture
def corpus_deps(corpus_settings, embedder) -> Deps:
    return Deps(corpus_settings, embedder_override=embedder)


def test_ctrl_c_returns_the_rows_done_so_far(corpus_deps):
    done: list[int] = []

    def progress(n: int, total: int, label: str) -> None:
        if not label.startswith(PHASE):
            done.append(n)
            if n == 3:
                raise KeyboardInterrupt  # what Ctrl-C raises in the main thread

    report = run_eval(corpus_deps, SMALL, ["hybrid", "bm25"], k=3, progress=progress)
    assert report.interrupted
    assert sum(len(m.rows) for m in report.modes.values()) == 3
    assert report.modes["hybrid"].metrics  # the partial rows are summarised


def test_the_row_cap_is_reported(corpus_deps):
    report = run_eval(corpus_deps, SMALL, ["bm25"], k=3, max_rows=2)
    assert len(report.modes["bm25"].rows) == 2
    assert any("row cap" in w for w in report.warnings)


def _eval_cmd(store: Path, out: Path, dataset: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cli",
        "eval",
        "--store",
        str(store),
        "--dataset",
        str(dataset),
        "--modes",
        "hybrid,bm25",
        "-k",
        "3",
        "--no-plots",
        "--out",
        str(out),
    ]


def test_progress_lines_reach_a_log_before_the_first_answer(corpus_settings, tmp_path):
    """stderr is a pipe here, as in a log: phases first, then n/N lines."""
    out = tmp_path / "run"
    result = subprocess.run(
        _eval_cmd(corpus_settings.store_dir, out, SMALL),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("eval: ")]
    assert lines[0] == "eval: checking the options and the dataset ..."
    answering = lines.index("eval: answering ...")
    first_row = next(i for i, line in enumerate(lines) if " rows (" in line)
    assert 0 < answering < first_row  # the phases were shown before any question's answer
    assert lines[first_row].startswith("eval: 1/8 rows")
    assert any(line.startswith("eval: 8/8 rows") for line in lines)
    timings = json.loads((out / "report.json").read_text())["timings"]
    assert timings["answer"] > 0 and timings["total"] >= timings["answer"]


def test_sigint_writes_a_partial_report(corpus_settings, tmp_path):
    dataset = tmp_path / "many.jsonl"
    dataset.write_text("\n".join(_rows(200)), encoding="utf-8")
    out = tmp_path / "run"
    proc = subprocess.Popen(
        _eval_cmd(corpus_settings.store_dir, out, dataset),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    try:
        for line in proc.stderr:  # wait until rows are being answered
            if " rows (" in line:
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "partial report" in err and "Traceback" not in err
    report = json.loads((out / "report.json").read_text())
    assert report["interrupted"] is True
    assert 0 < sum(len(m["rows"]) for m in report["modes"].values()) < 400


def test_max_rows_must_be_positive():
    result = run_cli("eval", "--max-rows", "0")
    assert result.returncode == 2 and "--max-rows" in result.stderr
