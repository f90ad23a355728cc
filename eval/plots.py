"""PNG plots of a run (matplotlib, Agg backend, imported only when plotting)."""

from __future__ import annotations

import math
from pathlib import Path

from eval.report import all_metric_names, hit_metric, stage_table
from eval.runner import EvalReport

# Metrics that are rates of failure: left out of the "higher is better" bar chart.
_NOT_SCORES = ("false_decline_rate", "llm_fallback_rate")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _grouped_bars(ax, groups: list[str], series: dict[str, list[float]]) -> None:
    width = 0.8 / max(1, len(series))
    for i, (label, values) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        ax.bar(xs, values, width, label=label)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def plot_metrics_by_mode(report: EvalReport, path: Path) -> Path:
    plt = _pyplot()
    names = [n for n in all_metric_names(report) if n not in _NOT_SCORES]
    series = {
        mode: [(result.metrics[n].mean or 0.0) if n in result.metrics else 0.0 for n in names]
        for mode, result in report.modes.items()
    }
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(names)), 4.5))
    _grouped_bars(ax, names, series)
    ax.set_title("Mean score per metric and retrieval mode")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_stage_hits(report: EvalReport, path: Path) -> Path | None:
    metric = hit_metric(report)
    table = stage_table(report, metric)
    if not table:
        return None
    plt = _pyplot()
    stages = list(table)
    series = {mode: [table[s].get(mode, 0.0) for s in stages] for mode in report.modes}
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(stages)), 4.5))
    _grouped_bars(ax, stages, series)
    ax.set_title(f"{metric} per interview stage")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_distributions(report: EvalReport, path: Path) -> Path | None:
    """Per-question score distribution: one box per (metric, mode)."""
    rows = [r for result in report.modes.values() for r in result.rows]
    names = [  # hit@k is 0/1 per question: its distribution says nothing its mean does not
        n
        for n in all_metric_names(report)
        if n not in ("decline_rate", *_NOT_SCORES)
        and not n.startswith("hit@")
        and any(r.get("metrics", {}).get(n) is not None for r in rows)
    ]
    if not names:
        return None
    plt = _pyplot()
    ncols = min(4, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 3 * nrows), squeeze=False)
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names):
        data, labels = [], []
        for mode, result in report.modes.items():
            values = [r["metrics"][name] for r in result.rows if r["metrics"].get(name) is not None]
            if values:
                data.append(values)
                labels.append(mode)
        if data:
            ax.boxplot(data, tick_labels=labels)
        ax.set_title(name, fontsize=8)
        ax.set_ylim(-0.05, 1.05)
        ax.tick_params(labelsize=7)
    fig.suptitle("Per-question score distribution")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(report: EvalReport, out_dir: Path) -> dict[str, Path]:
    made = {
        "metrics_by_mode": plot_metrics_by_mode(report, out_dir / "metrics_by_mode.png"),
        "hit_by_stage": plot_stage_hits(report, out_dir / "hit_by_stage.png"),
        "score_distribution": plot_distributions(report, out_dir / "score_distribution.png"),
    }
    return {name: p for name, p in made.items() if p is not None}
