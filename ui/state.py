"""Per-tab session state, initialised in one place.

Each browser tab has its own `st.session_state`; nothing mutable is shared between tabs.
Values here are plain data (dicts, lists, strings) or pydantic objects, so a rerun, a page
switch or a second tab never sees another tab's conversation.
"""

from __future__ import annotations

import copy
from typing import Any

import streamlit as st

from ui import resources

LEVELS = ("mid", "senior", "staff")
MODES = ("hybrid", "dense", "bm25")


def _defaults() -> dict[str, Any]:
    settings = resources.get_settings()
    return {
        # sidebar (widget keys; the sidebar is drawn on every page, so they persist)
        "top_k": settings.top_k,
        "retrieval_mode": settings.retrieval_mode,
        "use_llm": settings.llm_enabled,
        # chat: [{"role", "content", "citations": [...], "tools": [...], "meta": {...}}]
        "chat_history": [],
        "pending_prompt": None,  # a suggested question the user clicked
        # critique
        "design_text": "",
        "design_name": "",
        "design_upload_error": None,
        "critique_level": "senior",
        "critique": None,  # {"report": dict, "markdown": str, "name": str}
        # mock interview
        "interview": None,  # the interviewer's state object (pydantic)
        "interview_log": [],  # [{"role", "content"}]
        "interview_problem": None,
        "interview_result": None,  # {"report": dict|None, "markdown": str, "solution": str}
        "stage_started_at": None,
        # evaluation
        "eval_run_dir": None,  # the run folder shown on the Evaluate page
        # library
        "library_result": None,  # the last ingest report, as a dict
    }


def init_state() -> None:
    """Set every key this app uses, once per tab (later runs keep the tab's values)."""
    for key, value in _defaults().items():
        if key not in st.session_state:
            st.session_state[key] = copy.deepcopy(value)


def query_options() -> tuple[int, str, bool]:
    """(top_k, retrieval mode, offline) as chosen in this tab's sidebar."""
    offline = not (st.session_state.use_llm and resources.llm_configured())
    return int(st.session_state.top_k), str(st.session_state.retrieval_mode), offline


def tab_deps():
    """The shared Deps matching this tab's sidebar choices."""
    top_k, mode, _ = query_options()
    return resources.get_deps(top_k, mode)


def clear_chat() -> None:
    st.session_state.chat_history = []


def bind(widget_key: str, store_key: str) -> None:
    """Keep a page widget's value when the user visits another page and comes back.

    Streamlit forgets the state of widgets that a run does not draw; the value is kept under
    `store_key` and copied into the widget before it is drawn (call `sync` in on_change)."""
    st.session_state[widget_key] = st.session_state[store_key]


def sync(widget_key: str, store_key: str) -> None:
    st.session_state[store_key] = st.session_state[widget_key]


def reset_interview() -> None:
    for key in ("interview", "interview_problem", "interview_result", "stage_started_at"):
        st.session_state[key] = None
    st.session_state.interview_log = []
