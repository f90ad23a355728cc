"""Cold commands against their import floor (issue #17 item 1). Writes bench/results/cold.json.

The floor is what no cold search can avoid: a new process that imports chromadb, onnxruntime
and tokenizers, opens the store, embeds the query with the cached ONNX export and runs one
vector query (`python bench/bench_cold.py --floor ...`, the `floor()` function below; it
imports nothing from this project). Measured interleaved in one run, order rotated each
round, new process each time, after one untimed warm-up of each (OS file cache warm, BM25
cache built, bytecode compiled), on the shipped corpus ingested into a store of its own:

    floor  |  `mlsd search QUERY --store DIR`  |  `mlsd --help`

Targets (medians): search <= 1.25x the floor, help <= 0.35x the floor. The machine is shared,
so the load average is recorded at the start and the end; only the ratios are comparable.
Each command's own imports are also listed (`python -X importtime`, cumulative, top 12).
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
BIN = Path(sys.executable).parent
MLSD = str(BIN / "mlsd")
QUERY = "how do I avoid data leakage with a temporal split"
TARGET_SEARCH, TARGET_HELP = 1.25, 0.35
ENV = {"ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def floor(store: str, collection: str, onnx_path: str, tokenizer_path: str, query: str) -> None:
    """The floor process: only the libraries a vector query needs, nothing of this project."""
    import chromadb
    import numpy as np
    import onnxruntime as ort
    import tokenizers
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False)
    client = chromadb.PersistentClient(path=store, settings=settings)
    col = client.get_collection(collection, embedding_function=None)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    tokenizer = tokenizers.Tokenizer.from_file(tokenizer_path)
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=256)
    enc = tokenizer.encode(query)
    ids = np.asarray([enc.ids], dtype=np.int64)
    mask = np.ones_like(ids)
    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    names = {i.name for i in session.get_inputs()}
    hidden = session.run(None, {k: v for k, v in feed.items() if k in names})[0]
    vector = hidden[0].mean(axis=0)
    vector /= np.linalg.norm(vector)
    res = col.query(query_embeddings=[vector.tolist()], n_results=5, include=["distances"])
    print(json.dumps({"ids": res["ids"][0], "distances": res["distances"][0]}))


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def prepare_store(store: Path) -> dict:
    """Ingest corpus/ into `store` (idempotent) and return what the floor needs to open it."""
    sys.path.insert(0, str(ROOT))
    from core.settings import Settings
    from ingest.embed_onnx import read_model_spec
    from ingest.embeddings import local_model_dir, model_label
    from ingest.onnx_cache import FILES, export_folder, model_fingerprint
    from ingest.store import open_store

    env = {**os.environ, **ENV}
    ingest = [MLSD, "ingest", str(ROOT / "corpus"), "--store", str(store)]
    subprocess.run(ingest, env=env, check=True)
    settings = Settings(store_dir=store)
    opened = open_store(store, settings.collection)
    spec = read_model_spec(local_model_dir(settings.embed_model))
    cache = Path(settings.model_cache_dir)
    fingerprint = model_fingerprint(spec, cache / "onnx" / "hashes")
    folder = export_folder(cache, model_label(settings.embed_model), fingerprint)
    backend = settings.embed_backend if settings.embed_backend in FILES else "onnx"
    return {
        "collection": opened.collection.name,
        "chunks": opened.count(),
        "onnx": str(folder / FILES[backend]),
        "tokenizer": str(spec.transformer_dir / "tokenizer.json"),
    }


def commands(store: Path, info: dict, query: str) -> dict[str, list[str]]:
    floor_args = [store, info["collection"], info["onnx"], info["tokenizer"], query]
    return {
        "floor": [sys.executable, __file__, "--floor", *map(str, floor_args)],
        "search": [MLSD, "search", query, "--store", str(store)],
        "help": [MLSD, "--help"],
    }


def timed_run(cmd: list[str]) -> float:
    env = {**os.environ, **ENV}
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[1:3]} failed ({proc.returncode}): {proc.stderr[-400:]}")
    return seconds


def import_profile(cmd: list[str], top: int = 12) -> dict[str, float]:
    """Cumulative import time (s) of the biggest top-level imports, plus the module count."""
    script, rest = (cmd[1], cmd[2:]) if cmd[0] == sys.executable else (cmd[0], cmd[1:])
    python_cmd = [sys.executable, "-X", "importtime", script, *rest]
    proc = subprocess.run(python_cmd, env={**os.environ, **ENV}, capture_output=True, text=True)
    top_level, count = [], 0
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        count += 1
        name = parts[2][1:]  # one space after the bar; nested imports are indented further
        if not name.startswith(" "):
            top_level.append((name.strip(), int(parts[1])))
    top_level.sort(key=lambda row: -row[1])
    out: dict[str, float] = {name: round(us / 1e6, 3) for name, us in top_level[:top]}
    out["(modules imported)"] = count
    return out


def measure(cmds: dict[str, list[str]], runs: int) -> dict[str, list[float]]:
    names = list(cmds)
    for name in names:  # warm-up: file cache, bytecode, the BM25 cache of a new store
        timed_run(cmds[name])
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(runs):
        order = names[i % len(names) :] + names[: i % len(names)]
        for name in order:
            times[name].append(round(timed_run(cmds[name]), 3))
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--query", default=QUERY)
    parser.add_argument("--store", type=Path, help="store to (re)use (default: a temp folder)")
    parser.add_argument("--no-profile", action="store_true", help="skip the -X importtime lists")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cold.json")
    parser.add_argument("--floor", nargs=5, metavar="ARG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        floor(*args.floor)
        return 0
    with tempfile.TemporaryDirectory(prefix="mlsd-cold-") as tmp:
        store = args.store or Path(tmp) / "store"
        info = prepare_store(store)
        cmds = commands(store, info, args.query)
        load_start = load_average()
        times = measure(cmds, args.runs)
        load_end = load_average()
        profile = {} if args.no_profile else {n: import_profile(c) for n, c in cmds.items()}
    med = {name: round(statistics.median(ts), 3) for name, ts in times.items()}
    ratios = {
        "search_over_floor": round(med["search"] / med["floor"], 3),
        "help_over_floor": round(med["help"] / med["floor"], 3),
    }
    result = {
        "what": "cold process wall time, median of interleaved runs (s); ratios to the floor",
        "query": args.query,
        "chunks": info["chunks"],
        "runs": args.runs,
        "median_s": med,
        "ratios": ratios,
        "targets": {"search_over_floor": TARGET_SEARCH, "help_over_floor": TARGET_HELP},
        "targets_met": {
            f"search<={TARGET_SEARCH}x floor": ratios["search_over_floor"] <= TARGET_SEARCH,
            f"help<={TARGET_HELP}x floor": ratios["help_over_floor"] <= TARGET_HELP,
        },
        "runs_s": times,
        "load_avg_start": load_start,
        "load_avg_end": load_end,
        "cpus": os.cpu_count(),
        "imports_s": profile,
        "commands": {
            "floor": "python bench/bench_cold.py --floor STORE COLLECTION ONNX TOKENIZER QUERY",
            "search": "mlsd search QUERY --store STORE",
            "help": "mlsd --help",
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("median_s", "ratios", "targets_met")}, indent=1))
    print(f"load average {load_start} -> {load_end}; written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
