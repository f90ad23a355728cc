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
