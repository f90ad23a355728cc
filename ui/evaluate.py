"""Evaluate page: run the evaluation on a dataset, read metrics and rows, compare runs."""

from __future__ import annotations

import contextlib
import json
import logging
from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from core.errors import MlsdError
from eval.phases import PHASE
from ui import render, resources, state
from ui.library import safe_filename

log = logging.getLogger(__name__)

HEADLINE = ("hit@", "mrr", "ndcg@", "recall@")


def list_runs(eval_dir: Path) -> list[Path]:
    """Run folders (holding a report.json) under eval_dir, newest first."""
    if not eval_dir.is_dir():
        return []
    runs = [p.parent for p in eval_dir.glob("**/report.json")]
    return sorted(runs, key=lambda p: (p / "report.json").stat().st_mtime, reverse=True)


def load_run(run_dir: Path) -> dict | None:
    try:
        data = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("modes"), dict) else None


def metrics_frame(report: dict) -> pd.DataFrame:
    """Rows = modes, columns = metric means (headline metrics first)."""
    table = {
        mode: {name: (s or {}).get("mean") for name, s in result.get("metrics", {}).items()}
        for mode, result in report["modes"].items()
    }
    frame = pd.DataFrame(table).T
    order = sorted(
        frame.columns,
        key=lambda n: (next((i for i, p in enumerate(HEADLINE) if n.startswith(p)), 9), n),
    )
    return frame[order]


def rows_frame(report: dict) -> pd.DataFrame:
    records = []
    for mode, result in report["modes"].items():
        for row in result.get("rows", []):
            records.append(
                {
                    "mode": mode,
                    "id": row.get("id"),
                    "stage": row.get("stage"),
                    "kind": row.get("kind"),
                    "question": row.get("question"),
                    "declined": row.get("declined"),
                    **{k: v for k, v in (row.get("metrics") or {}).items()},
                    "top source": (row.get("retrieved") or [{}])[0].get("source"),
                    "errors": "; ".join(f"{k}: {v}" for k, v in (row.get("errors") or {}).items()),
                }
            )
    return pd.DataFrame(records)


def compare_frame(current: dict, previous: dict) -> pd.DataFrame:
    """Per mode and metric: this run, the previous run and the difference."""
    now, before = metrics_frame(current), metrics_frame(previous)
    out = []
    for mode in now.index:
        for metric in now.columns:
            a = now.at[mode, metric]
            b = before.at[mode, metric] if mode in before.index and metric in before else None
            delta = (
                a - b if a is not None and b is not None and pd.notna(a) and pd.notna(b) else None
            )
            out.append({"mode": mode, "metric": metric, "this run": a, "previous": b, "Δ": delta})
    return pd.DataFrame(out)


def _run_section() -> None:
    settings = resources.get_settings()
    st.subheader("Run an evaluation")
    source = st.radio("Dataset", ["Golden set", "Upload a JSONL file"], horizontal=True)
    dataset: Path | None = settings.golden_path
    if source == "Upload a JSONL file":
        upload = st.file_uploader("Dataset (.jsonl)", type=["jsonl"], key="eval_upload")
        dataset = None
        if upload is not None:
            folder = settings.eval_dir / "datasets"
            folder.mkdir(parents=True, exist_ok=True)
            dataset = folder / safe_filename(upload.name)
            dataset.write_bytes(upload.getvalue())
    cols = st.columns([2, 1, 1])
    modes = cols[0].multiselect("Retrieval modes", list(state.MODES), default=list(state.MODES))
    k = cols[1].number_input("k", 1, 20, value=int(st.session_state.top_k))
    llm = cols[2].checkbox(
        "LLM judge (RAGAS)",
        disabled=not settings.llm_enabled,
        help="Needs an LLM endpoint; without it only the retrieval and text metrics run.",
    )
    if not st.button("Run evaluation", type="primary", disabled=not (dataset and modes)):
        return
    bar = st.progress(0.0, text="Starting: loading the evaluation code…")

    def progress(done: int, total: int, label: str = "") -> None:
        # a phase is announced as it starts (done=0), then every answered row
        if label.startswith(PHASE):
            text = label[len(PHASE) :].capitalize() + "…"
        else:
            text = f"{done}/{total} {label}"
        # called from a worker thread the bar cannot update; the run goes on
        with contextlib.suppress(Exception):
            bar.progress(min(1.0, done / max(total, 1)), text=text[:120])

    out_dir = settings.eval_dir / f"app-{datetime.now():%Y%m%d-%H%M%S}"
    try:
        with st.spinner("Evaluating…", show_time=True):
            report = resources.run_eval(state.tab_deps(), dataset, modes, int(k), llm, progress)
            resources.write_eval_report(report, out_dir)
    except resources.Unavailable as exc:
        st.info(render.inline(str(exc), 400), icon=":material/construction:")
        return
    except MlsdError as exc:
        st.error(render.inline(str(exc), 400))
        return
    bar.progress(1.0, text="Done")
    st.session_state.eval_run_dir = str(out_dir)


