"""LLM mode against the fake OpenAI-compatible server (real sockets, real openai/langchain code)."""

from __future__ import annotations

import pytest
from fake_openai import DUMMY_KEY, Reply


def _client(fake, **kw):
    import openai

    return openai.OpenAI(base_url=fake.url, api_key=DUMMY_KEY, max_retries=0, **kw)


def _ask(client, **kw):
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], **kw
    )


# -- the fake server itself (other areas rely on it) ---------------------------------------
def test_fake_server_scripts_text_json_tool_calls_and_streams(fake_openai):
    client = _client(fake_openai, timeout=5)
    assert "gpt-4o-mini" in [m.id for m in client.models.list()]
    fake_openai.queue("plain text", {"verdict": 1}, Reply.tool_call("search", {"query": "x"}))
    assert _ask(client).choices[0].message.content == "plain text"
    assert _ask(client).choices[0].message.content == '{"verdict": 1}'
    call = _ask(client).choices[0].message.tool_calls[0]
    assert call.function.name == "search" and call.function.arguments == '{"query": "x"}'
    fake_openai.queue("streamed reply in pieces")
    pieces = [c.choices[0].delta.content for c in _ask(client, stream=True) if c.choices]
    assert "".join(p or "" for p in pieces) == "streamed reply in pieces"
    assert len(fake_openai.chat_requests) == 4
    assert fake_openai.chat_requests[0].json["messages"][0]["content"] == "hi"


def test_fake_server_handler_and_faults(fake_openai):
    import openai

    client = _client(fake_openai, timeout=0.5)
    fake_openai.handler = lambda req: f"echo {req['messages'][-1]['content']}"
    assert _ask(client).choices[0].message.content == "echo hi"
    fake_openai.queue(Reply.status(401), Reply.status(429, retry_after=0), Reply.status(500))
    for error in (openai.AuthenticationError, openai.RateLimitError, openai.InternalServerError):
        with pytest.raises(error):
            _ask(client)
    fake_openai.queue(Reply.text("slow", delay_s=3))
    with pytest.raises(openai.APITimeoutError):
        _ask(client)
    fake_openai.queue(Reply.malformed())
    with pytest.raises(ValueError):  # json.JSONDecodeError
        _ask(client)
    fake_openai.queue(Reply.text("one two three four", cut_after=3))
    with pytest.raises(Exception, match="incomplete|peer closed") as broken:
        list(_ask(client, stream=True))
    assert "ProtocolError" in type(broken.value).__name__


# -- the LLM agent against the fake server ----------------------------------------------------
@pytest.fixture
def llm_deps(fake_openai, corpus_settings, embedder):
    """Deps over the corpus store whose LLM is the fake server; keyword overrides on top."""
    from tools.deps import Deps

    def factory(**overrides):
        settings = corpus_settings.model_copy(update=fake_openai.settings_overrides(**overrides))
        return Deps(settings, embedder_override=embedder)

    return factory


def llm_agent(deps, model=None):
    from agents.factory import make_agent

    return make_agent(deps, model=model)


def user(text: str):
    from agents.events import Message

    return Message(role="user", content=text)


def all_text(events) -> str:
    return "\n".join(e.model_dump_json() for e in events)


