"""Every LLM fault ends the turn with an answer, in bounded time, and the chat goes on.

The LLM is the fake OpenAI-compatible server (tests/fake_openai.py) or, for a stream that
drips forever, a small server below; a DNS failure is injected at `socket.getaddrinfo` (the
tests never leave 127.0.0.1). The time bound is generous on purpose (3x the configured
per-call budget, timeout x attempts): it catches waits that are unbounded, not slowness.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import run_cli
from fake_openai import DUMMY_KEY, Reply, endless_tool_calls

pytest.importorskip("agents.llm", reason="the LLM agent has not landed")

QUESTION = "What is a temporal split?"
TIMEOUT_S = 2.0  # generous: the bound below is 3x this per attempt


class DripServer:
    """An OpenAI-compatible endpoint whose stream sends one word every `interval` seconds,
    `words` times, then drops the connection: each read is quick, the whole never ends."""

    def __init__(self, interval: float = 0.25, words: int = 400) -> None:
        outer = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                body = json.dumps({"object": "list", "data": [{"id": "gpt-4o-mini"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for i in range(words):
                        delta = {"content": f"word{i} "}
                        chunk = {"id": "d", "object": "chat.completion.chunk", "created": 1}
                        chunk |= {"model": "gpt-4o-mini"}
                        chunk["choices"] = [{"index": 0, "delta": delta, "finish_reason": None}]
                        event = f"data: {json.dumps(chunk)}\n\n".encode()
                        self.wfile.write(f"{len(event):X}\r\n".encode() + event + b"\r\n")
                        self.wfile.flush()
                        if outer.stopping.wait(interval):
                            return
                except OSError:
                    return  # the client hung up: what a bounded client does
                self.close_connection = True  # cut mid-way: no [DONE], no final chunk

        self.stopping = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def _no_dns_for(monkeypatch, host: str) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(name, *args, **kwargs):
        if name == host:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


# name -> (how to script the fault, settings overrides, words expected in the reason)
FAULTS = {
    "refused connection": ("refused", {}, ("connect",)),
    "dns failure": ("dns", {}, ("connect",)),
    "timeout": (Reply.text("too late", delay_s=TIMEOUT_S * 8), {}, ("timeout",)),
    "slow stream cut mid-way": ("drip", {}, ("timeout",)),
    "401": (Reply.status(401), {}, ("401",)),
    "429 with Retry-After": (
        Reply.status(429, retry_after=30),
        {"llm_max_retries": 2},
        ("429",),
    ),
    "500": (Reply.status(500), {}, ("500",)),
    "malformed json": (Reply.malformed(), {}, ("malformed",)),
    "tool-call loop": (endless_tool_calls("search", {"query": "split"}), {}, ("step limit",)),
}


@pytest.fixture
def fault_agent(fake_openai, corpus_settings, embedder, monkeypatch):
    """Factory: (agent, settings, drip server or None) for one fault from FAULTS."""
    from agents.factory import make_agent
    from tools.deps import Deps

    drips: list[DripServer] = []

    def factory(name: str):
        script, overrides, _ = FAULTS[name]
        overrides = {"llm_timeout_s": TIMEOUT_S, **overrides}
        if script == "refused":
            overrides["openai_base_url"] = _closed_port_url()
        elif script == "dns":
            _no_dns_for(monkeypatch, "nonexistent.invalid")
            overrides["openai_base_url"] = "http://nonexistent.invalid/v1"
        elif script == "drip":
            drips.append(DripServer())
            overrides["openai_base_url"] = drips[-1].url
        elif callable(script):
            fake_openai.handler = script
        else:
            fake_openai.always(script)
        update = fake_openai.settings_overrides(**overrides)
        settings = corpus_settings.model_copy(update=update)
        return make_agent(Deps(settings, embedder_override=embedder)), settings

    yield factory
    for drip in drips:
        drip.stop()


def _user(text: str):
    from agents.events import Message

    return Message(role="user", content=text)


def _run_turn(agent, messages):
    """(events, seconds until the agent gave up on the LLM: its fallback line, else the end)."""
    from agents.events import TextDelta

    started = time.monotonic()
    gave_up = None
    events = []
    for event in agent.respond(messages):
        fallback = isinstance(event, TextDelta) and event.text.startswith("mode: offline")
        if gave_up is None and fallback:
            gave_up = time.monotonic() - started
        events.append(event)
    return events, gave_up if gave_up is not None else time.monotonic() - started


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_answers_offline_in_bounded_time_and_the_chat_goes_on(
    fault, fault_agent, fake_openai, caplog
):
    from agents.events import Final, Message

    caplog.set_level(logging.DEBUG)
    agent, settings = fault_agent(fault)
    events, llm_seconds = _run_turn(agent, [_user(QUESTION)])
    final = events[-1]
    assert isinstance(final, Final)
    assert final.mode == "offline" and final.fallback_reason
    for word in FAULTS[fault][2]:
        assert word in final.fallback_reason, final.fallback_reason
    first_line, _, rest = final.answer.partition("\n\n")
    assert first_line == f"mode: offline (fallback: {final.fallback_reason})"
    assert rest.strip() and final.citations  # the offline agent's cited answer follows
    budget = settings.llm_timeout_s * (settings.llm_max_retries + 1)
    assert llm_seconds <= 3 * budget, f"{fault}: {llm_seconds:.1f} s to give up on the LLM"

    dump = "\n".join(e.model_dump_json() for e in events)
    assert DUMMY_KEY not in dump and DUMMY_KEY not in caplog.text

    # the next turn of the same conversation works (LLM again if the endpoint recovered)
    fake_openai.reset()
    fake_openai.queue("A temporal split trains on the past and tests on the future.")
    history = [_user(QUESTION), Message(role="assistant", content=final.answer)]
    again, _ = _run_turn(agent, [*history, _user("Why does it matter?")])
    assert isinstance(again[-1], Final) and again[-1].answer.strip()
    if settings.openai_base_url == fake_openai.url:
        assert again[-1].mode == "llm" and again[-1].fallback_reason is None


def test_cli_chat_goes_on_after_a_fault(fake_openai, corpus_settings):
    """`mlsd chat`: turn 1 hits a 429 and falls back; turn 2 is answered by the LLM."""
    fake_openai.queue(Reply.status(429, retry_after=30), "Recovered: use a temporal split.")
    env = {
        "OPENAI_BASE_URL": fake_openai.url,
        "OPENAI_API_KEY": DUMMY_KEY,
        "MLSD_LLM_TIMEOUT_S": str(TIMEOUT_S),
        "MLSD_LLM_MAX_RETRIES": "0",
        "MLSD_MODEL_CACHE_DIR": str(corpus_settings.model_cache_dir),
    }
    store = ["--store", str(corpus_settings.store_dir)]
    result = run_cli("chat", *store, env=env, input=f"{QUESTION}\nAnd why?\n/exit\n")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "mode: offline (fallback: rate limited (429))" in result.stdout
    assert "Recovered: use a temporal split." in result.stdout
    assert "Traceback" not in result.stderr
    assert DUMMY_KEY not in result.stdout + result.stderr
