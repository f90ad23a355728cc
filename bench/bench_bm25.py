"""Our BM25 (tools/bm25.py) against bm25s: retrieval quality on the tuning corpora and cold load.

    .venv/bin/pip install --no-deps --target /tmp/bm25s_trial bm25s==0.3.16   # trial only
    .venv/bin/python bench/bench_bm25.py --bm25s-path /tmp/bm25s_trial

Quality: BM25-only and hybrid (the chosen fusion) metrics on each corpus of
bench/tune_hybrid.py, with our index, bm25s fed our tokens (same formula: only speed could
differ) and bm25s with its own tokenizer and English stop words.
Cold load: a fresh process imports the library, opens a saved index and scores one query;
interleaved runs, median, at the golden corpus size and at 10k synthetic chunks. "pickle_v2"
is the chunk-table cache before this change (whole table, unpickled, needs scipy);
"json_npy" is the current cache (whole table, arrays memory-mapped); "bm25s" opens its
index with mmap=True plus the same chunks.json for parity.
Writes bench/results/bm25.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "results" / "bm25.json"
QUERY = "how do I avoid leakage in a temporal split for a two-tower retrieval model"

CHILD = {
    "json_npy": """
from tools.chunk_table import _Corpus
c = _Corpus.load(FOLDER)
c.bm25.top(QUERY, 50)
""",
    "pickle_v2": """
import pickle
with open(FOLDER / "v2.pkl", "rb") as fh:
    c = pickle.load(fh)["corpus"]
c.bm25.top(QUERY, 50)
""",
    "bm25s": """
