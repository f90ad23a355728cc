"""Unbounded consumption (OWASP LLM10): every input has a size cap with a clear message, and
an LLM turn has bounded steps, tokens and prompt size."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, run_cli
from fake_openai import Reply, endless_tool_calls

from core.errors import InputError

STRONG = ROOT / "tests" / "designs" / "strong.md"


def _user(text: str):
    from agents.events import Message

    return Message(role="user", content=text)


@pytest.fixture
def deps(corpus_settings, embedder):
    """Factory: Deps over the session corpus store with settings overrides."""
    from tools.deps import Deps

    def factory(**update):
        return Deps(corpus_settings.model_copy(update=update), embedder_override=embedder)

    return factory


# -- questions: Settings.max_question_chars ---------------------------------------------------
def test_search_question_cap(deps):
    retriever = deps(max_question_chars=60).retriever
    assert retriever.search("x" * 10 + " temporal split leakage " + "y" * 26)  # exactly 60
    with pytest.raises(InputError, match=r"61 characters.*limit is 60.*MLSD_MAX_QUESTION_CHARS"):
        retriever.search("temporal split " * 4 + "z")


def test_offline_agent_question_cap(deps):
    from agents.offline import OfflineAgent

    agent = OfflineAgent(deps(max_question_chars=60))
    with pytest.raises(InputError, match="MLSD_MAX_QUESTION_CHARS"):
        list(agent.respond([_user("Why does a temporal split prevent leakage? " * 3)]))
    assert list(agent.respond([_user("Why does a temporal split prevent leakage?")]))[-1].answer


def test_llm_agent_never_sends_an_over_long_question(deps, fake_openai):
    from agents.factory import make_agent

    agent = make_agent(deps(max_question_chars=60, **fake_openai.settings_overrides()))
    with pytest.raises(InputError, match="MLSD_MAX_QUESTION_CHARS"):
        list(agent.respond([_user("Why does a temporal split prevent leakage? " * 3)]))
    assert fake_openai.chat_requests == []  # nothing went to the paid endpoint


def test_cli_question_cap_is_one_clear_line(corpus_settings):
    env = {"MLSD_MAX_QUESTION_CHARS": "40"}
    store = ["--store", str(corpus_settings.store_dir)]
    result = run_cli("ask", "What is a temporal split and why use one?", *store, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: The query is 41 characters long; the limit is 40 (MLSD_MAX_QUESTION_CHARS)."
    ]


def test_app_chat_input_is_capped(app_test):
    from core.settings import Settings

    at = app_test().run()
    assert at.chat_input[0].max_chars == Settings().max_question_chars


# -- pasted designs: Settings.max_design_words ------------------------------------------------
def test_grader_grades_only_the_first_max_design_words(deps):
    from tools.grader import critique_design

    report = critique_design(deps(max_design_words=150), STRONG.read_text(), "senior")
    assert report.truncated and report.graded_words <= 150 < report.words
    notice = "only the first 150 were graded (MLSD_MAX_DESIGN_WORDS)"
    assert any(notice in n for n in report.notices)


def test_chat_message_cap_for_pastes(deps):
    from agents.offline import OfflineAgent

    agent = OfflineAgent(deps(max_design_words=20, max_question_chars=100))
    with pytest.raises(InputError, match="limit is 240"):
        list(agent.respond([_user("critique this design:\n" + "word " * 100)]))


def test_cli_critique_says_the_design_was_truncated(tmp_path):
    design = tmp_path / "design.md"
    design.write_text(STRONG.read_text())
    result = run_cli(
        "critique", str(design), "--json", "--store", str(tmp_path / "none"),
        env={"MLSD_MAX_DESIGN_WORDS": "120"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-1500:]
    report = json.loads(result.stdout)
    assert report["truncated"] and any("MLSD_MAX_DESIGN_WORDS" in n for n in report["notices"])


# -- files: Settings.max_file_mb --------------------------------------------------------------
def test_ingest_refuses_a_file_over_the_cap_and_names_the_setting(make_settings, tmp_path):
    from ingest.pipeline import ingest_paths

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "big.md").write_text("# Big\n\n" + "word " * 120_000)  # 0.6 MB
    report = ingest_paths([docs], make_settings(max_file_mb=0.5))
    (failure,) = report.failed
    assert failure["reason"] == "too large (0.6 MB > limit 0.5 MB, MLSD_MAX_FILE_MB)"


def test_app_upload_refuses_a_file_over_the_cap(tmp_path):
    from ui.library import save_uploads

    class Upload:
        def __init__(self, name: str, size: int) -> None:
            self.name, self.data = name, b"# t\n\n" + b"w" * size

        def getvalue(self) -> bytes:
            return self.data

    saved, refused = save_uploads([Upload("ok.md", 100), Upload("big.md", 2**20)], tmp_path, 0.5)
    assert [p.name for p in saved] == ["ok.md"]
    assert refused == [
        {"path": "big.md", "reason": "too large (1.0 MB > limit 0.5 MB, MLSD_MAX_FILE_MB)"}
    ]


@pytest.mark.parametrize("via", ["file", "stdin"])
def test_cli_critique_refuses_a_design_over_the_file_cap(tmp_path, via):
    big = "Our model ranks items. " * 50_000  # ~1.1 MB
    env = {"MLSD_MAX_FILE_MB": "1"}
    if via == "file":
        path = tmp_path / "design.md"
        path.write_text(big)
        result = run_cli("critique", str(path), env=env)
    else:
        result = run_cli("critique", "-", env=env, input=big)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "larger than the 1 MB limit (MLSD_MAX_FILE_MB)" in result.stderr


# -- one LLM turn: steps, tokens, prompt size -------------------------------------------------
def test_llm_turn_steps_are_bounded(deps, fake_openai):
    from agents.factory import make_agent

    fake_openai.handler = endless_tool_calls("search", {"query": "leakage"})
    agent = make_agent(deps(agent_max_steps=2, **fake_openai.settings_overrides()))
    final = list(agent.respond([_user("What is a temporal split?")]))[-1]
    assert final.mode == "offline" and "step limit" in final.fallback_reason
    assert len(fake_openai.chat_requests) == 2


def test_llm_turn_tokens_and_prompt_are_bounded(deps, fake_openai):
    """Every call asks for at most llm_max_tokens; history and tool output are trimmed."""
    from agents.events import Message
    from agents.factory import make_agent
    from agents.llm import HISTORY_CHARS, HISTORY_MESSAGES

    agent = make_agent(deps(llm_max_tokens=77, **fake_openai.settings_overrides()))
    fake_openai.queue(Reply.tool_call("search", {"query": "leakage", "k": 500}), "Done [1].")
    history = [
        Message(role="user" if i % 2 == 0 else "assistant", content=f"turn {i} " + "x " * 6000)
        for i in range(40)
    ]
    final = list(agent.respond([*history, _user("What is a temporal split?")]))[-1]
    assert final.mode == "llm"
    first, second = fake_openai.chat_requests
    for request in (first, second):
        assert request.json["max_completion_tokens"] == 77
    sent = [m for m in first.json["messages"] if m["role"] in ("user", "assistant")]
    assert len(sent) == HISTORY_MESSAGES + 1  # the latest turns only, plus the question
    assert all(len(m["content"]) <= HISTORY_CHARS for m in sent[:-1])
    assert "turn 39" in sent[-2]["content"]  # the most recent history is the one kept
    tool_text = next(m["content"] for m in second.json["messages"] if m["role"] == "tool")
    assert tool_text.count("\n[") + 1 <= 20  # search returns at most 20 passages
