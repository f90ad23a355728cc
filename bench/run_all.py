"""Run the benchmarks one after another and summarize their targets (`make bench`).

Each benchmark is its own script writing its JSON to bench/results/; this runs them in
separate processes (one-time costs stay inside each script's own accounting) and prints one
line per target. `--quick` uses smaller stores and writes to bench/results/quick/ instead, so
a smoke run never overwrites the reference figures. bench/bench_scale.py (30k-100k chunks,
tens of minutes) runs only with `--scale`. Exit status: 1 if a script failed, else 0 (a missed
target is reported, not an error: the figures are the point).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

# (script, result file, arguments for a full run, arguments for --quick)
BENCHES: list[tuple[str, str, list[str], list[str]]] = [
    ("bench_grader.py", "grader.json", [], ["--runs", "3"]),
    ("bench_ingest.py", "ingest.json", ["--chunks", "10000"], ["--chunks", "2000"]),
    ("bench_ask.py", "ask.json", ["--chunks", "10000"], ["--chunks", "2000", "--queries", "30"]),
    ("bench_embed.py", "embed.json", [], ["--rounds", "1", "--cold-runs", "3"]),
    ("tune_hybrid.py", "hybrid_tuning.json", [], []),
    ("bench_cold.py", "cold.json", [], ["--runs", "3", "--no-profile"]),
    ("bench_fallback.py", "fallback.json", [], ["--runs", "3"]),
    ("bench_eval.py", "eval_overhead.json", [], ["--modes", "hybrid"]),
]
SCALE = ("bench_scale.py", "scale.json", [], ["--sizes", "10000", "--modes", "embedded"])


def plan(quick: bool, scale: bool, out_dir: Path) -> list[tuple[str, Path, list[str]]]:
    """(script, result file, command line) for each benchmark to run."""
    runs = []
    for script, result, full, short in BENCHES + ([SCALE] if scale else []):
        out = out_dir / result
        args = short if quick else full
        # tune_hybrid writes its fixed file; every other script takes --out
        takes_out = script != "tune_hybrid.py"
        cmd = [sys.executable, str(ROOT / "bench" / script), *args]
        cmd += ["--out", str(out)] if takes_out else []
        runs.append((script, out if takes_out else RESULTS / result, cmd))
    return runs


def targets(result: Path) -> dict[str, bool]:
    """The `targets_met` (or single `target_met`) entries of a result file."""
    try:
        data = json.loads(result.read_text())
    except (OSError, ValueError):
        return {}
    if isinstance(data.get("targets_met"), dict):
        return {k: bool(v) for k, v in data["targets_met"].items()}
    if "target_met" in data:  # bench_ask
        return {f"p95<={data.get('target_p95_ms', '?')}ms": bool(data["target_met"])}
    if "meets_target" in data:  # bench_grader
        return {f"median<{data.get('target_s', '?')}s": bool(data["meets_target"])}
    return {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small stores, bench/results/quick/")
    parser.add_argument("--scale", action="store_true", help="also run bench_scale.py (long)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = parser.parse_args()
    out_dir = RESULTS / "quick" if args.quick else RESULTS
    runs = plan(args.quick, args.scale, out_dir)
    if args.dry_run:
        for _, _, cmd in runs:
            print(" ".join(cmd))
        return 0
    out_dir.mkdir(parents=True, exist_ok=True)
    failed, summary = [], {}
    for script, result, cmd in runs:
        print(f"== {script}", flush=True)
        started = time.perf_counter()
        code = subprocess.run(cmd, cwd=ROOT).returncode
        seconds = round(time.perf_counter() - started, 1)
        summary[script] = {"exit": code, "seconds": seconds, "targets_met": targets(result)}
        if code != 0:
            failed.append(script)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"\n{'benchmark':<21} {'target':<32} met")
    for script, entry in summary.items():
        if entry["exit"] != 0:
            print(f"{script:<21} FAILED (exit {entry['exit']})")
        for name, met in entry["targets_met"].items():
            print(f"{script:<21} {name:<32} {'yes' if met else 'NO'}")
    print(f"results: {out_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
