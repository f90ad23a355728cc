"""The app in LLM mode: the real LangChain agent against the scripted OpenAI-compatible server."""

from __future__ import annotations

import pytest
import streamlit as st
from fake_openai import DUMMY_KEY, Reply

QUESTION = "How do I avoid leakage when splitting data?"


@pytest.fixture
def llm_app(app_env, fake_openai, monkeypatch, app_test):
    """The app configured for the fake endpoint (2 s timeout, no retries)."""
    env = {
        "OPENAI_BASE_URL": fake_openai.url,
        "OPENAI_API_KEY": DUMMY_KEY,
        "MLSD_LLM_MODEL": "gpt-4o-mini",
        "MLSD_LLM_TIMEOUT_S": "2",
        "MLSD_LLM_MAX_RETRIES": "0",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    st.cache_resource.clear()
    st.cache_data.clear()
    return app_test


def _ask(at, question: str = QUESTION):
    at.chat_input[0].set_value(question).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _shown(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [w.value for w in at.warning] + [e.label for e in at.expander]
    parts += [s.label for s in at.status]
    return "\n".join(parts)


def _badge(at) -> str:
    badges = [m.value for m in at.markdown if "-badge[" in m.value]
    return badges[-1] if badges else ""


def test_llm_answer_streams_with_tool_status_citations_and_model_badge(llm_app, fake_openai):
    fake_openai.queue(
        Reply.tool_call("search", {"query": "temporal split leakage", "k": 3}),
        "Split by time so the model never trains on the future [1].",
    )
    at = llm_app().run()
    assert at.toggle(key="use_llm").value is True
    assert "reachable" in " ".join(c.value for c in at.sidebar.caption)
    at = _ask(at)
    assert "LLM · gpt-4o-mini" in _badge(at)
    assert at.status[0].label == "Tool: search" and at.status[0].state == "complete"
    assert any(e.label.startswith("\\[1\\]") for e in at.expander)
    assert any("never trains on the future" in m.value for m in at.markdown)
    assert DUMMY_KEY not in _shown(at)


def test_endpoint_fault_falls_back_offline_and_says_why(llm_app, fake_openai):
    fake_openai.always(Reply.status(500))
    at = _ask(llm_app().run())
    badge = _badge(at)
    assert "offline fallback" in badge and "500" in badge
    assert at.session_state.chat_history[-1]["citations"]  # the offline answer still cites
    assert DUMMY_KEY not in _shown(at)


def test_turning_the_llm_off_answers_offline_without_calling_it(llm_app, fake_openai):
    at = llm_app().run()
    at.toggle(key="use_llm").set_value(False).run()
    at = _ask(at)
    badge = _badge(at)
    assert "offline" in badge and "fallback" not in badge
    assert fake_openai.chat_requests == []


def test_a_refused_endpoint_cools_down_and_the_sidebar_can_recheck(app_env, monkeypatch, app_test):
    """After a refused connection the next turns go offline at once, the sidebar says so
    with the endpoint's origin, and its re-check button asks the endpoint again."""
    import socket

    from agents.factory import clear_unreachable, unreachable_reason
    from core.settings import Settings

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    monkeypatch.setenv("OPENAI_API_KEY", DUMMY_KEY)
    st.cache_resource.clear()
    st.cache_data.clear()
    settings = Settings()
    try:
        at = _ask(app_test().run())
        badge = _badge(at)
        assert "offline fallback" in badge and "cannot connect" in badge
        assert unreachable_reason(settings)  # the next turns skip the endpoint
        at = at.run()
        captions = " ".join(c.value for c in at.sidebar.caption)
        assert "Answering offline" in captions
        assert "(from environment: OPENAI_BASE_URL)" in captions  # where the endpoint came from
        at.button(key="recheck_llm").click().run()
        assert not at.exception
        assert "Answering offline" not in " ".join(c.value for c in at.sidebar.caption)
    finally:
        clear_unreachable(settings)
