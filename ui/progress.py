"""Progress page: scores over time per stage, criteria missed most often (with the passage
that teaches each), time-plan habits, the study plan with a one-click mock interview, export
and reset. Also the app's history context (`apply_history_context`, called by app.py on every
run): this tab's "save my history" toggle and the logged-in Streamlit user."""

from __future__ import annotations

import io
import logging
import re
import tempfile
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import streamlit as st

from core.errors import MlsdError
from progress import history
from ui import render, resources, state
from ui.report_view import passage_link

log = logging.getLogger(__name__)

PERIODS = {"All time": None, "Last 90 days": 90, "Last 30 days": 30, "Last 7 days": 7}
TREND_ICON = {"improving": "↘ improving", "worsening": "↗ worsening", "steady": "→ steady"}
_TAG = re.compile(r"^\s*\[interview [^\]]*\]\s*")


def learner() -> str | None:
    """The logged-in user's identity when the app runs with authentication, else None."""
    try:
        if st.user.is_logged_in:
            return str(st.user.get("email") or st.user.get("name") or st.user.get("sub"))
    except Exception:  # no auth configured, or an older Streamlit: the local learner
        return None
    return None


def apply_history_context() -> None:
    """Saves made during this run follow this tab's toggle and belong to its user."""
    if "save_history" not in st.session_state:
        st.session_state.save_history = resources.get_settings().save_history
    history.saving_enabled.set(bool(st.session_state.save_history))
    history.current_user.set(learner())
    history.current_mode.set("app")


def history_toggle() -> None:
    state.bind("save_history_widget", "save_history")
    st.toggle(
        "Save my critiques and interviews",
        key="save_history_widget",
        on_change=state.sync,
        args=("save_history_widget", "save_history"),
        help="Keeps scores, criteria and red flags of each critique and finished mock "
        "interview in the history database (MLSD_DATABASE_URL), for this page.",
    )
    history.saving_enabled.set(bool(st.session_state.save_history))


def _line(points: list[dict], field: str, height: int) -> None:
    """A line over time on a fixed 0-100 scale (st.line_chart would zoom on the data). A plain
    Vega-Lite spec: building it with altair costs its import and a schema validation per
    chart, most of the page's time with a long history."""
    frame = pd.DataFrame(
        {"when": pd.to_datetime([p["at"] for p in points]), field: [p[field] for p in points]}
    )
    spec = {
        "mark": {"type": "line", "point": len(points) < 40},
        "encoding": {
            "x": {"field": "when", "type": "temporal", "title": None},
            "y": {"field": field, "type": "quantitative", "scale": {"domain": [0, 100]},
                  "title": None},
            "tooltip": [{"field": "when", "type": "temporal"},
                        {"field": field, "type": "quantitative"}],
        },
        "height": height,
    }  # fmt: skip
    st.vega_lite_chart(frame, spec, width="stretch")


def _charts(summary: dict) -> None:
    st.markdown("**Overall score**")
    _line(summary["overall"], "overall", 220)
    stages = [s for s in summary["stages"] if s["scores"]]
    cols = st.columns(2)
    for i, stage in enumerate(stages):
        change = "" if stage["change"] is None else f" ({stage['change']:+g})"
        with cols[i % 2]:
            st.markdown(
                f"**{render.inline(stage['name'])}** — recent mean {stage['recent_mean']:g}{change}"
            )
            _line(stage["scores"], "score", 160)


def _missed(summary: dict) -> None:
    st.subheader(f"Criteria missed most often (last {summary['window']} designs)")
    if not summary["missed_criteria"]:
        st.caption("No criterion missed in the saved designs.")
    names = {s["id"]: s["name"] for s in summary["stages"]}
    for m in summary["missed_criteria"]:
        trend = TREND_ICON.get(m["trend"], m["trend"])
        stage = names.get(m["stage"], m["stage"])
        st.markdown(
            f"**{render.inline(m['description'], 200)}** · {render.inline(stage)} · "
            f"missed {m['missed']}/{m['graded']} · {trend}"
        )
        if m["teaches"].get("source"):
            passage_link(m["teaches"])


def _time_plan(summary: dict) -> None:
    for t in summary["time_plan"]:
        st.warning(
            f"Time plan: **{render.inline(t['name'])}** got {t['mean_share']:.0%} of your designs "
            f"against {t['budget_share']:.0%} of the interview (short in {t['short_in']} of "
            f"{t['of']}).",
            icon=":material/schedule:",
        )


