"""The app with the real offline agent over the corpus store (no fake anywhere)."""

from __future__ import annotations

import pytest

import agents.factory
import ui.resources

QUESTION = "How should I split data for a fraud model with delayed labels?"


@pytest.fixture
def counted_make_agent(monkeypatch):
    """The real factory, counting how often the app builds an agent."""
    calls = []
    real = agents.factory.make_agent

    def counting(*args, **kwargs):
        calls.append(kwargs.get("offline"))
        return real(*args, **kwargs)

    monkeypatch.setattr(agents.factory, "make_agent", counting)
    return calls


def _ask(at, question: str):
    at.chat_input[0].set_value(question).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_offline_agent_answers_with_corpus_citations(app_test):
    at = _ask(app_test().run(), QUESTION)
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    assert not at.warning, [w.value for w in at.warning]
    cards = [e for e in at.expander if e.label.startswith("\\[")]
    assert cards, "no source cards"
    assert all(".md — " in card.label for card in cards)
    assert all(card.markdown for card in cards)  # each card holds its passage
    assert at.status and all(s.state == "complete" for s in at.status)
    assert any("offline" in m.value for m in at.markdown if "-badge[" in m.value)
    turn = at.session_state.chat_history[-1]
    assert turn["content"] and turn["citations"]
    assert turn["meta"]["mode"] == "offline"


def test_agent_is_built_once_and_shared_by_tabs(app_test, counted_make_agent):
    first, second = app_test().run(), app_test().run()
    _ask(first, QUESTION)
    _ask(second, "Which offline metrics fit a ranking model?")
    _ask(first, "And how do I monitor it?")
    assert counted_make_agent == [True]  # one offline agent for both tabs and all turns
    settings = ui.resources.get_settings()
    deps = ui.resources.get_deps(settings.top_k, settings.retrieval_mode)
    assert deps is ui.resources.get_deps(settings.top_k, settings.retrieval_mode)
    assert len(first.chat_message) == 4 and len(second.chat_message) == 2
