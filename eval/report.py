"""Writing a run to disk: report.json, rows.csv, report.md and PNG plots.

`report.json` is strict JSON (NaN written as null) so any tool, and `--baseline`, can read it.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from core.errors import InputError
from eval.ragas_metrics import LLM_METRICS
from eval.runner import EvalReport

# The headline order in tables; other metrics follow alphabetically.
HEADLINE = ("hit@", "mrr", "ndcg@", "recall@")


def _clean(value: Any) -> Any:
    """NaN/inf -> None, recursively (strict JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def report_json(report: EvalReport) -> dict[str, Any]:
    return _clean(report.model_dump(mode="json"))


def metric_order(names: list[str]) -> list[str]:
    def key(name: str) -> tuple[int, str]:
        for i, prefix in enumerate(HEADLINE):
            if name.startswith(prefix):
                return (i, name)
        return (len(HEADLINE), name)

    return sorted(names, key=key)


def all_metric_names(report: EvalReport) -> list[str]:
    names: set[str] = set()
    for result in report.modes.values():
        names |= set(result.metrics)
    return metric_order(list(names))


def fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def stage_table(report: EvalReport, metric: str) -> dict[str, dict[str, float]]:
    """{stage: {mode: mean of `metric`}} over in-scope rows that have the metric."""
    table: dict[str, dict[str, list[float]]] = {}
    for mode, result in report.modes.items():
        for row in result.rows:
            value = row.get("metrics", {}).get(metric)
            if value is None:
                continue
            table.setdefault(row.get("stage") or "(none)", {}).setdefault(mode, []).append(value)
    return {
        stage: {mode: sum(v) / len(v) for mode, v in modes.items()}
        for stage, modes in sorted(table.items())
    }


def hit_metric(report: EvalReport) -> str:
    return f"hit@{report.settings.get('k', 5)}"


def write_csv(report: EvalReport, path: Path) -> None:
    names = all_metric_names(report)
    llm_names = [n for n in LLM_METRICS if n in names]
    header = ["mode", "id", "line", "stage", "kind", "declined", "answer_seconds", *names]
    header += [f"{n}_std" for n in llm_names] + [f"{n}_straddles_0_5" for n in llm_names]
    header += ["top_sources", "errors", "question"]
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for mode, result in report.modes.items():
            for row in result.rows:
                metrics, llm = row.get("metrics", {}), row.get("llm", {})
                writer.writerow(
                    [mode, row["id"], row["line"], row.get("stage") or "", row.get("kind") or ""]
                    + [int(bool(row.get("declined"))), row.get("answer_seconds", "")]
                    + [_csv_value(metrics.get(n)) for n in names]
                    + [_csv_value((llm.get(n) or {}).get("std")) for n in llm_names]
                    + [int(bool((llm.get(n) or {}).get("straddles_0_5"))) for n in llm_names]
                    + [" | ".join(h["source"] for h in row.get("retrieved", [])[:3])]
                    + [json.dumps(row.get("errors") or {}, ensure_ascii=False)]
                    + [row["question"]]
                )


def _csv_value(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.6g}"


def write_report(report: EvalReport, out_dir: Path | str, plots: bool = True) -> dict[str, Path]:
    """Write every output into `out_dir` (created). Returns {kind: path}."""
    from eval.markdown import render_markdown

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "csv": out / "rows.csv", "md": out / "report.md"}
    data = report_json(report)
    paths["json"].write_text(
        json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False), encoding="utf-8"
    )
    write_csv(report, paths["csv"])
    images: dict[str, Path] = {}
    if plots:
        from eval.plots import write_plots

        images = write_plots(report, out)
        paths.update({f"png:{name}": p for name, p in images.items()})
    paths["md"].write_text(render_markdown(report, images), encoding="utf-8")
    return paths


def load_report(path: Path | str) -> dict[str, Any]:
    """A previous report.json, checked for the shape the gate needs."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"Cannot read the baseline {path}: {exc}.") from exc
    if not isinstance(data, dict) or not isinstance(data.get("modes"), dict):
        raise InputError(f"{path} is not an `mlsd eval` report.json (no 'modes').")
    return data
