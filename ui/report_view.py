"""Draw a design critique report (`tools.grader.CritiqueReport.model_dump()`).

Shared by the Critique page, the Mock interview page and chat answers that carry a report.
Every string from the report is sanitized: evidence quotes come from the user's design.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from ui.render import inline, sanitize_markdown

STATUS_MARK = {
    "met": ":green[●] **met**",
    "partial": ":orange[●] **partial**",
    "missing": ":red[●] **missing**",
    "n/a": ":gray[●] **n/a** (does not apply to this problem)",
}


def _percent(value: Any) -> float | None:
    """A fraction (0-1) as a percentage."""
    return round(float(value) * 100, 1) if isinstance(value, int | float) else None


def stage_frame(report: dict) -> pd.DataFrame:
    """One row per stage: score, time budget, share of the interview and of the design."""
    return pd.DataFrame(
        [
            {
                "stage": s.get("name") or s.get("id"),
                "score": s.get("score"),
                "budget (min)": s.get("time_budget_min"),
                "share of time %": _percent(s.get("budget_share")),
                "share of design %": _percent(s.get("share_of_design")),
                "words": s.get("words"),
                "red flags": len(s.get("red_flags") or []),
            }
            for s in report.get("stages") or []
        ]
    )


def stage_charts(report: dict) -> None:
    """Stage scores (0-100, coloured by band), and the time plan: the share of interview time
    each stage deserves next to the share of this design it got."""
    import altair as alt

    frame = stage_frame(report)
    if frame.empty:
        return
    frame["band"] = pd.cut(
        frame["score"].fillna(0), [-1, 39, 69, 100], labels=["weak", "fair", "strong"]
    ).astype(str)
    left, right = st.columns(2)
    with left:
        st.markdown("**Score by stage** (0-100)")
        scores = (
            alt.Chart(frame)
            .mark_bar()
            .encode(
                x=alt.X("score:Q", scale=alt.Scale(domain=[0, 100]), title=None),
                y=alt.Y("stage:N", sort=None, title=None, axis=alt.Axis(labelLimit=220)),
                color=alt.Color(
                    "band:N",
                    scale=alt.Scale(
                        domain=["weak", "fair", "strong"], range=["#d9534f", "#f0ad4e", "#2e9d5b"]
                    ),
                    legend=alt.Legend(orient="bottom", title=None),
                ),
                tooltip=["stage", "score"],
            )
        )
        st.altair_chart(scores, height=300)
    with right:
        st.markdown("**Time plan**: share of the interview vs share of this design (%)")
        plan = frame.melt(
            id_vars="stage",
            value_vars=["share of time %", "share of design %"],
            var_name="share",
            value_name="percent",
        )
        bars = (
            alt.Chart(plan)
            .mark_bar()
            .encode(
                x=alt.X("percent:Q", title=None),
                y=alt.Y("stage:N", sort=None, title=None, axis=alt.Axis(labelLimit=220)),
                yOffset="share:N",
                color=alt.Color("share:N", legend=alt.Legend(orient="bottom", title=None)),
                tooltip=["stage", "share", "percent"],
            )
        )
        st.altair_chart(bars, height=300)


def show_report(report: dict, compact: bool = False) -> None:
    """Overall score, the charts, then (unless compact) stage-by-stage detail."""
    overall = report.get("overall")
    cols = st.columns(3)
    cols[0].metric("Overall", f"{overall} / 100" if overall is not None else "–")
    cols[1].metric("Level", str(report.get("level") or "–"))
    cols[2].metric("Words graded", report.get("graded_words") or report.get("words") or "–")
    if report.get("is_design") is False:
        st.warning(render_text(report.get("summary")), icon=":material/help:")
        return
    if report.get("summary"):
        st.markdown(sanitize_markdown(report["summary"]))
    for notice in report.get("notices") or []:
        st.info(inline(notice, 400))
    stage_charts(report)
    if compact:
        return
    st.dataframe(stage_frame(report), hide_index=True, width="stretch")
    st.subheader("Stage by stage")
    level = report.get("level") or ""
    for stage in report.get("stages") or []:
        _stage_detail(stage, level)
    ignored = report.get("ignored_instructions") or []
    if ignored:
        with st.expander("Text addressed to the grader (ignored)", icon=":material/block:"):
            for quote in ignored:
                st.markdown("> " + inline(quote, 400))


def render_text(text: Any) -> str:
    return sanitize_markdown(str(text or ""))


def _stage_detail(stage: dict, level: str) -> None:
    score = stage.get("score")
    flags = stage.get("red_flag_details") or []
    title = f"{stage.get('name') or stage.get('id')} — {score if score is not None else '–'}/100"
    if flags:
        title += f" · {len(flags)} red flag{'s' if len(flags) > 1 else ''}"
    icon = ":material/flag:" if flags else ":material/checklist:"
    with st.expander(inline(title), icon=icon):
        if stage.get("expectation"):
            st.caption(f"Expected at {inline(level)} level: {inline(stage['expectation'], 400)}")
        for flag in flags:
            penalty = f" (−{flag['penalty']})" if flag.get("penalty") else ""
            text = inline(flag.get("description") or flag.get("id"), 300)
            st.error(f"Red flag: {text}{penalty}", icon=":material/flag:")
            if flag.get("evidence"):
                st.markdown("> " + inline(flag["evidence"], 400))
        for crit in stage.get("criteria") or []:
            _criterion(crit)
        linked = {(c["reference"]["source"], c["reference"]["section"])
                  for c in stage.get("criteria") or [] if c.get("reference")}  # fmt: skip
        extra = [r for r in stage.get("references") or []
                 if (r.get("source"), r.get("section")) not in linked]  # fmt: skip
        if extra:
            st.markdown("**Read in the study material**")
            for ref in extra:
                passage_link(ref)


def _criterion(crit: dict) -> None:
    mark = STATUS_MARK.get(str(crit.get("status")), inline(str(crit.get("status"))))
    bonus = "" if crit.get("expected", True) else " *(bonus at this level)*"
    text = inline(crit.get("description") or crit.get("id"), 300)
    st.markdown(f"{mark}{bonus}: {text}")
    if crit.get("evidence"):
        st.markdown("> " + inline(crit["evidence"], 400))
    if crit.get("status") != "met" and crit.get("follow_up"):
        st.caption(f"Interviewer would ask: {inline(crit['follow_up'], 300)}")
    if crit.get("reference"):
        passage_link(crit["reference"])


def passage_link(ref: dict) -> None:
    """A link to the Library page's passage viewer for a corpus source/section."""
    source, section = str(ref.get("source") or ""), str(ref.get("section") or "")
    st.page_link(
        "ui/library.py",
        label=inline(f"Study: {source} — {section}" if section else f"Study: {source}", 140),
        icon=":material/menu_book:",
        query_params={"source": source, "section": section} if section else {"source": source},
    )
