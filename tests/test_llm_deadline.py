"""One deadline per LLM attempt (connect, headers, body, model list), a cap on the reply body,
no retries on a refused connection, and a cool-down after one.

The endpoints are real sockets on 127.0.0.1: the fake OpenAI server, a server that sends its
response headers one byte a second, and a closed port. A spy on `socket.create_connection`
counts connection attempts (it only observes; every call goes through).
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from fake_openai import Reply

QUESTION = "What is a temporal split?"


class SlowHeaderServer:
    """Accepts, reads the request, then sends the status line and headers a byte at a time."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.stopping = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.served: list[float] = []  # seconds each connection lasted before the client left
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        started = time.monotonic()
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" * 20:
                if self.stopping.wait(self.interval):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:  # the client hung up: how long did it wait?
                    self.served.append(time.monotonic() - started)
                    return

    def stop(self) -> None:
        self.stopping.set()
        self.sock.close()


@pytest.fixture
def slow_headers():
    server = SlowHeaderServer()
    yield server
    server.stop()


@pytest.fixture
def connection_attempts(monkeypatch):
    """{port: attempts} for every outgoing TCP connection (a spy: calls go through)."""
    counts: dict[int, int] = {}
    real = socket.create_connection

    def create_connection(address, *args, **kwargs):
        counts[address[1]] = counts.get(address[1], 0) + 1
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    return counts


def _wait_for(condition, seconds: float = 15.0) -> None:
    """The server notices a hang-up at its next byte (every 0.5 s)."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _agent(settings, embedder):
    from agents.factory import make_agent
    from tools.deps import Deps

    return make_agent(Deps(settings, embedder_override=embedder))


def _ask(agent, text: str = QUESTION):
    from agents.events import Final, Message

    events = list(agent.respond([Message(role="user", content=text)]))
    assert isinstance(events[-1], Final)
    return events[-1]


def test_headers_sent_a_byte_a_second_end_the_attempt_at_its_deadline(
    slow_headers, fake_openai, corpus_settings, embedder
):
    """Before: the per-read timeout never fired (a byte arrives every 0.5 s) and the turn
    hung for minutes. Now one attempt ends at `llm_timeout_s` and the turn falls back."""
    update = fake_openai.settings_overrides(
        openai_base_url=slow_headers.url, llm_timeout_s=1.5, llm_max_retries=0
    )
    settings = corpus_settings.model_copy(update=update)
    final = _ask(_agent(settings, embedder))  # the model list and the chat call both drip
    assert final.mode == "offline" and "timeout" in final.fallback_reason
    assert final.citations  # the offline answer followed
    # The server's clock, so that a loaded machine's slow imports do not count: the headers
    # alone would take 50 bytes x 20 x 0.5 s; each attempt left at its deadline (1.5 s; the
    # bound is generous, it catches an unbounded wait, not slowness).
    _wait_for(lambda: len(slow_headers.served) >= 2)
    assert all(seconds < 10 for seconds in slow_headers.served), slow_headers.served


def test_model_list_is_bounded_by_the_same_deadline(slow_headers, corpus_settings):
    from agents.factory import validate_model

    settings = corpus_settings.model_copy(
        update={"openai_base_url": slow_headers.url, "llm_timeout_s": 1.0, "llm_model": "m"}
    )
    assert validate_model(settings) is None  # could not tell: the turn decides later
    _wait_for(lambda: len(slow_headers.served) >= 1)
    assert slow_headers.served[0] < 10, slow_headers.served


def test_a_reply_over_the_size_cap_is_a_fault(fake_openai, corpus_settings, embedder):
    # a few long "words": the fake server streams one event per word
    fake_openai.always(Reply.text(" ".join(["x" * 40_000] * 8)))  # ~320 kB of content
    update = fake_openai.settings_overrides(llm_max_reply_bytes=50_000, llm_timeout_s=20.0)
    final = _ask(_agent(corpus_settings.model_copy(update=update), embedder))
    assert final.mode == "offline"
    assert "reply larger than 50,000 bytes" in final.fallback_reason


def test_a_reply_under_the_cap_is_answered(fake_openai, corpus_settings, embedder):
    fake_openai.always(Reply.text("A temporal split trains on the past [1]."))
    update = fake_openai.settings_overrides(llm_max_reply_bytes=50_000)
    final = _ask(_agent(corpus_settings.model_copy(update=update), embedder))
    assert final.mode == "llm", final.fallback_reason


def test_a_refused_connection_is_not_retried_and_later_turns_skip_the_endpoint(
    fake_openai, corpus_settings, embedder, connection_attempts
):
    from agents.factory import clear_unreachable

    port = _closed_port()
    update = fake_openai.settings_overrides(
        openai_base_url=f"http://127.0.0.1:{port}/v1", llm_max_retries=3
    )
    settings = corpus_settings.model_copy(update=update)
    try:
        agent = _agent(settings, embedder)  # the model check meets the refusal first
        assert connection_attempts.get(port) == 1  # one try, not 1 + llm_max_retries
        first = _ask(agent)
        assert first.mode == "offline" and "cannot connect" in first.fallback_reason
        assert "offline for the next" in first.fallback_reason  # the cool-down is said
        assert connection_attempts.get(port) == 1  # the turn did not knock again

        clear_unreachable(settings)  # the sidebar's re-check: the endpoint is tried again
        second = _ask(agent)
        assert "cannot connect" in second.fallback_reason
        assert connection_attempts.get(port) == 2  # once, no retries
    finally:
        clear_unreachable(settings)


def test_cool_down_expires(fake_openai, corpus_settings):
    from agents.factory import clear_unreachable, mark_unreachable, unreachable_reason

    settings = corpus_settings.model_copy(
        update=fake_openai.settings_overrides(llm_offline_cooldown_s=0.2)
    )
    mark_unreachable(settings, "cannot connect to the LLM endpoint (refused)")
    try:
        assert "refused" in (unreachable_reason(settings) or "")
        time.sleep(0.3)
        assert unreachable_reason(settings) is None
    finally:
        clear_unreachable(settings)
