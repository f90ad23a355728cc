"""report.md: a readable summary of a run, with tables and the plots."""

from __future__ import annotations

from pathlib import Path

from eval.report import all_metric_names, fmt, hit_metric, stage_table
from eval.runner import EvalReport

MAX_LISTED = 15


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines + [""]


def _metrics_section(report: EvalReport) -> list[str]:
    modes = list(report.modes)
    rows = []
    for name in all_metric_names(report):
        cells = [name]
        for mode in modes:
            m = report.modes[mode].metrics.get(name)
            if m is None or m.mean is None:
                cells.append("–")
                continue
            cell = f"{m.mean:.3f} ± {fmt(m.std, 2)} (n={m.n})"
            if m.repeat_std is not None:
                cell += f", runs ± {m.repeat_std:.3f}"
            cells.append(cell)
        rows.append(cells)
    return ["## Metrics by mode", "", "mean ± std over questions", ""] + _table(
        ["metric", *modes], rows
    )


def _stage_section(report: EvalReport) -> list[str]:
    metric = hit_metric(report)
    table = stage_table(report, metric)
    if not table:
        return []
    modes = list(report.modes)
    rows = [[stage, *(fmt(by_mode.get(m)) for m in modes)] for stage, by_mode in table.items()]
    return [f"## {metric} by stage", ""] + _table(["stage", *modes], rows)


def _misses_section(report: EvalReport) -> list[str]:
    metric = hit_metric(report)
    lines = []
    for mode, result in report.modes.items():
        misses = [r for r in result.rows if r.get("metrics", {}).get(metric) == 0.0]
        if not misses:
            continue
        lines += [
            f"### {mode}: {len(misses)} question(s) with no relevant passage in the top k",
            "",
        ]
        for row in misses[:MAX_LISTED]:
            got = ", ".join(h["source"] for h in row.get("retrieved", [])[:3]) or "nothing"
            lines.append(f"- line {row['line']}: {row['question'][:100]} — got {got}")
        lines.append("")
    return (["## Retrieval misses", ""] + lines) if lines else []


def _llm_section(report: EvalReport) -> list[str]:
    unstable, failures = [], []
    for mode, result in report.modes.items():
        for row in result.rows:
            for name, score in (row.get("llm") or {}).items():
                if score.get("straddles_0_5"):
                    runs = ", ".join(fmt(v, 2) for v in score["runs"])
                    unstable.append(f"- {mode} line {row['line']} {name}: runs {runs}")
            for name, reason in (row.get("errors") or {}).items():
                failures.append(f"- {mode} line {row['line']} {name}: {reason[:160]}")
    lines = []
    if unstable:
        lines += ["## Unstable LLM judgements (repeats straddle 0.5)", ""]
        lines += unstable[: MAX_LISTED * 2] + [""]
    if failures:
        lines += ["## Failures recorded on rows", ""] + failures[: MAX_LISTED * 2] + [""]
    return lines


def render_markdown(report: EvalReport, images: dict[str, Path] | None = None) -> str:
    s = report.settings
    n_rows = len(next(iter(report.modes.values())).rows) if report.modes else 0
    llm_note = f"on, {s.get('repeats')} repeat(s)" if s.get("llm") else "off"
    lines = [
        "# mlsd eval report",
        "",
        f"- dataset: `{report.dataset}` ({n_rows} questions, {len(report.bad_lines)} bad lines)",
        f"- created: {report.created}",
        f"- answerer: {s.get('answerer')}; k = {s.get('k')}; modes: {', '.join(report.modes)}",
        f"- LLM metrics: {llm_note}",
        "",
    ]
    lines += _metrics_section(report) + _stage_section(report)
    lines += _misses_section(report) + _llm_section(report)
    if report.bad_lines:
        lines += ["## Skipped dataset lines", ""]
        lines += [f"- line {b.line}: {b.reason}" for b in report.bad_lines] + [""]
    if report.warnings:
        lines += ["## Warnings", ""] + [f"- {w}" for w in report.warnings] + [""]
    if images:
        lines += ["## Plots", ""] + [f"![{name}]({p.name})" for name, p in images.items()]
    return "\n".join(lines) + "\n"
