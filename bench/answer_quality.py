"""Offline answer quality on question sets (issue #15). Writes bench/results/answer_quality.json.

For each `NAME=DATASET@STORE` pair, runs the offline agent on every row against that store
(ingest the folder first, e.g. `mlsd ingest /work/shared/seeds --store /tmp/seeds-store`)
and reports, per `split` (tune / test / all):

- `span_quoted`: in-scope answers that quote an answer span or a reference-context sentence
  (`eval.answer_metrics.answer_has_reference`);
- `source_cited`: in-scope answers citing a document of the row's `sources`;
- `false_declines`: in-scope questions declined; `oos_declined`: out-of-scope ones declined;
- `fragments`: cited pieces that are headings or broken sentences, summed over all answers.

    .venv/bin/python bench/answer_quality.py \\
        seeds=eval/datasets/dev_seeds.jsonl@/tmp/seeds-store \\
        notes=eval/datasets/dev_notes.jsonl@/tmp/notes-store \\
        golden=eval/datasets/golden.jsonl@/tmp/corpus-store
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.offline import apply_offline_env  # noqa: E402
from core.settings import Settings  # noqa: E402


def _rows(path: Path) -> list[dict]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return [r for r in rows if r.get("question")]


def _files(sources: list[str]) -> set[str]:
    return {s.partition("#")[0] for s in sources or []}


def evaluate(rows: list[dict], store: Path) -> tuple[list[dict], float]:
    from agents.offline import OfflineAgent
    from eval.answer_metrics import answer_has_reference, count_fragments
    from tools.deps import Deps

    agent = OfflineAgent(Deps(Settings(store_dir=store)))
    out, seconds = [], []
    for row in rows:
        start = time.perf_counter()
        final = agent.answer(row["question"]).final
        seconds.append(time.perf_counter() - start)
        headings = {part for c in final.citations for part in c.section.split(" > ")}
        out.append(
            {
                "id": row.get("id"),
                "split": row.get("split", "all"),
                "out_of_scope": row.get("kind") == "out-of-scope",
                "declined": final.route == "out_of_scope",
                "span_quoted": answer_has_reference(
                    final.answer, row.get("reference_contexts") or [], row.get("answer_spans") or []
                ),
                "source_cited": bool(
                    _files(row.get("sources")) & {c.source for c in final.citations}
                ),
                "fragments": count_fragments(final.answer, headings),
            }
        )
    return out, sorted(seconds)[int(0.95 * (len(seconds) - 1))] if seconds else 0.0


def summarize(results: list[dict]) -> dict:
    inside = [r for r in results if not r["out_of_scope"]]
    outside = [r for r in results if r["out_of_scope"]]

    def share(rows: list[dict], key: str) -> float | None:
        return round(sum(r[key] for r in rows) / len(rows), 3) if rows else None

    return {
        "in_scope": len(inside),
        "span_quoted": share(inside, "span_quoted"),
        "source_cited": share(inside, "source_cited"),
        "false_declines": sum(r["declined"] for r in inside),
        "out_of_scope": len(outside),
        "oos_declined": sum(r["declined"] for r in outside),
        "fragments": sum(r["fragments"] for r in results),
        "missed_span": [r["id"] for r in inside if not r["span_quoted"]],
        "missed_source": [r["id"] for r in inside if not r["source_cited"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sets", nargs="+", help="NAME=DATASET.jsonl@STORE_DIR")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "answer_quality.json"))
    args = parser.parse_args()
    apply_offline_env()
    report: dict = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "sets": {}}
    for spec in args.sets:
        name, _, rest = spec.partition("=")
        dataset, _, store = rest.partition("@")
        results, p95 = evaluate(_rows(Path(dataset)), Path(store))
        splits = sorted({r["split"] for r in results})
        entry = {"dataset": dataset, "store": store, "answer_p95_s": round(p95, 3)}
        entry["all"] = summarize(results)
        for split in splits if len(splits) > 1 else []:
            entry[split] = summarize([r for r in results if r["split"] == split])
        report["sets"][name] = entry
        line = {k: v for k, v in entry["all"].items() if not k.startswith("missed")}
        print(name, json.dumps(line), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