def _results_section() -> None:
    settings = resources.get_settings()
    runs = list_runs(settings.eval_dir)
    if not runs:
        st.info("No evaluation run yet: run one above, or `mlsd eval` on the command line.")
        return
    labels = {str(r): r.relative_to(settings.eval_dir).as_posix() for r in runs}
    current = st.session_state.eval_run_dir
    if current not in labels:
        current = str(runs[0])
    st.subheader("Results")
    chosen = st.selectbox(
        "Run", list(labels), index=list(labels).index(current), format_func=labels.get
    )
    report = load_run(Path(chosen))
    if report is None:
        st.error("That run's report.json cannot be read.")
        return
    st.caption(
        f"Dataset {render.inline(Path(str(report.get('dataset', ''))).name, 80)} · created "
        f"{render.inline(str(report.get('created', '')), 40)}"
    )
    with st.expander("Run settings", icon=":material/tune:"):
        st.json(report.get("settings", {}), expanded=True)
    for warning in (report.get("warnings") or [])[:10]:
        st.warning(render.inline(warning, 300))
    if report.get("bad_lines"):
        st.warning(f"{len(report['bad_lines'])} dataset lines were skipped (see report.md).")
    metrics = metrics_frame(report)
    st.markdown("**Metrics** (mean over questions; one column per retrieval mode)")
    st.dataframe(metrics.T.round(3), width="stretch")
    headline = [c for c in metrics.columns if c.startswith(HEADLINE)]
    if headline:
        st.bar_chart(metrics[headline].T, stack=False, height=280)
    _downloads(Path(chosen))
    _compare(report, Path(chosen), runs, labels)
    _rows(report)
    images = sorted(Path(chosen).glob("*.png"))
    if images:
        with st.expander("Plots", icon=":material/bar_chart:"):
            for image in images:
                st.image(str(image), caption=image.name)


def _downloads(run_dir: Path) -> None:
    cols = st.columns(3)
    for col, (name, mime) in zip(
        cols,
        (
            ("report.md", "text/markdown"),
            ("report.json", "application/json"),
            ("rows.csv", "text/csv"),
        ),
    ):
        path = run_dir / name
        if path.is_file():
            col.download_button(
                f"Download {name}", path.read_bytes(), file_name=name, mime=mime, key=f"dl-{name}"
            )


def _compare(report: dict, chosen: Path, runs: list[Path], labels: dict) -> None:
    others = [str(r) for r in runs if r != chosen]
    if not others:
        return
    with st.expander("Compare with a previous run", icon=":material/compare_arrows:"):
        other = st.selectbox("Previous run", others, format_func=labels.get, key="eval_compare")
        previous = load_run(Path(other))
        if previous is None:
            st.error("That run's report.json cannot be read.")
            return
        table = compare_frame(report, previous)
        st.dataframe(table.round(3), hide_index=True, width="stretch")


def _rows(report: dict) -> None:
    frame = rows_frame(report)
    if frame.empty:
        return
    st.markdown("**Per question**")
    cols = st.columns([1, 1, 2, 1])
    mode = cols[0].selectbox("Mode", ["all", *sorted(frame["mode"].unique())], key="rows_mode")
    stages = sorted(s for s in frame["stage"].dropna().unique())
    stage = cols[1].selectbox("Stage", ["all", *stages], key="rows_stage")
    needle = cols[2].text_input("Question contains", key="rows_text")
    hit = next((c for c in frame.columns if c.startswith("hit@")), None)
    misses = cols[3].checkbox("Only misses", key="rows_misses", disabled=hit is None)
    if mode != "all":
        frame = frame[frame["mode"] == mode]
    if stage != "all":
        frame = frame[frame["stage"] == stage]
    if needle:
        frame = frame[frame["question"].str.contains(needle, case=False, regex=False)]
    if misses and hit:
        frame = frame[frame[hit] == 0]
    st.caption(f"{len(frame)} rows")
    st.dataframe(frame, hide_index=True, width="stretch", height=360)


def page() -> None:
    st.title("Evaluate")
    st.caption(
        "Measure retrieval (hit@k, MRR, nDCG, recall) and answers on the golden question set "
        "or your own JSONL, per retrieval mode; compare with earlier runs."
    )
    _run_section()
    st.divider()
    _results_section()


if __name__ == "__main__":
    page()
