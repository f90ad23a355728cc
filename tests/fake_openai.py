"""A scripted OpenAI-compatible server on 127.0.0.1 for tests (real sockets, real clients).

Serves `GET /v1/models` and `POST /v1/chat/completions` (plain JSON and SSE streaming).
Each chat request is answered by, in order: the next queued reply (`server.queue(...)`),
else `server.handler(request_json)`, else a short default text. A reply is a `Reply`, a `str`
(plain text), or a `dict` (returned as JSON *content*, e.g. for RAGAS judges; a dict that has
a `choices` key is sent verbatim as the whole response body).

Faults are replies too: `Reply.status(429, retry_after=1)`, `Reply.malformed()`,
`Reply.text("...", delay_s=5)`, `Reply.text("...", cut_after=2)` (stream closed mid-way),
`endless_tool_calls("search", {...})` (a handler that never stops calling tools).
Every request is recorded in `server.requests` for assertions.

    with FakeOpenAI() as fake:
        fake.queue(Reply.tool_call("search", {"query": "leakage"}), "Use a temporal split [1].")
        settings = Settings(**fake.settings_overrides())
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DUMMY_KEY = "sk-fake-test-key-DO-NOT-LEAK-3141592653"
DEFAULT_MODELS = ("gpt-4o-mini", "fake-model")

_ids = itertools.count(1)


@dataclass
class Reply:
    """One scripted answer to one chat-completions request."""

    content: str | None = None
    tool_calls: list[dict] = field(default_factory=list)  # [{"name", "arguments": dict|str}]
    http_status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: bytes | None = None  # sent verbatim instead of a completion (malformed bodies)
    delay_s: float = 0.0  # sleep before answering (slow server / timeouts)
    cut_after: int | None = None  # streaming: close the connection after this many chunks

    @classmethod
    def text(cls, content: str, **kw: Any) -> Reply:
        return cls(content=content, **kw)

    @classmethod
    def json_content(cls, obj: Any, **kw: Any) -> Reply:
        return cls(content=json.dumps(obj), **kw)

    @classmethod
    def tool_call(cls, name: str, arguments: dict | str | None = None, **kw: Any) -> Reply:
        return cls(tool_calls=[{"name": name, "arguments": arguments or {}}], **kw)

    @classmethod
    def status(cls, code: int, retry_after: float | None = None, message: str = "") -> Reply:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        body = {
            "error": {
                "message": message or f"fake error {code}",
                "type": "fake_error",
                "code": str(code),
            }
        }
        return cls(http_status=code, headers=headers, raw_body=json.dumps(body).encode())

    @classmethod
    def malformed(cls) -> Reply:
        return cls(raw_body=b'{"id": "chatcmpl-broken", "choices": [ {"message": ')


def as_reply(value: Reply | str | dict) -> Reply:
    if isinstance(value, Reply):
        return value
    if isinstance(value, str):
        return Reply.text(value)
    if isinstance(value, dict) and "choices" in value:
        return Reply(raw_body=json.dumps(value).encode())
    if isinstance(value, dict | list):
        return Reply.json_content(value)
    raise TypeError(f"cannot turn {type(value).__name__} into a Reply")


def endless_tool_calls(name: str, arguments: dict | None = None) -> Callable[[dict], Reply]:
    """A handler that answers every request with another tool call (a runaway agent)."""
    return lambda _request: Reply.tool_call(name, arguments or {})


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    json: Any

    @property
    def system_prompt(self) -> str:
        """The text of the system message(s) sent, joined (empty if none)."""
        parts = []
        for msg in (self.json or {}).get("messages", []):
            if msg.get("role") in ("system", "developer"):
                content = msg.get("content")
                if isinstance(content, list):
                    content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
                parts.append(content or "")
        return "\n".join(parts)


def _completion(reply: Reply, model: str) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{next(_ids)}",
                "type": "function",
                "function": {"name": call["name"], "arguments": _args(call)},
            }
            for call in reply.tool_calls
        ]
    return {
        "id": f"chatcmpl-{next(_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                "logprobs": None,
            }
        ],
        "usage": _usage(reply),
    }


def _args(call: dict) -> str:
    args = call.get("arguments", {})
    return args if isinstance(args, str) else json.dumps(args)


def _usage(reply: Reply) -> dict:
    out = len((reply.content or "").split()) + 10 * len(reply.tool_calls)
    return {"prompt_tokens": 10, "completion_tokens": out, "total_tokens": 10 + out}


def _chunks(reply: Reply, model: str, include_usage: bool) -> list[dict]:
    """The SSE chunk objects for a streamed reply: role, content pieces, tool calls, stop."""
    base = {"id": f"chatcmpl-{next(_ids)}", "object": "chat.completion.chunk", "model": model}
    base["created"] = int(time.time())

    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    out = [chunk({"role": "assistant", "content": ""})]
    if reply.content:
        words = reply.content.split(" ")
        for i, word in enumerate(words):
            out.append(chunk({"content": word + (" " if i < len(words) - 1 else "")}))
    for index, call in enumerate(reply.tool_calls):
        args = _args(call)
        head = {"index": index, "id": f"call_{next(_ids)}", "type": "function"}
        head["function"] = {"name": call["name"], "arguments": ""}
        out.append(chunk({"tool_calls": [head]}))
        half = len(args) // 2
        for piece in (args[:half], args[half:]):
            out.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    out.append(chunk({}, "tool_calls" if reply.tool_calls else "stop"))
    if include_usage:
        out.append({**base, "choices": [], "usage": _usage(reply)})
    return out


class FakeOpenAI:
    """The server. Start with `start()` or a `with` block; `url` is the OpenAI base URL."""

    def __init__(
        self,
        models: tuple[str, ...] | None = DEFAULT_MODELS,
        handler: Callable[[dict], Reply | str | dict] | None = None,
        require_key: str | None = None,
        default: Reply | str | dict = "This is a fake reply.",
    ) -> None:
        self.models = models  # None: the server does not offer /v1/models (404)
        self.handler = handler
        self.require_key = require_key
        self.default = default
        self.requests: list[RecordedRequest] = []
        self._queue: deque[Reply | str | dict] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting -----------------------------------------------------------------------
    def queue(self, *replies: Reply | str | dict) -> FakeOpenAI:
        with self._lock:
            self._queue.extend(replies)
        return self

    def always(self, reply: Reply | str | dict) -> FakeOpenAI:
        """Answer every (unqueued) request with the same reply."""
        self.handler = lambda _request: reply
        return self

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()
        self.handler = None

    def next_reply(self, request_json: dict) -> Reply:
        with self._lock:
            queued = self._queue.popleft() if self._queue else None
        if queued is not None:
            return as_reply(queued)
        if self.handler is not None:
            return as_reply(self.handler(request_json))
        return as_reply(self.default)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def settings_overrides(self, **extra: Any) -> dict:
        """Settings fields that point the LLM agent here: dummy key, short timeouts, no retries."""
        from pydantic import SecretStr

        base = {
            "openai_base_url": self.url,
            "openai_api_key": SecretStr(DUMMY_KEY),
            "llm_model": self.models[0] if self.models else "fake-model",
            "llm_timeout_s": 2.0,
            "llm_max_retries": 0,
        }
        return {**base, **extra}

    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(_Handler):
            server_state = fake

        httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd = httpd
        self._stopping.clear()
        self._thread = threading.Thread(target=httpd.serve_forever, name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a handler sleeping on a delay must not block stop()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is an expected fault, not a test failure


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: FakeOpenAI

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        pass

    def _record(self, body: Any) -> None:
        fake = self.server_state
        with fake._lock:
            fake.requests.append(
                RecordedRequest(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
            )

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _authorized(self) -> bool:
        key = self.server_state.require_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        reply = Reply.status(401, message="Incorrect API key provided.")
        self._send(401, reply.raw_body or b"")
        return False

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._record(None)
        fake = self.server_state
        if not self._authorized():
            return
        if self.path.rstrip("/").endswith("/models") and fake.models is not None:
            data = [{"id": m, "object": "model", "owned_by": "fake"} for m in fake.models]
            self._send(200, json.dumps({"object": "list", "data": data}).encode())
        else:
            self._send(404, b'{"error": {"message": "not found", "type": "not_found"}}')

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {"_unparsed": raw.decode("utf-8", "replace")}
        self._record(body)
        if not self._authorized():
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, b'{"error": {"message": "not found", "type": "not_found"}}')
            return
        fake = self.server_state
        reply = fake.next_reply(body)
        if reply.delay_s and fake._stopping.wait(reply.delay_s):
            return  # server stopping: drop the request
        if reply.raw_body is not None or reply.http_status != 200:
            self._send(reply.http_status, reply.raw_body or b"{}", reply.headers)
            return
        model = body.get("model", "fake-model")
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._stream(_chunks(reply, model, include_usage), reply.cut_after)
        else:
            self._send(200, json.dumps(_completion(reply, model)).encode(), reply.headers)

    def _stream(self, chunks: list[dict], cut_after: int | None) -> None:
        """Server-sent events over chunked encoding; a cut leaves the body incomplete."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        events = [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]
        for i, event in enumerate(events):
            if cut_after is not None and i >= cut_after:
                self.close_connection = True
                self.wfile.flush()
                return  # no terminating zero-length chunk: the client sees a broken stream
            self.wfile.write(f"{len(event):X}\r\n".encode() + event + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
