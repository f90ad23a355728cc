"""Scale benchmark (issue #8): ingest time, peak memory and search latency vs store size,
embedded store vs Chroma server. Writes bench/results/scale.json (merged across runs).

    .venv/bin/python bench/bench_scale.py --sizes 10000,30000        # ~10 min on 2 cores
    .venv/bin/python bench/bench_scale.py --sizes 100000             # later, in the background

Each ingest and each search session runs in its own subprocess, so its peak RSS
(`ru_maxrss`) is its own; the server's peak is its VmHWM. The synthetic corpora
(bench/synthetic.py) are generated into a temp folder.

Embedding 100k chunks with the real model would take hours on 2 shared cores, and its cost
is linear and known (`embed.chunks_per_s`, measured on real chunks). So the scaled ingests
use a stand-in embedder: a chunk's vector is the normalized mean of the real-model vectors
of its sentences (every synthetic sentence is a corpus sentence, embedded once). Vectors
have the real dimension and a realistic distribution, so the store (HNSW build, writes) and
search costs are real. `ingest.projected_real_s` adds the model's time back. Queries are
always embedded by the real model.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "results" / "scale.json"
MODES = ("hybrid", "dense", "bm25")


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KB on Linux


def settings_for(args: dict):
    from core.offline import apply_offline_env
    from core.settings import Settings

    s = Settings(
        store_dir=Path(args["store_dir"]),
        model_cache_dir=Path(args["cache_dir"]),
        chroma_url=args.get("chroma_url"),
        collection=args.get("collection", "bench"),
    )
    apply_offline_env(s.embed_model)
    return s


class PooledSentenceEmbedder:
    """Stand-in model at scale: mean of the real vectors of a text's known sentences."""

    def __init__(self, vectors_path: Path, info: dict) -> None:
        import numpy as np

        data = np.load(vectors_path)
        self.vectors = data["vectors"]
        self.index = {s: i for i, s in enumerate(data["sentences"].tolist())}
        self.model_name, self.backend, self.dim = info["model"], info["backend"], info["dim"]

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False):
        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            ids = [self.index[s] for s in split_sentences(text) if s in self.index]
            if ids:
                vec = self.vectors[ids].mean(axis=0)
            else:  # no known sentence (rare): a fixed pseudo-random direction
                vec = np.random.default_rng(abs(hash(text)) % 2**32).standard_normal(self.dim)
            out[row] = vec / np.linalg.norm(vec)
        return out


def split_sentences(text: str) -> list[str]:
    parts = []
    for line in text.splitlines():
        parts += [" ".join(p.split()) for p in re.split(r"(?<=[.!?])\s+", line) if p.strip()]
    return parts


# -- children (each its own process) -------------------------------------------------------
def child_embed(args: dict) -> dict:
    """Real model: throughput on real synthetic chunks, and the vectors of every sentence."""
    import numpy as np

    from bench.synthetic import corpus_sentences
    from core.settings import Settings
    from ingest.embeddings import load_embedder

    s = settings_for(args)
    start = time.perf_counter()
    model = load_embedder(s.embed_model, s.embed_backend, str(Settings().model_cache_dir))
    load_s = time.perf_counter() - start
    sample = [p.read_text() for p in sorted(Path(args["sample_dir"]).glob("*.md"))]
    chunks = [c for doc in sample for c in doc.split("\n## ")[1:]][: args["sample_chunks"]]
    model.encode(chunks[:16])  # warm-up
    start = time.perf_counter()
    model.encode(chunks, batch_size=s.embed_batch_size)
    chunk_s = time.perf_counter() - start
    sentences = corpus_sentences()
    vectors = model.encode(sentences, batch_size=s.embed_batch_size)
    np.savez(args["vectors"], sentences=np.array(sentences), vectors=vectors)
    return {
        "model": model.model_name,
        "backend": model.backend,
        "dim": model.dim,
        "load_s": round(load_s, 2),
        "sample_chunks": len(chunks),
        "chunks_per_s": round(len(chunks) / chunk_s, 2),
        "peak_rss_mb": peak_rss_mb(),
    }


def child_ingest(args: dict) -> dict:
    from ingest.pipeline import ingest_paths

    s = settings_for(args)
    embedder = PooledSentenceEmbedder(Path(args["vectors"]), args["model_info"])
    start = time.perf_counter()
    report = ingest_paths([Path(args["docs"])], s, embedder=embedder)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    again = ingest_paths([Path(args["docs"])], s, embedder=embedder)
    return {
        "chunks": report.chunks_total,
        "files": report.ingested,
        "seconds": round(seconds, 2),
        "reingest_unchanged_s": round(time.perf_counter() - start, 2),
        "reingest_embedded": again.embedded,
        "peak_rss_mb": peak_rss_mb(),
    }


def child_search(args: dict) -> dict:
    from bench.bench_ingest import percentiles
    from core.settings import Settings
    from ingest.embeddings import load_embedder
    from tools.search import Retriever

    s = settings_for(args)
    start = time.perf_counter()  # the model from the user's cache (no export in temp dirs)
    model = load_embedder(s.embed_model, s.embed_backend, str(Settings().model_cache_dir))
    out: dict = {"model_load_s": round(time.perf_counter() - start, 2)}
    retriever = Retriever(s, embedder=model)
    queries = args["queries"]
    start = time.perf_counter()
    retriever.search(queries[0], 5, "hybrid")  # open store, chunk table + BM25 index, HNSW
    out["cold_first_search_s"] = round(time.perf_counter() - start, 2)
    store = retriever.store()

    def floor(q: str) -> None:  # one query encode + one raw Chroma query
        vec = model.encode([q])[0].tolist()
        store.collection.query(query_embeddings=[vec], n_results=5, include=["distances"])

    runs = [("floor", floor)] + [(m, lambda q, m=m: retriever.search(q, 5, m)) for m in MODES]
    for name, fn in runs:
        samples = []
        for q in queries:
            start = time.perf_counter()
            fn(q)
            samples.append(time.perf_counter() - start)
        out[name] = percentiles(samples)
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def run_child(kind: str, args: dict) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--child-args", json.dumps(args)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- orchestration ---------------------------------------------------------------------------
def server_peak_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


