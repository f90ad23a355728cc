"""The Streamlit app through `AppTest`: chat (with a scripted agent), sidebar, tabs, critique.

The agent is replaced through `ui.resources.get_agent_respond`, the one door the app uses to
reach an agent; everything else (store, grader, readers) is real, over the corpus store.
"""

from __future__ import annotations

import sys

import pytest
from markdown_it import MarkdownIt

import ui.resources
from agents.events import Citation, Final, TextDelta, ToolCall, ToolResult
from core.errors import InputError

PASSAGE = (
    "Split by time: train on the past, test on the future. ![t](http://attacker.example/p.png)"
)


class ScriptedAgent:
    """Yields a fixed event stream and records what it was asked."""

    def __init__(self, answer="Use a **temporal split** [1].", final=None, fail=None):
        self.answer, self.final, self.fail = answer, final or {}, fail
        self.calls: list[list] = []
        self.options: list[tuple] = []

    def get_agent_respond(self, top_k, mode, offline):
        self.options.append((top_k, mode, offline))
        return self.respond

    def respond(self, messages):
        self.calls.append(list(messages))
        yield ToolCall(name="search_corpus", args={"query": messages[-1].content, "k": 5})
        yield ToolResult(name="search_corpus", summary="5 passages from 3 files")
        if self.fail is not None:
            raise self.fail
        for word in self.answer.split(" "):
            yield TextDelta(text=word + " ")
        cite = Citation(
            n=1,
            source="concepts/data-splits-and-leakage.md",
            section="Data splits and leakage > Temporal splits",
            chunk_id="c1",
            text=PASSAGE,
        )
        yield cite
        yield Final(answer=self.answer, citations=[cite], seconds=0.3, **self.final)


@pytest.fixture
def agent(monkeypatch):
    scripted = ScriptedAgent()
    monkeypatch.setattr(ui.resources, "get_agent_respond", scripted.get_agent_respond)
    return scripted


def _dangerous(md: str) -> list[str]:
    """Images, links or raw HTML a CommonMark renderer would produce from `md`."""
    stack, found = list(MarkdownIt("commonmark").enable("table").parse(md)), []
    while stack:
        token = stack.pop()
        stack.extend(token.children or [])
        if token.type in ("image", "link_open", "html_inline", "html_block"):
            found.append(token.type)
    return found


def _texts(at) -> list[str]:
    """Every markdown string and label the page rendered."""
    out = [m.value for m in at.markdown] + [c.value for c in at.caption]
    out += [e.label for e in at.expander] + [s.label for s in at.status]
    return out


def _ask(at, question: str):
    at.chat_input[0].set_value(question).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_chat_streams_answer_with_tool_status_sources_and_badge(app_test, agent):
    at = _ask(app_test().run(), "How should I split data for fraud?")
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    assert any("temporal split" in m.value for m in at.markdown)
    status = at.status[0]
    assert "search_corpus" in status.label and status.state == "complete"
    source_card = at.expander[0]
    assert "concepts/data-splits-and-leakage.md" in source_card.label
    assert "Temporal splits" in source_card.label
    assert any("Split by time" in m.value for m in source_card.markdown)
    assert any("offline" in m.value and "badge" in m.value for m in at.markdown)
    assert agent.calls[0][-1].content == "How should I split data for fraud?"


def test_second_question_sends_the_conversation_and_redraws_history(app_test, agent):
    at = _ask(app_test().run(), "First question?")
    at = _ask(at, "And a follow-up?")
    sent = agent.calls[1]
    assert [m.role for m in sent] == ["user", "assistant", "user"]
    assert sent[1].content == agent.answer
    assert len(at.chat_message) == 4
    assert len(at.status) == 2  # the first turn's tool call is still shown, collapsed


@pytest.mark.parametrize(
    ("final", "expected"),
    [
        ({"mode": "llm", "model": "gpt-test-model"}, "gpt-test-model"),
        ({"mode": "offline", "fallback_reason": "LLM endpoint timed out"}, "timed out"),
    ],
)
def test_mode_badge_names_the_model_or_the_fallback_reason(app_test, monkeypatch, final, expected):
    scripted = ScriptedAgent(final=final)
    monkeypatch.setattr(ui.resources, "get_agent_respond", scripted.get_agent_respond)
    at = _ask(app_test().run(), "Which metric?")
    badges = [m.value for m in at.markdown if "-badge[" in m.value]
    assert badges and expected in badges[0]