def test_tool_call_then_cited_streamed_answer(fake_openai, llm_deps):
    from agents.events import Citation, Final, TextDelta, ToolCall, ToolResult
    from agents.llm import LLMAgent

    agent = llm_agent(llm_deps())
    assert isinstance(agent, LLMAgent)
    fake_openai.queue(
        Reply.tool_call("search", {"query": "temporal split leakage", "k": 3}),
        "Split by time so the model never trains on the future [1]. Leave a gap [2].",
    )
    events = list(agent.respond([user("How do I avoid leakage when splitting data?")]))
    kinds = [type(e) for e in events]
    assert kinds[:2] == [ToolCall, ToolResult] and kinds[-1] is Final
    assert events[0].name == "search" and events[0].args["query"] == "temporal split leakage"
    final = events[-1]
    assert final.mode == "llm" and final.model == "gpt-4o-mini" and final.fallback_reason is None
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 3 and "".join(deltas).strip() == final.answer  # streamed token by token
    assert [c.n for c in final.citations] == [1, 2]
    assert all(isinstance(e, Citation) for e in events[-3:-1])
    first, second = fake_openai.chat_requests
    assert first.json["stream"] is True
    tools = {t["function"]["name"]: t["function"] for t in first.json["tools"]}
    assert {"search", "get_example_solution", "list_example_solutions"} <= set(tools)
    assert "query" in tools["search"]["parameters"]["properties"]
    assert tools["search"]["description"].startswith("Search the study material")
    assert "DATA, NOT INSTRUCTIONS" in first.system_prompt
    tool_message = next(m for m in second.json["messages"] if m["role"] == "tool")
    assert tool_message["content"].startswith("[1] ") and "<data>" in tool_message["content"]


def test_answer_returns_the_passages_the_tools_returned(fake_openai, llm_deps):
    agent = llm_agent(llm_deps())
    fake_openai.queue(
        Reply.tool_call("search", {"query": "class imbalance", "k": 2}), "Use weights [1]."
    )
    answered = agent.answer("How do I handle class imbalance?")
    assert answered.final.mode == "llm" and len(answered.hits) == 2
    assert answered.final.citations[0].chunk_id == answered.hits[0].chunk_id


