"""Embedding backends benchmark (issue #9). Writes bench/results/embed.json.

One run, the shipped corpus, all three backends (`torch`, `onnx`, `onnx-int8`):
 (a) first-use export time (fresh model cache) and load time of a cached export vs torch,
 (b) ingest wall time per backend (model already loaded; rounds interleaved, order alternated,
     median taken, because the machine is shared),
 (c) golden-set retrieval: hit@5 per backend, and how often onnx and torch return the same
     top-5 (hybrid and dense),
 (d) cold `mlsd search ... --json` (a new process each time) and `mlsd --help`,
 (e) resident memory of a process after loading the backend and running a first search.
Targets: (d) search median <= 1.5 s, help <= 0.5 s; (b) onnx/torch <= 0.95, int8/torch <= 0.55;
(c) int8 hit@5 within 2 points of onnx, identical top-5 onnx vs torch >= 98%.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.offline import apply_offline_env  # noqa: E402
from core.settings import Settings  # noqa: E402

BACKENDS = ("torch", "onnx", "onnx-int8")
MLSD = [sys.executable, "-m", "cli"]
QUERY = "how do I avoid training-serving skew in a feature store"

MEMORY_PROBE = """
import json, resource, sys
from core.settings import Settings
from tools.search import Retriever
hits = Retriever(Settings()).search(sys.argv[1], k=5)
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
mb = {k: round(int(status[k].split()[0]) / 1024) for k in ("VmRSS", "VmHWM")}
print(json.dumps({"hits": len(hits), "rss_mb": mb["VmRSS"], "peak_rss_mb": mb["VmHWM"]}))
"""

LOAD_PROBE = """
import sys
from ingest.embeddings import build_embedder
from core.settings import Settings
e = build_embedder(Settings().embed_model, sys.argv[1], sys.argv[2])
e.encode(["warm up"])
print(e.backend, "torch" in sys.modules)
"""

IMPORTS = {
    "python": "pass",
    # cli.main builds its typer app on first use (cli/quick.py answers `progress` without it)
    "cli (typer, settings)": "import cli.main, typer; from core.settings import Settings",
    "chromadb": "import chromadb",
    "onnxruntime+tokenizers": "import onnxruntime, tokenizers",
    "torch+sentence_transformers": "import sentence_transformers",
}


def timed(fn):
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - start, time.process_time() - cpu, result


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def env_for(settings: Settings, backend: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLSD_", "OPENAI_"))}
    return env | {
        "MLSD_STORE_DIR": str(settings.store_dir),
        "MLSD_MODEL_CACHE_DIR": str(settings.model_cache_dir),
        "MLSD_EMBED_BACKEND": backend,
    }


def run_cold(args: list[str], env: dict, runs: int) -> dict:
    """Whole-process wall and CPU time of a fresh `mlsd` process, after one warm-up run."""
    subprocess.run(MLSD + args, env=env, cwd=ROOT, capture_output=True, check=True)
    walls, cpus = [], []
    for _ in range(runs):
        before = os.times()
        start = time.perf_counter()
        subprocess.run(MLSD + args, env=env, cwd=ROOT, capture_output=True, check=True)
        walls.append(time.perf_counter() - start)
        after = os.times()
        cpus.append(
            (after.children_user - before.children_user)
            + (after.children_system - before.children_system)
        )
    return {
        "runs": runs,
        "median_s": round(statistics.median(walls), 3),
        "min_s": round(min(walls), 3),
        "max_s": round(max(walls), 3),
        "median_cpu_s": round(statistics.median(cpus), 3),
    }


def run_python(code: str, args: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Wall and CPU seconds of a fresh interpreter running `code`, and its stdout."""
    before, start = os.times(), time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    wall, after = time.perf_counter() - start, os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return wall, cpu, out.stdout


def import_costs(runs: int = 3) -> dict:
    costs = {}
    for name, code in IMPORTS.items():
        samples = [run_python(code, []) for _ in range(runs)]
        costs[name] = {
            "median_wall_s": round(statistics.median(w for w, _, _ in samples), 3),
            "median_cpu_s": round(statistics.median(c for _, c, _ in samples), 3),
        }
    return costs


def load_costs(model: str, cache: str) -> dict:
    """First use (export into an empty cache) and later cold loads, each in a new process."""
    out: dict = {}
    for backend in ("onnx", "onnx-int8"):
        wall, cpu, stdout = run_python(LOAD_PROBE, [backend, cache])
        assert stdout.split()[0] == backend, f"{backend} fell back: {stdout}"
        out[f"first_use_{backend}"] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}
    for backend in BACKENDS:
        samples = [run_python(LOAD_PROBE, [backend, cache]) for _ in range(3)]
        backend_used, imported_torch = samples[0][2].split()
        out[f"cold_load_{backend}"] = {
            "median_wall_s": round(statistics.median(w for w, _, _ in samples), 3),
            "median_cpu_s": round(statistics.median(c for _, c, _ in samples), 3),
            "backend": backend_used,
            "imported_torch": imported_torch == "True",
        }
    return out


def golden_rows(settings: Settings):
    from eval.dataset import load_dataset

    rows = load_dataset(settings.golden_path).rows
    return [r for r in rows if not r.out_of_scope]


def retrieval(settings: Settings, embedder, rows, mode: str) -> dict:
    from eval.retrieval_metrics import hit_at_k, relevance
    from tools.search import Retriever

    retriever = Retriever(settings, embedder=embedder)
    tops, hits = {}, []
    for row in rows:
        found = retriever.search(row.question, k=5, mode=mode)
        tops[row.id] = [h.chunk_id for h in found]
        if row.has_targets:
            hits.append(hit_at_k(relevance(found, row.sources, row.reference_contexts), 5))
    return {"top5": tops, "hit@5": round(100 * statistics.mean(hits), 2), "judged": len(hits)}