def test_untrusted_answer_and_passages_render_inert(app_test, monkeypatch):
    evil = (
        "See ![x](http://attacker.example/pixel.png) and <img src=http://attacker.example/i>"
        " <script>alert(1)</script> [login](http://attacker.example/phish) www.attacker.example"
    )
    scripted = ScriptedAgent(answer=evil)
    monkeypatch.setattr(ui.resources, "get_agent_respond", scripted.get_agent_respond)
    at = _ask(app_test().run(), "Tell me something")
    rendered = _texts(at)
    assert any("login" in text for text in rendered)  # the words are still there
    for text in rendered:
        assert _dangerous(text) == [], text


def test_clear_chat_empties_the_conversation(app_test, agent):
    at = _ask(app_test().run(), "Hello?")
    [b for b in at.button if b.label == "Clear chat"][0].click().run()
    assert not at.chat_message
    assert at.session_state.chat_history == []


def test_tabs_keep_separate_conversations(app_test, agent):
    first, second = app_test().run(), app_test().run()
    _ask(first, "Only in the first tab")
    second.run()
    assert len(first.chat_message) == 2
    assert not second.chat_message
    assert second.session_state.chat_history == []


def test_sidebar_choices_reach_the_agent(app_test, agent):
    at = app_test().run()
    at.slider(key="top_k").set_value(3)
    at.selectbox(key="retrieval_mode").set_value("bm25")
    _ask(at.run(), "Which mode?")
    assert agent.options[-1] == (3, "bm25", True)  # no LLM configured: offline


def test_missing_agent_code_shows_not_available_yet(app_test, monkeypatch):
    monkeypatch.setitem(sys.modules, "agents.factory", None)  # import fails like a missing file
    at = _ask(app_test().run(), "Anyone there?")
    assert any("not available yet" in i.value for i in at.info)


@pytest.mark.parametrize(
    ("fault", "shown"),
    [
        (InputError("The question is too long: shorten it."), "too long"),
        (RuntimeError("boom"), "The agent failed"),
    ],
)
def test_agent_faults_are_shown_not_raised(app_test, monkeypatch, fault, shown):
    scripted = ScriptedAgent(fail=fault)
    monkeypatch.setattr(ui.resources, "get_agent_respond", scripted.get_agent_respond)
    at = _ask(app_test().run(), "Break please")
    assert any(shown in w.value for w in at.warning)
    assert at.status[0].state == "complete"  # the tool that finished before the fault


def test_every_page_loads_without_errors(app_test, agent):
    at = app_test().run()
    for page in ("ui/critique.py", "ui/interview.py", "ui/evaluate.py", "ui/library.py"):
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert at.title, page


def test_a_suggested_question_is_asked_in_one_click(app_test, agent):
    at = app_test().run()
    suggestion = at.button[1]  # [0] is the disabled Clear chat
    suggestion.click().run()
    assert agent.calls[0][-1].content == suggestion.label
    assert len(at.chat_message) == 2
    assert [b.label for b in at.button] == ["Clear chat"]  # suggestions are gone


def test_empty_store_says_what_to_do_on_every_page(app_test, monkeypatch, tmp_path):
    import streamlit as st

    monkeypatch.setenv("MLSD_STORE_DIR", str(tmp_path / "empty-store"))
    st.cache_resource.clear()
    st.cache_data.clear()
    at = _ask(app_test().run(), "Anything?")
    assert any("mlsd ingest" in w.value for w in at.warning)
    assert any("Store: empty" in c.value for c in at.sidebar.caption)
    for page in ("ui/critique.py", "ui/interview.py", "ui/evaluate.py", "ui/library.py"):
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
    assert any("store is empty" in i.value for i in at.info)  # the Library page
    at.switch_page("ui/critique.py").run()
    at.button(key="example-1-comment-spam-filter.md").click().run()
    [b for b in at.button if b.label == "Critique"][0].click().run()
    assert not at.exception, [e.value for e in at.exception]
