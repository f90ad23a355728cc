"""`make bench` runs real scripts and reads every result file's targets."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT))
from bench.run_all import RESULTS, plan, targets  # noqa: E402


def test_make_bench_points_at_scripts_that_exist():
    makefile = (ROOT / "Makefile").read_text()
    scripts = re.findall(r"bench/[\w/]+\.py", makefile)
    assert scripts and all((ROOT / s).is_file() for s in scripts)
    for script, _, cmd in plan(quick=False, scale=True, out_dir=RESULTS):
        assert (ROOT / "bench" / script).is_file() and cmd[1].endswith(script)


def test_quick_runs_never_write_the_reference_results(tmp_path):
    for _script, result, cmd in plan(quick=True, scale=True, out_dir=tmp_path):
        if "--out" in cmd:
            assert cmd[cmd.index("--out") + 1] == str(result) and result.parent == tmp_path


def test_dry_run_lists_one_command_per_benchmark():
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_all.py"), "--dry-run"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(out) == len(plan(quick=False, scale=False, out_dir=RESULTS))


def test_targets_are_read_from_each_committed_result():
    for name in ("ingest.json", "ask.json", "embed.json", "grader.json"):
        found = targets(RESULTS / name)
        assert found, name
        assert all(isinstance(v, bool) for v in found.values())
    assert targets(RESULTS / "missing.json") == {}
