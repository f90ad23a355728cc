"""`mlsd progress --export report.md`: the progress report as markdown with PNG charts.

The charts (overall score, one line per stage) go to a `<report stem>_charts/` folder next
to the report and are linked relatively, so the folder can be moved or shared as a whole.
matplotlib is imported here only, with the Agg backend (no display needed).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path


def _when(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def write_charts(summary: dict, folder: Path) -> list[Path]:
    """overall.png and stages.png from a `stats.summary`; [] when nothing is graded."""
    if not summary["overall"]:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    fig, ax = plt.subplots(figsize=(8, 3.2))
    points = summary["overall"]
    ax.plot([_when(p["at"]) for p in points], [p["overall"] for p in points], marker="o")
    ax.set(ylim=(0, 100), ylabel="overall /100", title="Overall score")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    paths.append(folder / "overall.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    stages = [s for s in summary["stages"] if s["scores"]]
    cols = 2
    rows = max(1, (len(stages) + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(9, 2.2 * rows), sharex=True, squeeze=False)
    for ax, stage in zip(axes.flat, stages):
        ax.plot([_when(p["at"]) for p in stage["scores"]], [p["score"] for p in stage["scores"]])
        ax.set(ylim=(0, 100), title=stage["name"])
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(stages) :]:
        ax.set_visible(False)
    fig.autofmt_xdate()
    fig.tight_layout()
    paths.append(folder / "stages.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(summary: dict, plan: dict | None, queue: dict | None, charts: list[str]) -> str:
    """The report; `charts` are paths relative to the report."""
    lines = [f"# Progress report: {summary.get('user', 'local')}", ""]
    lines.append(
        f"{summary['attempts']} attempts ({summary['designs']} graded designs) "
        f"from {(summary['first'] or '-')[:10]} to {(summary['last'] or '-')[:10]}."
    )
    lines.append("")
    lines += [f"![{Path(c).stem}]({c})" for c in charts]
    if charts:
        lines.append("")
    lines += ["## Stages", "", "| Stage | Recent mean | Change | Attempts |"]
    lines.append("|---|---:|---:|---:|")
    for s in summary["stages"]:
        mean = "-" if s["recent_mean"] is None else f"{s['recent_mean']:g}"
        change = "-" if s["change"] is None else f"{s['change']:+g}"
        lines.append(f"| {_cell(s['name'])} | {mean} | {change} | {len(s['scores'])} |")
    lines += ["", f"## Criteria missed most often (last {summary['window']} designs)", ""]
    if not summary["missed_criteria"]:
        lines.append("None missed.")
    for m in summary["missed_criteria"]:
        ref = m["teaches"]
        where = f"`{ref['source']}`" + (f" — {ref['section']}" if ref.get("section") else "")
        lines.append(
            f"- **{m['id']}** ({m['stage']}): missed {m['missed']}/{m['graded']}, {m['trend']}. "
            f"{_cell(m['description'])} Study: {where}"
        )
    lines += ["", "## Time plan habits", ""]
    if not summary["time_plan"]:
        lines.append("No stage keeps falling short of its time budget.")
    for t in summary["time_plan"]:
        lines.append(
            f"- **{t['name']}**: short of its budget in {t['short_in']}/{t['of']} designs "
            f"(mean {t['mean_share']:.0%} of the design against {t['budget_share']:.0%} "
            "of the time)."
        )
    if plan:
        lines += ["", "## Next", "", f"Practise **{plan['problem']}**: {_cell(plan['question'])}"]
        lines += ["", plan["why"], "", "Read first:"]
        lines += [f"- `{r['source']}` — {r['section']}" for r in plan["read_first"]]
    if queue:
        lines += ["", f"Review queue: {queue['due']} due of {queue['total']} cards."]
    return "\n".join(lines).rstrip() + "\n"


def export_report(summary: dict, plan: dict | None, queue: dict | None, out: Path) -> list[Path]:
    """Write the markdown report and its charts; returns every file written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    folder = out.with_name(f"{out.stem}_charts")
    charts = write_charts(summary, folder)
    relative = [f"{folder.name}/{p.name}" for p in charts]
    out.write_text(render_markdown(summary, plan, queue, relative), encoding="utf-8")
    return [out, *charts]