import json, bm25s
from tools.bm25 import tokenize
table = json.loads((FOLDER / "chunks.json").read_text())
m = bm25s.BM25.load(str(FOLDER / "bm25s"), mmap=True, show_progress=False)
m.get_scores(tokenize(QUERY))
""",
}


def child_cmd(kind: str, folder: Path, paths: list[str]) -> list[str]:
    code = (
        "import sys, time\n"
        f"sys.path[:0] = {paths!r}\n"
        "from pathlib import Path\n"
        f"FOLDER, QUERY = Path({str(folder)!r}), {QUERY!r}\n"
        "t0 = time.perf_counter()\n" + CHILD[kind] + "print(round(time.perf_counter() - t0, 4))\n"
    )
    return [sys.executable, "-c", code]


def build(texts_ids_metas: tuple, folder: Path, bm25s_path: str) -> None:
    """Save the table three ways: current cache, a v2 pickle (old code), a bm25s index."""
    from tools.chunk_table import _Corpus

    ids, docs, metas = texts_ids_metas
    _Corpus(ids, docs, metas).save(folder)
    old = (
        "import pickle, json, sys\nfrom pathlib import Path\n"
        "sys.path.insert(0, '/tmp/base')\nfrom tools.search import _Corpus\n"
        f"f = Path({str(folder)!r})\nt = json.loads((f / 'chunks.json').read_text())\n"
        "c = _Corpus(t['ids'], t['docs'], t['metas'])\n"
        "pickle.dump({'version': 2, 'corpus': c}, open(f / 'v2.pkl', 'wb'))\n"
    )
    subprocess.run([sys.executable, "-c", old], check=True, cwd="/tmp/base")
    sys.path.insert(0, bm25s_path)
    import bm25s

    from tools.bm25 import tokenize

    index = bm25s.BM25(k1=1.5, b=0.75)
    texts = [f"{m.get('section', '')}\n{d}" for d, m in zip(docs, metas)]
    index.index([tokenize(t) or [""] for t in texts], show_progress=False)
    index.save(str(folder / "bm25s"))


def cold_loads(folder: Path, bm25s_path: str, runs: int) -> dict:
    here, base = [str(ROOT)], ["/tmp/base"]
    paths = {"json_npy": here, "pickle_v2": base, "bm25s": [bm25s_path, *here]}
    times: dict[str, list[float]] = {k: [] for k in CHILD}
    for _ in range(runs):  # interleaved: load on the shared cores hits each kind alike
        for kind in CHILD:
            done = subprocess.run(
                child_cmd(kind, folder, paths[kind]), capture_output=True, text=True, check=True
            )
            times[kind].append(float(done.stdout.strip().splitlines()[-1]))
    return {k: {"median_s": round(statistics.median(v), 4), "runs": v} for k, v in times.items()}


def synthetic_table(n: int) -> tuple:
    from bench.synthetic import corpus_sentences

    rng, pool = random.Random(3), corpus_sentences()
    docs = [" ".join(rng.choices(pool, k=rng.randint(4, 9))) for _ in range(n)]
    ids = [f"s{i}" for i in range(n)]
    return ids, docs, [{"source": f"f{i // 10}.md", "section": f"S {i}"} for i in range(n)]


def bm25s_scorer(bm25s_path: str, own_tokenizer: bool):
    sys.path.insert(0, bm25s_path)
    import bm25s

    from tools.bm25 import tokenize

    def make(corpus):
        texts = [f"{m.get('section', '')}\n{d}" for d, m in zip(corpus.docs, corpus.metas)]
        index = bm25s.BM25(k1=1.5, b=0.75)
        if own_tokenizer:
            index.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), False)
            vocab = index.vocab_dict

            def scores(query: str):
                tokens = [
                    t
                    for t in bm25s.tokenize([query], "en", return_ids=False, show_progress=False)[0]
                    if t in vocab
                ]
                return index.get_scores(tokens) if tokens else index.get_scores([""])

            return scores
        index.index([tokenize(t) or [""] for t in texts], show_progress=False)
        return lambda q: index.get_scores([t for t in tokenize(q)] or [""])

    return make


def quality(bm25s_path: str) -> dict:
    import bench.tune_hybrid as tune
    from core.offline import apply_offline_env
    from core.settings import Settings
    from ingest.embeddings import load_embedder
    from tools.fusion import FusionParams

    s = Settings()
    apply_offline_env(s.embed_model)
    embedder = load_embedder(s.embed_model, s.embed_backend, str(s.model_cache_dir))
    chosen = FusionParams.from_settings(s)
    scorers = {
        "ours": None,
        "bm25s_our_tokens": bm25s_scorer(bm25s_path, False),
        "bm25s_own_tokenizer": bm25s_scorer(bm25s_path, True),
    }
    out: dict = {}
    for name, (folder, dataset) in tune.CORPORA.items():
        folder = folder or s.corpus_dir
        if not folder.is_dir():
            out[name] = f"skipped: {folder} is absent"
            continue
        for label, scorer in scorers.items():
            rows, info = tune.collect(
                name, folder, ROOT / "eval" / "datasets" / dataset, embedder, scorer
            )
            corpus = info["_table"][0]
            out.setdefault(name, {})[label] = {
                mode: tune.metrics(rows, rank, corpus, "all")
                for mode, rank in {
                    "bm25": tune.ranker(None, 0, "bm25"),
                    "hybrid": tune.ranker(chosen, s.hybrid_depth),
                }.items()
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bm25s-path", default="/tmp/bm25s_trial")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    results: dict = {"quality_all_rows": quality(args.bm25s_path), "cold_load": {}}
    from core.settings import Settings
    from tools.search import Retriever

    golden = Retriever(
        Settings(store_dir=ROOT / ".mlsd/bench/golden/store", collection="bench_golden")
    ).corpus()
    tables = {
        f"{len(golden.ids)}_chunks": (golden.ids, golden.docs, golden.metas),
        "10000_chunks": synthetic_table(10_000),
    }
    with tempfile.TemporaryDirectory(prefix="mlsd-bm25-") as tmp:
        for label, table in tables.items():
            folder = Path(tmp) / label
            build(table, folder, args.bm25s_path)
            results["cold_load"][label] = cold_loads(folder, args.bm25s_path, args.runs)
            print(label, {k: v["median_s"] for k, v in results["cold_load"][label].items()})
    OUT.write_text(json.dumps(results, indent=1))
    print(json.dumps(results["quality_all_rows"], indent=1))


if __name__ == "__main__":
    main()