class Server:
    """`chroma run` on a free loopback port (as in tests/conftest.py), stopped by stop()."""

    def __init__(self, data: Path) -> None:
        import socket
        import urllib.request

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        chroma = Path(sys.executable).parent / "chroma"
        cmd = [str(chroma), "run", "--path", str(data), "--host", "127.0.0.1"]
        log = (data.parent / f"{data.name}.log").open("wb")
        self.proc = subprocess.Popen([*cmd, "--port", str(port)], stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"chroma run did not start on {self.url}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def bench_size(n: int, base: Path, common: dict, queries: list[str], modes: list[str]) -> dict:
    from bench.synthetic import write_synthetic

    docs = base / f"corpus{n}"
    start = time.perf_counter()
    write_synthetic(docs, n)
    result: dict = {"target_chunks": n, "generate_s": round(time.perf_counter() - start, 1)}
    result["load_avg_start"] = [round(x, 1) for x in os.getloadavg()]  # 2 shared cores
    result["embed_chunks_per_s"] = common["model_info"]["chunks_per_s"]  # measured this run
    for store_mode in modes:
        server = Server(base / f"server{n}") if store_mode == "server" else None
        args = {
            **common,
            "docs": str(docs),
            "store_dir": str(base / f"store{n}-{store_mode}"),
            "cache_dir": str(base / f"cache{n}-{store_mode}"),
            "chroma_url": server.url if server else None,
        }
        try:
            ingest = run_child("ingest", args)
            per_s = common["model_info"]["chunks_per_s"]
            ingest["projected_real_s"] = round(ingest["seconds"] + ingest["chunks"] / per_s, 1)
            search = run_child("search", {**args, "queries": queries})
            if server:
                ingest["server_peak_rss_mb"] = server_peak_mb(server.proc.pid)
        finally:
            if server:
                server.stop()
        result[store_mode] = {"ingest": ingest, "search": search}
        print(json.dumps({n: {store_mode: result[store_mode]}}), flush=True)
    result["load_avg_end"] = [round(x, 1) for x in os.getloadavg()]
    return result


GROWTH_METRICS = {
    "ingest_s": ("ingest", "seconds"),
    "ingest_peak_rss_mb": ("ingest", "peak_rss_mb"),
    "reingest_unchanged_s": ("ingest", "reingest_unchanged_s"),
    "cold_first_search_s": ("search", "cold_first_search_s"),
    "search_peak_rss_mb": ("search", "peak_rss_mb"),
    **{f"{m}_{p}": ("search", m, p) for m in ("floor", *MODES) for p in ("p50_ms", "p95_ms")},
}


def _get(data: dict, path: tuple) -> float:
    for key in path:
        data = data[key]
    return max(float(data), 1e-9)


def growth(sizes: dict) -> dict:
    """Log-log slope between consecutive sizes: 1.0 = linear, 0 = flat, <1 = sublinear."""
    out: dict = {}
    points = sorted((int(k), v) for k, v in sizes.items())
    for (n1, a), (n2, b) in zip(points, points[1:]):
        for mode in ("embedded", "server"):
            if mode in a and mode in b:
                out.setdefault(f"{n1}->{n2}", {})[mode] = {
                    name: round(
                        math.log(_get(b[mode], path) / _get(a[mode], path)) / math.log(n2 / n1), 2
                    )
                    for name, path in GROWTH_METRICS.items()
                }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,30000")
    parser.add_argument("--modes", default="embedded,server")
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--child")
    parser.add_argument("--child-args")
    args = parser.parse_args()
    if args.child:
        fn = {"embed": child_embed, "ingest": child_ingest, "search": child_search}
        print(json.dumps(fn[args.child](json.loads(args.child_args))))
        return

    from core.settings import Settings

    golden = Settings().golden_path.read_text().splitlines()
    queries = [json.loads(x)["question"] for x in golden if x.strip()][: args.queries]
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    with tempfile.TemporaryDirectory(prefix="mlsd-scale-") as tmp:
        base = Path(tmp)
        from bench.synthetic import write_synthetic

        write_synthetic(base / "sample", 300, seed=99)
        embed_args = {"store_dir": str(base / "s"), "cache_dir": str(base / "c")}
        embed_args |= {"sample_dir": str(base / "sample"), "sample_chunks": 256}
        embed_args["vectors"] = str(base / "sentences.npz")
        info = run_child("embed", embed_args)
        results["embed"] = info
        common = {"vectors": embed_args["vectors"], "model_info": info}
        sizes = results.setdefault("sizes", {})
        for n in sorted(int(x) for x in args.sizes.split(",")):
            point = bench_size(n, base, common, queries, args.modes.split(","))
            sizes.setdefault(str(n), {}).update(point)  # other store modes of n are kept
            results["growth"] = growth(sizes)
            results["queries"] = len(queries)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1))  # after each size: partial ok
    print(json.dumps(results.get("growth", {}), indent=1))


if __name__ == "__main__":
    main()
