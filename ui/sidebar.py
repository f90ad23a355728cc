"""The sidebar: the settings that change answers (top-k, retrieval mode, LLM use) and status."""

from __future__ import annotations

import streamlit as st

from ui import resources
from ui.render import inline
from ui.state import MODES


def render() -> None:
    with st.sidebar:
        st.subheader("Settings")
        st.slider("Passages per answer (top-k)", 1, 20, key="top_k")
        st.selectbox(
            "Retrieval mode",
            MODES,
            key="retrieval_mode",
            help="hybrid: meaning + keywords (best on the golden set); dense: meaning; "
            "bm25: exact keywords.",
        )
        status = resources.llm_endpoint_status()
        st.toggle(
            "Use the LLM",
            key="use_llm",
            disabled=not status["configured"],
            help="Needs OPENAI_API_KEY or OPENAI_BASE_URL; without it answers are offline "
            "(retrieval-grounded, no generation).",
        )
        _llm_status(status)
        _store_status()


def _llm_status(status: dict) -> None:
    if not status["configured"]:
        st.caption("LLM endpoint: not configured — offline answers.")
        return
    where = inline(f"{status['model']} at {status['base_url']}")
    if status["reachable"]:
        st.caption(f":green[●] LLM endpoint reachable: {where}")
    else:
        detail = inline(status["detail"])
        st.caption(f":red[●] LLM endpoint unreachable ({detail}): {where}; answers fall back.")
    st.caption(f"Endpoint: {inline(status.get('origin', ''))}")
    cooldown = resources.llm_cooldown()
    if cooldown:
        st.caption(f":orange[●] Answering offline: {inline(cooldown)}.")
    if st.button("Re-check endpoint", key="recheck_llm", help="Ask the endpoint again now."):
        resources.recheck_llm_endpoint()
        st.rerun()


def _store_status() -> None:
    try:
        stats = resources.store_stats()
    except Exception as exc:  # a broken store is reported, not raised, in the sidebar
        st.caption(f"Store: unreadable ({inline(type(exc).__name__)}).")
        return
    if not stats.get("chunks"):
        st.caption("Store: empty — ingest the corpus on the Library page or run `mlsd ingest`.")
    else:
        st.caption(f"Store: {stats['sources']} files, {stats['chunks']} chunks.")
