"""Mock interview page: a problem, a stage timer with rubric budgets, the interviewer's
questions in a chat, then the graded report and the reference solution."""

from __future__ import annotations

import streamlit as st

from ui import render, resources, state


def page() -> None:
    st.title("Mock interview")
    deps = state.tab_deps()
    try:
        resources.load("agents.interviewer", "__name__", "The mock interviewer")
    except resources.Unavailable as exc:
        st.info(render.inline(str(exc), 400), icon=":material/construction:")
    stages = resources.rubric_stages(deps)
    if stages:
        st.caption("Stage budgets for a 45-minute interview (from the rubric):")
        st.dataframe(stages, hide_index=True)


if __name__ == "__main__":
    page()
