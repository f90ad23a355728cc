"""Tune hybrid fusion (RRF k, weights, candidate depth) on the golden set.

Dense and BM25 lists are computed once per question at the largest depth, then every fusion
setting is scored offline. Relevance: a hit matches a `file#Heading` source when it is from
that file and the heading is one of its section components.
Writes bench/results/hybrid_tuning.json.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.offline import apply_offline_env  # noqa: E402
from core.settings import Settings  # noqa: E402


def relevant(source: str, meta: dict, wanted: list[str]) -> bool:
    for want in wanted:
        file, _, heading = want.partition("#")
        if source == file and (not heading or heading in meta["section"].split(" > ")):
            return True
    return False


def metrics(ranked_ids, corpus, wanted, k=5):
    rels = [
        relevant(
            corpus.metas[corpus.position[c]]["source"], corpus.metas[corpus.position[c]], wanted
        )
        for c in ranked_ids[:k]
    ]
    hit = float(any(rels))
    mrr = next((1.0 / (i + 1) for i, r in enumerate(rels) if r), 0.0)
    dcg = sum(1.0 / math.log2(i + 2) for i, r in enumerate(rels) if r)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(wanted))))
    return hit, mrr, dcg / ideal if ideal else 0.0


def main() -> None:
    settings = Settings()
    apply_offline_env(settings.embed_model)
    from tools.search import Retriever

    retriever = Retriever(settings)
    corpus = retriever.corpus()
    rows = [json.loads(line) for line in settings.golden_path.read_text().splitlines() if line]
    rows = [r for r in rows if r.get("sources")]
    depth_max = 50
    lists = [
        (r, retriever.dense(r["question"], depth_max), retriever.bm25(r["question"], depth_max))
        for r in rows
    ]

    def score(fn):
        totals = [0.0, 0.0, 0.0]
        for r, dense, bm25 in lists:
            for i, v in enumerate(metrics(fn(dense, bm25), corpus, r["sources"])):
                totals[i] += v
        return [round(t / len(lists), 4) for t in totals]

    results = {
        "dense": score(lambda d, b: [c for c, _ in d]),
        "bm25": score(lambda d, b: [c for c, _ in b]),
    }
    grid = []
    for rrf_k, wd, depth in itertools.product(
        (1, 3, 5, 10, 20, 40, 60), (0.6, 0.8, 1.0, 1.25, 1.5, 2.0), (10, 20, 30, 50)
    ):

        def fuse(d, b, rrf_k=rrf_k, wd=wd, depth=depth):
            fused: dict[str, float] = {}
            for w, ranked in ((wd, d[:depth]), (1.0, b[:depth])):
                for rank, (cid, _) in enumerate(ranked, start=1):
                    fused[cid] = fused.get(cid, 0.0) + w / (rrf_k + rank)
            return [c for c, _ in sorted(fused.items(), key=lambda x: (-x[1], x[0]))]

        grid.append(
            {"rrf_k": rrf_k, "dense_weight": wd, "depth": depth, "hit@5,mrr,ndcg@5": score(fuse)}
        )
    grid.sort(key=lambda g: (-g["hit@5,mrr,ndcg@5"][2], -g["hit@5,mrr,ndcg@5"][1]))
    results["naive_rrf_k60_equal"] = next(
        g["hit@5,mrr,ndcg@5"]
        for g in grid
        if g["rrf_k"] == 60 and g["dense_weight"] == 1.0 and g["depth"] == 50
    )
    results["best"] = grid[:10]
    results["questions"] = len(lists)
    out = ROOT / "bench" / "results" / "hybrid_tuning.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(json.dumps({k: v for k, v in results.items() if k != "best"}, indent=1))
    print(json.dumps(results["best"][:5], indent=1))


if __name__ == "__main__":
    main()