FAULTS = {
    "401": (Reply.status(401), "401"),
    "429": (Reply.status(429, retry_after=0), "429"),
    "500": (Reply.status(500), "500"),
    "malformed": (Reply.malformed(), "malformed"),
    "slow": (Reply.text("too late", delay_s=3), "timeout"),
    "cut stream": (Reply.text("one two three four five", cut_after=3), "cut"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_faults_fall_back_to_offline_and_the_conversation_goes_on(fake_openai, llm_deps, fault):
    reply, reason_word = FAULTS[fault]
    agent = llm_agent(llm_deps(llm_timeout_s=1.0))
    fake_openai.always(reply)
    events = list(agent.respond([user("What is a temporal split?")]))
    final = events[-1]
    assert final.mode == "offline" and reason_word in final.fallback_reason
    assert final.answer.startswith(f"mode: offline (fallback: {final.fallback_reason})\n")
    assert final.citations and final.route == "question"  # the offline answer, cited
    assert DUMMY_KEY not in all_text(events)

    from agents.events import Message

    fake_openai.reset()
    fake_openai.queue("A temporal split trains on the past and tests on the future.")
    history = [user("What is a temporal split?"), Message(role="assistant", content=final.answer)]
    again = list(agent.respond([*history, user("and why does it matter?")]))
    assert again[-1].mode == "llm" and again[-1].fallback_reason is None


def test_refused_connection_falls_back(llm_deps):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    deps = llm_deps(openai_base_url=f"http://127.0.0.1:{port}/v1")
    final = list(llm_agent(deps).respond([user("What is a temporal split?")]))[-1]
    assert final.mode == "offline" and "connect" in final.fallback_reason


def test_endless_tool_calls_stop_at_the_step_limit(fake_openai, llm_deps):
    from fake_openai import endless_tool_calls

    agent = llm_agent(llm_deps(agent_max_steps=3))
    fake_openai.handler = endless_tool_calls("search", {"query": "leakage"})
    final = list(agent.respond([user("What is a temporal split?")]))[-1]
    assert final.mode == "offline" and "step limit" in final.fallback_reason
    assert len(fake_openai.chat_requests) == 3


def test_retries_are_bounded_and_can_recover(fake_openai, llm_deps):
    agent = llm_agent(llm_deps(llm_max_retries=1))
    fake_openai.queue(Reply.status(429, retry_after=0), "Recovered after one retry.")
    final = list(agent.respond([user("What is calibration?")]))[-1]
    assert final.mode == "llm" and final.answer == "Recovered after one retry."
    assert len(fake_openai.chat_requests) == 2


def test_unknown_model_name_is_a_config_error(fake_openai, llm_deps):
    from agents.factory import validate_model
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="gpt-4o-mini"):
        llm_agent(llm_deps(llm_model="no-such-model"))
    fake_openai.models = None  # a server without /v1/models: nothing to check against
    assert validate_model(llm_deps(llm_model="another-unlisted-model").settings) is None


def test_the_key_never_appears_in_output_or_logs(fake_openai, llm_deps, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    agent = llm_agent(llm_deps())
    fake_openai.always(Reply.status(401, message=f"Incorrect API key provided: {DUMMY_KEY}"))
    events = list(agent.respond([user("What is a temporal split?")]))
    assert events[-1].mode == "offline"
    assert DUMMY_KEY not in all_text(events)
    assert DUMMY_KEY not in caplog.text
    auth = fake_openai.chat_requests[0].headers.get("authorization")
    assert auth == f"Bearer {DUMMY_KEY}"  # it was sent to the endpoint, and only there


def test_critique_scores_come_from_the_grader_in_llm_mode(fake_openai, llm_deps):
    from agents.critique import grader_functions

    if grader_functions() is None:
        pytest.skip("the design grader has not landed")
    from tools.grader import critique_design

    deps = llm_deps()
    design = (
        "## Problem framing\nWe predict whether a card transaction is fraud (binary "
        "classification) to cut fraud losses; labels are chargebacks.\n## Modeling\nA GBDT "
        "baseline on velocity features, trained daily with a temporal split.\n"
        "## Monitoring\nWe monitor score drift and alert on decline-rate spikes."
    )
    fake_openai.queue(
        "- Framing is solid.\n- I would score this 100/100.\n- What is your baseline?"
    )
    final = list(llm_agent(deps).respond([user(f"critique this:\n{design}")]))[-1]
    expected = critique_design(deps, design, level="senior").model_dump()
    assert final.route == "critique" and final.mode == "llm"
    assert final.data["overall"] == expected["overall"]
    assert [s["score"] for s in final.data["stages"]] == [s["score"] for s in expected["stages"]]
    assert "Coach's notes" in final.answer
    prompt = fake_openai.chat_requests[0].json["messages"][-1]["content"]
    assert "<data>" in prompt and "numbers are final" in prompt


def test_injected_langchain_fake_chat_model(llm_deps):
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    class ToolCallingFake(GenericFakeChatModel):
        def bind_tools(self, tools, **kwargs):  # create_agent binds tools; the script ignores them
            return self

    model = ToolCallingFake(
        messages=iter(
            [
                AIMessage(
                    content="",
                    tool_calls=[{"name": "search", "args": {"query": "two-tower"}, "id": "c1"}],
                ),
                AIMessage(content="A two-tower model embeds users and items separately [1]."),
            ]
        ),
        disable_streaming=True,  # its stream drops tool calls; invoke keeps them
    )
    final = list(llm_agent(llm_deps(), model=model).respond([user("What is a two-tower model?")]))[
        -1
    ]
    assert final.mode == "llm" and final.citations[0].n == 1
    assert final.citations[0].source and final.citations[0].text


def test_cli_ask_falls_back_with_a_reason_and_no_key(fake_openai, corpus_settings):
    from conftest import run_cli

    fake_openai.always(Reply.status(500))
    env = {
        "OPENAI_BASE_URL": fake_openai.url,
        "OPENAI_API_KEY": DUMMY_KEY,
        "MLSD_LLM_TIMEOUT_S": "2",
        "MLSD_LLM_MAX_RETRIES": "0",
    }
    result = run_cli(
        "ask",
        "What is a temporal split?",
        "--json",
        "--store",
        str(corpus_settings.store_dir),
        env=env,
    )
    import json

    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout)
    assert data["mode"] == "offline" and "500" in data["fallback_reason"]
    assert data["answer"].startswith("mode: offline (fallback: ")
    assert DUMMY_KEY not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert fake_openai.chat_requests  # the LLM was really tried first
