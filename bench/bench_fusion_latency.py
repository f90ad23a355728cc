"""Hybrid search latency at 10k chunks, this tree against another checkout, interleaved.

    git worktree add --detach /tmp/base <commit before the change>
    .venv/bin/python bench/bench_fusion_latency.py --base /tmp/base --rounds 3

On 2 shared cores the load changes from minute to minute, so two bench_scale runs taken
minutes apart are not comparable. Here one 10k-chunk store (bench/bench_scale.py's synthetic
corpus and stand-in embedder) is searched by bench_scale's own search child from each tree in
turn, `rounds` times, and the medians over rounds of each percentile are compared.
`fusion_step` times, in one process, what each tree does after the dense query: base's
BM25 top list + RRF against this tree's full BM25 scores + top list + query coverage +
convex fusion, at the same chunk count; the noise of Chroma and the encoder on shared cores
does not enter it (the dense query's depth does differ: see `hybrid_depth`).
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


def fusion_step(base: Path, n_chunks: int, queries: list[str], repeats: int = 5) -> dict:
    import importlib.util
    import random
    import time

    from bench.synthetic import corpus_sentences
    from core.settings import Settings
    from tools.bm25 import BM25Index, top_of
    from tools.fusion import FusionParams, fuse, rrf

    spec = importlib.util.spec_from_file_location("base_bm25", base / "tools" / "bm25.py")
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    rng, pool = random.Random(5), corpus_sentences()
    texts = [" ".join(rng.choices(pool, k=rng.randint(4, 9))) for _ in range(n_chunks)]
    ids = [f"c{i:05d}" for i in range(n_chunks)]
    position = {cid: i for i, cid in enumerate(ids)}
    old_index, new_index = old.BM25Index(texts), BM25Index(texts)
    s = Settings()
    depth, params = s.hybrid_depth, FusionParams.from_settings(s)
    rrf_today = FusionParams("rrf", rrf_k=40)
    dense = {
        q: sorted(
            ((ids[rng.randrange(n_chunks)], rng.uniform(0.1, 0.6)) for _ in range(depth)),
            key=lambda x: -x[1],
        )
        for q in queries
    }

    def old_step(q: str) -> None:
        bm25 = [(ids[i], sc) for i, sc in old_index.top(q, 50)]
        rrf(dense[q], bm25, rrf_today)

    def new_step(q: str) -> None:
        scores = new_index.scores(q)
        bm25 = [(ids[i], sc) for i, sc in top_of(scores, depth)]
        coverage = new_index.coverage(q, position[bm25[0][0]]) if bm25 else 0.0
        fuse(dense[q], bm25, params, lambda cid: float(scores[position[cid]]), coverage)

    out: dict = {}
    for name, step in (("base_bm25_rrf", old_step), ("this_bm25_convex", new_step)):
        per_query = []
        for q in queries:
            best = float("inf")
            for _ in range(repeats):  # the fastest of a few: the cost, not the machine's load
                start = time.perf_counter()
                step(q)
                best = min(best, time.perf_counter() - start)
            per_query.append(best * 1000)
        per_query.sort()
        out[name] = {
            "p50_ms": round(statistics.median(per_query), 3),
            "p95_ms": round(per_query[int(0.95 * (len(per_query) - 1))], 3),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--step-only", action="store_true", help="only the in-process fusion step")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench.synthetic import write_synthetic
    from core.settings import Settings

    golden = Settings().golden_path.read_text().splitlines()
    queries = [json.loads(x)["question"] for x in golden if x.strip()][: args.queries]
    step = fusion_step(args.base.resolve(), args.chunks, queries)
    print(json.dumps({"fusion_step": step}), flush=True)
    if args.step_only:
        previous = json.loads(OUT.read_text()) if OUT.exists() else {}
        OUT.write_text(json.dumps({**previous, "fusion_step": step}, indent=1))
        return
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
    result["fusion_step"] = step
    result["hybrid_p95_this_over_base"] = round(
        result["this"]["hybrid"]["p95_ms"] / result["base"]["hybrid"]["p95_ms"], 3
    )
    OUT.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