def _start_interview(problem: str) -> None:
    _, _, offline = state.query_options()
    try:
        interview = resources.start_interview(state.tab_deps(), problem, "senior", offline)
    except (MlsdError, resources.Unavailable) as exc:
        st.session_state.progress_error = str(exc)
        return
    state.reset_interview()
    st.session_state.interview = interview
    turn = interview.start()
    st.session_state.interview_log = [
        {"role": "assistant", "content": _TAG.sub("", turn.text), "stage": turn.stage_name}
    ]
    st.session_state.progress_go_interview = True


def _plan(plan: dict | None) -> None:
    st.subheader("What next")
    if not plan:
        st.caption("No worked solutions found, so there is no practice problem to suggest.")
        return
    title = re.sub(r"^worked solution:\s*", "", plan["title"], flags=re.IGNORECASE)
    st.markdown(f"**{render.inline(title, 120)}** — {render.inline(plan['question'], 300)}")
    st.caption(render.inline(plan["why"], 300))
    if plan["read_first"]:
        st.markdown("Read first:")
        for ref in plan["read_first"]:
            passage_link(ref)
    st.button(
        "Start a mock interview on it",
        type="primary",
        icon=":material/play_arrow:",
        key="plan_start",
        on_click=_start_interview,
        args=(plan["problem"],),
    )


def _export(summary: dict) -> None:
    from progress.export import export_report

    with tempfile.TemporaryDirectory(prefix="mlsd-progress-") as tmp:
        out = Path(tmp) / "progress.md"
        files = export_report(summary, summary["plan"], summary["review"], out)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for path in files:
                archive.write(path, path.relative_to(tmp).as_posix())
    st.session_state.progress_export = buffer.getvalue()


def _manage(summary: dict) -> None:
    with st.expander("Export or delete my history", icon=":material/settings:"):
        st.button("Prepare a report (.md + PNG charts)", on_click=_export, args=(summary,))
        if st.session_state.get("progress_export"):
            st.download_button(
                "Download progress report (.zip)",
                data=st.session_state.progress_export,
                file_name="mlsd-progress.zip",
                mime="application/zip",
                icon=":material/download:",
            )
        sure = st.checkbox("Yes, delete every saved attempt and review card of mine")
        if st.button("Delete my history", disabled=not sure, icon=":material/delete:"):
            deleted = history.reset_history(resources.get_settings())
            n_attempts, n_cards = deleted["attempts"], deleted["review_cards"]
            st.success(f"Deleted {n_attempts} attempts and {n_cards} review cards.")


def page() -> None:
    st.title("Progress")
    st.caption(
        "Every critique and finished mock interview you save: scores over time, the criteria "
        "you keep missing and where the material teaches them, and what to practise next."
    )
    history_toggle()
    if st.session_state.pop("progress_go_interview", False):
        st.switch_page("ui/interview.py")
    if st.session_state.get("progress_error"):
        st.error(render.inline(st.session_state.pop("progress_error"), 300))
    period = st.segmented_control(
        "Period", list(PERIODS), default="All time", key="progress_period"
    )
    days = PERIODS.get(period or "All time")
    since = datetime.now(UTC) - timedelta(days=days) if days else None
    from progress.overview import build

    try:
        summary = build(resources.get_settings(), since)
    except MlsdError as exc:
        st.error(render.inline(str(exc), 300), icon=":material/database:")
        return
    who = render.inline(summary["user"], 80)
    cols = st.columns(4)
    cols[0].metric("Attempts", summary["attempts"])
    last = summary["overall"][-1]["overall"] if summary["overall"] else None
    first = summary["overall"][0]["overall"] if summary["overall"] else None
    delta = last - first if last is not None and len(summary["overall"]) > 1 else None
    cols[1].metric("Latest overall", "-" if last is None else f"{last}/100", delta=delta)
    cols[2].metric("Review due", summary["review"]["due"])
    cols[3].metric("Learner", who)
    if not summary["overall"]:
        st.info("No graded designs saved yet: critique a design or finish a mock interview.")
    else:
        _charts(summary)
        _missed(summary)
        _time_plan(summary)
    _plan(summary["plan"])
    _manage(summary)


if __name__ == "__main__":
    page()
