"""Hybrid search latency at 10k chunks, this tree against another checkout, interleaved.

    git worktree add --detach /tmp/base <commit before the change>
    .venv/bin/python bench/bench_fusion_latency.py --base /tmp/base --rounds 3

On 2 shared cores the load changes from minute to minute, so two bench_scale runs taken
minutes apart are not comparable. Here one 10k-chunk store (bench/bench_scale.py's synthetic
corpus and stand-in embedder) is searched by bench_scale's own search child from each tree in
turn, `rounds` times, and the medians over rounds of each percentile are compared.
Writes bench/results/fusion_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "fusion_latency.json"


def child(tree: Path, kind: str, args: dict) -> dict:
    cmd = [sys.executable, str(tree / "bench" / "bench_scale.py"), "--child", kind]
    done = subprocess.run(
        [*cmd, "--child-args", json.dumps(args)], capture_output=True, text=True, cwd=tree
    )
    if done.returncode != 0:
        raise RuntimeError(f"{tree} {kind} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=60)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench.synthetic import write_synthetic
    from core.settings import Settings

    golden = Settings().golden_path.read_text().splitlines()
    queries = [json.loads(x)["question"] for x in golden if x.strip()][: args.queries]
    trees = {"base": args.base.resolve(), "this": ROOT}
    samples: dict[str, list[dict]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory(prefix="mlsd-fusion-lat-") as tmp:
        base = Path(tmp)
        write_synthetic(base / "sample", 300, seed=99)
        write_synthetic(base / "docs", args.chunks)
        common = {"store_dir": str(base / "store"), "cache_dir": str(base / "cache")}
        embed = {**common, "sample_dir": str(base / "sample"), "sample_chunks": 64}
        embed["vectors"] = str(base / "sentences.npz")
        info = child(ROOT, "embed", embed)
        ingest = child(
            ROOT, "ingest", {**common, **embed, "model_info": info, "docs": str(base / "docs")}
        )
        for _ in range(args.rounds):
            for name, tree in trees.items():  # interleaved: each tree sees the same load
                samples[name].append(child(tree, "search", {**common, "queries": queries}))
    result: dict = {
        "chunks": ingest["chunks"],
        "rounds": args.rounds,
        "queries": len(queries),
        "load_avg_end": [round(x, 1) for x in os.getloadavg()],
    }
    for name, runs in samples.items():
        result[name] = {
            mode: {
                p: round(statistics.median(r[mode][p] for r in runs), 2)
                for p in ("p50_ms", "p95_ms")
            }
            for mode in ("floor", "hybrid", "dense", "bm25")
        }
    result["hybrid_p95_this_over_base"] = round(
        result["this"]["hybrid"]["p95_ms"] / result["base"]["hybrid"]["p95_ms"], 3
    )
    OUT.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
