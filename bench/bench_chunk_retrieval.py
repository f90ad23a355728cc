"""Chunk-level retrieval check for chunker settings: does a top-k chunk hold the answer?

File-level `sources` cannot tell chunkings apart (a 5-file corpus is always hit at k=5), so
a hit here is a retrieved chunk of the right file that contains the row's verbatim answer
span or reference context (whitespace and case folded). Reports hit@k and MRR per mode.

    .venv/bin/python bench/bench_chunk_retrieval.py --store /tmp/new-seeds \
        --dataset eval/datasets/dev_seeds.jsonl --label seeds-after
Results merge into bench/results/chunk_retrieval.json under --label.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.settings import Settings  # noqa: E402

OUT = ROOT / "bench" / "results" / "chunk_retrieval.json"


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _needles(row: dict) -> list[str]:
    spans = row.get("answer_spans") or row.get("reference_contexts") or []
    return [_fold(s) for s in spans if s and s.strip()]


def _files(row: dict) -> set[str]:
    return {s.split("#", 1)[0] for s in row.get("sources") or []}


def evaluate(store: Path, dataset: Path, k: int, modes: list[str]) -> dict:
    from tools.search import Retriever

    rows = [json.loads(line) for line in dataset.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("kind", "in-scope") != "out-of-scope" and _needles(r)]
    retriever = Retriever(Settings(store_dir=store))
    out = {"rows": len(rows)}
    for mode in modes:
        hits = rr = 0.0
        for row in rows:
            needles, files = _needles(row), _files(row)
            for rank, hit in enumerate(retriever.search(row["question"], k=k, mode=mode), 1):
                text = _fold(hit.text)
                if (not files or hit.source in files) and any(n in text for n in needles):
                    hits += 1
                    rr += 1 / rank
                    break
        out[mode] = {f"hit@{k}": round(hits / len(rows), 3), "mrr": round(rr / len(rows), 3)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--label", required=True)
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--modes", default="hybrid,dense,bm25")
    args = parser.parse_args()
    result = evaluate(args.store, args.dataset, args.k, args.modes.split(","))
    print(args.label, json.dumps(result))
    previous = json.loads(OUT.read_text()) if OUT.exists() else {}
    previous[args.label] = result
    OUT.write_text(json.dumps(previous, indent=2) + "\n")


if __name__ == "__main__":
    main()