def same_top5(a: dict, b: dict) -> float:
    return round(100 * statistics.mean(a[q] == b[q] for q in a), 2)


def bench_ingest(base: Path, embedders: dict, rounds: int) -> tuple[dict, dict]:
    from ingest.pipeline import ingest_paths

    walls: dict[str, list[float]] = {b: [] for b in BACKENDS}
    cpus: dict[str, list[float]] = {b: [] for b in BACKENDS}
    stores: dict[str, Settings] = {}
    for round_no in range(rounds):
        order = BACKENDS if round_no % 2 == 0 else tuple(reversed(BACKENDS))
        for backend in order:
            s = Settings(
                store_dir=base / f"store-{backend}-{round_no}",
                model_cache_dir=base / "models",
                embed_backend=backend,
            )
            wall, cpu, report = timed(
                lambda s=s, b=backend: ingest_paths(
                    [s.corpus_dir], s, embedder=embedders[b], progress=False
                )
            )
            assert not report.failed, report.failed
            walls[backend].append(wall)
            cpus[backend].append(cpu)
            stores[backend] = s
            print(f"ingest {backend} round {round_no}: {wall:.1f} s", flush=True)
    out = {
        b: {
            "wall_s": [round(w, 2) for w in walls[b]],
            "median_wall_s": round(statistics.median(walls[b]), 2),
            "median_cpu_s": round(statistics.median(cpus[b]), 2),
            "chunks": report.chunks_total,
        }
        for b in BACKENDS
    }
    torch_wall = out["torch"]["median_wall_s"]
    for b in ("onnx", "onnx-int8"):
        out[b]["wall_vs_torch"] = round(out[b]["median_wall_s"] / torch_wall, 3)
        # Same run, every round: the ratio per round is less exposed to load drift.
        out[b]["per_round_vs_torch"] = [round(x / t, 3) for x, t in zip(walls[b], walls["torch"])]
    return out, stores


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2, help="ingest rounds per backend")
    parser.add_argument("--cold-runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "embed.json")
    args = parser.parse_args()
    base_settings = Settings()
    apply_offline_env(base_settings.embed_model)
    from ingest.embeddings import build_embedder

    results: dict = {"machine": {"cpus": os.cpu_count(), "load_average_start": load_average()}}
    with tempfile.TemporaryDirectory(prefix="bench-embed-") as tmp:
        base = Path(tmp)
        cache = str(base / "models")
        model = base_settings.embed_model
        results["imports"] = import_costs()
        print(json.dumps(results["imports"]), flush=True)
        results["load"] = load_costs(model, cache)
        print(json.dumps(results["load"]), flush=True)
        embedders = {b: build_embedder(model, b, cache) for b in BACKENDS}
        assert all(e.backend == b for b, e in embedders.items())

        results["ingest"], stores = bench_ingest(base, embedders, args.rounds)
        print(json.dumps(results["ingest"]), flush=True)

        rows = golden_rows(base_settings)
        quality: dict = {"golden_rows": len(rows), "golden_path": str(base_settings.golden_path)}
        for mode in ("hybrid", "dense"):
            runs = {b: retrieval(stores[b], embedders[b], rows, mode) for b in BACKENDS}
            quality[mode] = {
                **{f"hit@5_{b}": runs[b]["hit@5"] for b in BACKENDS},
                "judged_rows": runs["torch"]["judged"],
                "same_top5_onnx_vs_torch_pct": same_top5(
                    runs["onnx"]["top5"], runs["torch"]["top5"]
                ),
                "same_top5_int8_vs_torch_pct": same_top5(
                    runs["onnx-int8"]["top5"], runs["torch"]["top5"]
                ),
            }
        results["quality"] = quality
        print(json.dumps(quality), flush=True)

        cold: dict = {}
        for backend in BACKENDS:
            runs = args.cold_runs if backend != "torch" else max(3, args.cold_runs // 2)
            env = env_for(stores[backend], backend)
            cold[f"search_{backend}"] = run_cold(["search", QUERY, "--json"], env, runs)
            print(backend, cold[f"search_{backend}"], flush=True)
        cold["help"] = run_cold(["--help"], env_for(stores["onnx"], "onnx"), args.cold_runs)
        results["cold_cli"] = cold

        memory = {}
        for backend in BACKENDS:
            out = subprocess.run(
                [sys.executable, "-c", MEMORY_PROBE, QUERY],
                env=env_for(stores[backend], backend),
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            memory[backend] = json.loads(out.stdout.strip().splitlines()[-1])
        results["memory_after_first_search"] = memory

    results["machine"]["load_average_end"] = load_average()
    ingest, q, cold = results["ingest"], results["quality"], results["cold_cli"]
    results["targets_met"] = {
        "cold_search_onnx_median<=1.5s": cold["search_onnx"]["median_s"] <= 1.5,
        "help_median<=0.5s": cold["help"]["median_s"] <= 0.5,
        "ingest_onnx/torch<=0.95": ingest["onnx"]["wall_vs_torch"] <= 0.95,
        "ingest_int8/torch<=0.55": ingest["onnx-int8"]["wall_vs_torch"] <= 0.55,
        "int8_hit@5_within_2pts_of_onnx": abs(
            q["hybrid"]["hit@5_onnx-int8"] - q["hybrid"]["hit@5_onnx"]
        )
        <= 2,
        "same_top5_onnx_vs_torch>=98%": q["hybrid"]["same_top5_onnx_vs_torch_pct"] >= 98,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(results, indent=1))
    tmp_out.replace(args.out)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
