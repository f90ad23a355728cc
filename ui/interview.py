"""Mock interview page: a problem, a stage timer with rubric budgets, the interviewer's
questions in a chat, then the graded report and the reference solution."""

from __future__ import annotations

import logging
import re

import streamlit as st

from core.errors import MlsdError
from ui import render, resources, state
from ui.report_view import show_report

log = logging.getLogger(__name__)

RANDOM = "__random__"
_TAG = re.compile(r"^\s*\[interview [^\]]*\]\s*")  # the CLI/chat routing tag, not for humans


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _say(turn) -> None:
    st.session_state.interview_log.append(
        {"role": "assistant", "content": _TAG.sub("", turn.text), "stage": turn.stage_name}
    )


def _setup() -> None:
    deps = state.tab_deps()
    try:
        problems = resources.interview_problems(deps)
    except resources.Unavailable as exc:
        st.info(render.inline(str(exc), 400), icon=":material/construction:")
        return
    options = {RANDOM: "Draw a random problem"}
    options.update({p["id"]: f"{p['title']} — {p['question']}" for p in problems})
    choice = st.selectbox(
        "Problem", list(options), format_func=lambda k: render.inline(options[k], 200)
    )
    level = st.segmented_control("Level", state.LEVELS, default="senior", key="interview_level")
    stages = resources.rubric_stages(deps)
    if stages:
        st.caption(
            "Stages and time budgets: "
            + " · ".join(f"{s['name']} {s['time_budget_min']:g} min" for s in stages)
        )
    if st.button("Start the interview", type="primary", icon=":material/play_arrow:"):
        _, _, offline = state.query_options()
        try:
            interview = resources.start_interview(
                deps, None if choice == RANDOM else choice, level or "senior", offline
            )
        except MlsdError as exc:
            st.error(render.inline(str(exc), 300))
            return
        st.session_state.interview = interview
        st.session_state.interview_log = []
        _say(interview.start())
        st.rerun()


@st.fragment(run_every=1.0)
def _timer() -> None:
    """The stage and total clocks, redrawn every second without rerunning the page."""
    interview = st.session_state.interview
    if interview is None:
        return
    stage_s, total_s = interview.elapsed()
    stages = resources.rubric_stages(state.tab_deps())
    index = min(interview.stage_index, len(stages) - 1)
    stage = stages[index] if stages else {"name": "?", "time_budget_min": 0}
    budget_s = (stage["time_budget_min"] or 0) * 60
    cols = st.columns([3, 1])
    over = budget_s and stage_s > budget_s
    cols[0].progress(
        min(1.0, stage_s / budget_s) if budget_s else 0.0,
        text=(
            f"Stage {index + 1}/{len(stages)} · {stage['name']} · {_clock(stage_s)} of "
            f"{stage['time_budget_min']:g}:00" + (" — over budget, wrap up" if over else "")
        ),
    )
    cols[1].metric("Total", _clock(total_s))


def _answer(text: str, shown: str | None = None) -> None:
    interview = st.session_state.interview
    st.session_state.interview_log.append({"role": "user", "content": shown or text})
    try:
        with st.spinner("The interviewer is reading your answer…"):
            turn = interview.reply(text)
    except MlsdError as exc:
        st.error(render.inline(str(exc), 300))
        return
    _say(turn)
    if turn.done:
        _finish()


def _finish() -> None:
    interview = st.session_state.interview
    try:
        with st.spinner("Grading the whole interview…", show_time=True):
            result = interview.finish()
    except MlsdError as exc:
        st.error(render.inline(str(exc), 300))
        return
    st.session_state.interview_result = result.model_dump() | {"markdown": result.markdown()}


def _conversation() -> None:
    interview = st.session_state.interview
    title = re.sub(r"^worked solution:\s*", "", interview.title, flags=re.IGNORECASE)
    st.subheader(render.inline(title[:1].upper() + title[1:], 120))
    st.markdown(f"**Question:** {render.inline(interview.question, 400)}")
    if interview.finished:
        ended = interview.transcript[-1].at if interview.transcript else interview.started_at
        total_s = (ended or 0) - (interview.started_at or 0)
        st.caption(f"Interview finished after {_clock(total_s)}.")
    else:
        _timer()
    for message in st.session_state.interview_log:
        with st.chat_message(message["role"]):
            render.markdown(message["content"])
    if st.session_state.interview_result is None:
        cols = st.columns(3)
        if cols[0].button("Next stage", icon=":material/skip_next:"):
            _answer("/next", "_(moves on to the next stage)_")
            st.rerun()
        if cols[1].button("Finish and grade", icon=":material/flag:"):
            _answer("/finish", "_(ends the interview)_")
            st.rerun()
        cols[2].button("Abandon", icon=":material/close:", on_click=state.reset_interview)
        text = st.chat_input("Your answer…", max_chars=resources.get_settings().max_question_chars)
        if text:
            _answer(text)
            st.rerun()
        return
    _result()


def _result() -> None:
    result = st.session_state.interview_result
    st.divider()
    st.subheader("Your report")
    if result.get("report"):
        show_report(result["report"])
    else:
        render.markdown(result.get("report_markdown"))
    with st.expander("Reference solution", icon=":material/menu_book:"):
        render.markdown(result.get("reference_markdown") or "_(no reference solution found)_")
    cols = st.columns(2)
    cols[0].download_button(
        "Download report and reference (.md)",
        data=result["markdown"],
        file_name=f"interview-{result.get('reference_id', 'mlsd')}.md",
        mime="text/markdown",
        icon=":material/download:",
    )
    cols[1].button("New interview", icon=":material/restart_alt:", on_click=state.reset_interview)


def page() -> None:
    st.title("Mock interview")
    st.caption(
        "A 45-minute ML system design interview, stage by stage: the interviewer asks, follows "
        "up on what your answer misses, and grades the whole transcript at the end. "
        "Type `/next` to move on or `/finish` to end."
    )
    if st.session_state.interview is None:
        _setup()
    else:
        _conversation()


if __name__ == "__main__":
    page()
