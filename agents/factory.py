"""The one place LLM clients are built (`infer_model`) and agents are chosen (`make_agent`).

LLM mode is on when `OPENAI_API_KEY` and/or `OPENAI_BASE_URL` is set (any OpenAI-compatible
endpoint: OpenAI, vLLM, Ollama, LM Studio...). The model name is checked against the
endpoint's `/v1/models` when it offers one; an unknown name is a ConfigError. An endpoint
that cannot be reached is not an error here: each turn falls back to the offline agent.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

from core.errors import ConfigError
from core.settings import Settings

log = logging.getLogger(__name__)

NO_KEY = "not-needed"  # local servers accept any key; the client library requires one
_checked: dict[tuple[str, str], bool] = {}
_checked_lock = threading.Lock()


def api_key(settings: Settings) -> str:
    key = settings.openai_api_key
    return key.get_secret_value() if key is not None else NO_KEY


def redact(text: str, settings: Settings) -> str:
    """The text with the API key (if any) replaced, for logs and messages."""
    key = settings.openai_api_key
    secret = key.get_secret_value() if key is not None else ""
    return text.replace(secret, "***") if secret and len(secret) >= 4 else text


def retry_after_limit(limit_s: float):
    """An HTTP response hook: no retry when the server asks to wait longer than `limit_s`.

    The openai client sleeps for a 429/503's Retry-After (up to 120 s) before each retry,
    which would hold a turn for minutes; past the limit the turn falls back at once instead.
    """

    def hook(response) -> None:
        headers = response.headers
        try:
            if "retry-after-ms" in headers:
                wait = float(headers["retry-after-ms"]) / 1000
            else:
                wait = float(headers.get("retry-after", "0"))
        except ValueError:  # an HTTP date: a wait we will not make
            wait = float("inf")
        if wait > limit_s:
            headers["x-should-retry"] = "false"

    return hook


def fault(request, reason: str, kind: str):
    """An endpoint fault the openai client raises as it is, without retrying: it propagates
    `OpenAIError`s untouched. `kind` is `connect` (the endpoint is not there) or `reply`."""
    import openai

    exc = openai.APIConnectionError(message=reason, request=request)
    exc.mlsd_reason, exc.mlsd_kind = reason, kind
    return exc


def fault_of(exc: BaseException | None) -> BaseException | None:
    """The `fault` behind an exception, looking through langchain's and httpx's wrapping."""
    seen = 0
    while exc is not None and seen < 8:
        if getattr(exc, "mlsd_reason", None):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _shutdown_sockets(pool) -> None:
    """Wake a read blocked on this pool's sockets, then drop its connections.

    Closing a socket does not wake a thread blocked reading it; shutting it down does. The
    attribute path is httpcore's; if it changes, closing the pool still ends the attempt at
    the next read.
    """
    import socket

    for connection in list(getattr(pool, "_connections", [])):
        stream = getattr(getattr(connection, "_connection", None), "_network_stream", None)
        sock = getattr(stream, "_sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed by the peer
                sock.shutdown(socket.SHUT_RDWR)
    pool.close()


def deadline_transport(seconds: float, max_bytes: int | None = None):
    """An HTTP transport where one attempt — connect, headers, body — ends within `seconds`.

    The client's own timeout is per read: an endpoint that sends a byte a second (headers or
    body) keeps an attempt alive forever. Here a timer shuts the attempt's sockets down at
    the deadline, which surfaces as a ReadTimeout (retried like any timeout, each retry with
    its own deadline). A refused connection or an unknown host is raised as a `fault` the
    client does not retry: it is known in milliseconds, and retrying only makes the user wait.
    A body over `max_bytes` is a `fault` too.
    """
    import threading

    import httpx2  # what openai>=3 is built on

    class DeadlineStream(httpx2.SyncByteStream):
        def __init__(self, inner, request, timer, expired) -> None:
            self.inner, self.request, self.timer, self.expired = inner, request, timer, expired
            self.size = 0

        def __iter__(self):
            try:
                for chunk in self.inner:
                    if self.expired.is_set():
                        break
                    self.size += len(chunk)
                    if max_bytes is not None and self.size > max_bytes:
                        raise fault(self.request, f"reply larger than {max_bytes:,} bytes", "reply")
                    yield chunk
            except httpx2.TransportError:
                if not self.expired.is_set():
                    raise
            finally:
                self.timer.cancel()
            if self.expired.is_set():
                raise httpx2.ReadTimeout(
                    f"response not complete within {seconds:g} s", request=self.request
                )

        def close(self) -> None:
            self.timer.cancel()
            self.inner.close()

    class DeadlineTransport(httpx2.HTTPTransport):
        def handle_request(self, request):
            expired = threading.Event()

            def expire() -> None:
                expired.set()
                _shutdown_sockets(self._pool)

            timer = threading.Timer(seconds, expire)
            timer.daemon = True
            timer.start()
            try:
                response = super().handle_request(request)
            except httpx2.ConnectError as exc:
                timer.cancel()
                if expired.is_set():
                    raise httpx2.ConnectTimeout(str(exc), request=request) from exc
                detail = str(exc).split("] ")[-1][:80] or "connection failed"
                raise fault(
                    request, f"cannot connect to the LLM endpoint ({detail})", "connect"
                ) from exc
            except httpx2.TransportError as exc:
                timer.cancel()
                if expired.is_set():
                    raise httpx2.ReadTimeout(
                        f"no response within {seconds:g} s", request=request
                    ) from exc
                raise
            except BaseException:
                timer.cancel()
                raise
            response.stream = DeadlineStream(response.stream, request, timer, expired)
            return response

    return DeadlineTransport()


# -- endpoints known to be down -----------------------------------------------------------
# After a refused connection every turn would wait on the same refusal; turns go offline at
# once for `llm_offline_cooldown_s` instead (per process and endpoint), and the badge says so.
_down: dict[str, tuple[float, str]] = {}
_down_lock = threading.Lock()


def _endpoint(settings: Settings) -> str:
    return settings.openai_base_url or "https://api.openai.com/v1"


def mark_unreachable(settings: Settings, reason: str) -> None:
    with _down_lock:
        _down[_endpoint(settings)] = (time.monotonic() + settings.llm_offline_cooldown_s, reason)


def unreachable_reason(settings: Settings) -> str | None:
    """Why turns skip the endpoint right now (with the seconds left), or None."""
    with _down_lock:
        until, reason = _down.get(_endpoint(settings), (0.0, ""))
    left = until - time.monotonic()
    if left <= 0:
        return None
    return f"{reason}; offline for the next {left:.0f} s"


def clear_unreachable(settings: Settings) -> None:
    """Forget a failure (the sidebar's re-check, or a turn that reached the endpoint)."""
    with _down_lock:
        _down.pop(_endpoint(settings), None)


def infer_model(settings: Settings):
    """The chat model for the configured endpoint, with bounded timeout, retries and tokens.

    One attempt (request and whole streamed reply) takes at most `llm_timeout_s`; attempts
    are `1 + llm_max_retries`; a server asking to wait longer than the timeout is not retried.
    """
    import openai
    from langchain_openai import ChatOpenAI

    hooks = {"response": [retry_after_limit(settings.llm_timeout_s)]}
    transport = deadline_transport(settings.llm_timeout_s, settings.llm_max_reply_bytes)
    return ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.openai_base_url,
        api_key=api_key(settings),
        timeout=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
        max_tokens=settings.llm_max_tokens,
        temperature=0,
        stream_usage=True,
        http_client=openai.DefaultHttpxClient(event_hooks=hooks, transport=transport),
    )


def validate_model(settings: Settings) -> bool | None:
    """True when `/models` lists the model, None when the endpoint does not say (no such
    route, unreachable). ConfigError when it lists models and this one is not among them."""
    base = _endpoint(settings)
    cache_key = (base, settings.llm_model)
    with _checked_lock:
        if cache_key in _checked:
            return _checked[cache_key]
    if unreachable_reason(settings):
        return None
    limit = min(settings.llm_timeout_s, 5.0)
    refused = _connect_refused(base, limit)
    if refused is not None:  # known in milliseconds, before the client library is imported
        mark_unreachable(settings, f"cannot connect to the LLM endpoint ({refused})")
        return None
    import openai

    client = openai.OpenAI(
        base_url=base,
        api_key=api_key(settings),
        timeout=limit,
        max_retries=0,
        http_client=openai.DefaultHttpxClient(
            transport=deadline_transport(limit, settings.llm_max_reply_bytes)
        ),
    )
    try:
        ids = [m.id for m in client.models.list()]
    except Exception as exc:  # no /models route, unreachable, auth: the turn decides later
        found = fault_of(exc)
        if found is not None and found.mlsd_kind == "connect":
            mark_unreachable(settings, found.mlsd_reason)
        log.info("model list unavailable at %s: %s", base, type(exc).__name__)
        return None
    finally:
        client.close()
    if ids and settings.llm_model not in ids:
        shown = ", ".join(sorted(ids)[:10]) + (" ..." if len(ids) > 10 else "")
        raise ConfigError(
            f"Unknown model {settings.llm_model!r} at {base}: it offers {shown}. "
            "Set MLSD_LLM_MODEL to one of them."
        )
    with _checked_lock:
        _checked[cache_key] = True
    return True


def _connect_refused(base_url: str, timeout: float) -> str | None:
    """Why nothing listens at the endpoint's host and port (refused, unknown host), or None
    when a TCP connection opens (or the answer is not that clear: a timeout decides later)."""
    import socket
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(base_url)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    if not host:
        return None
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except ConnectionRefusedError:
        return "Connection refused"
    except socket.gaierror:
        return "unknown host"
    except OSError:  # a timeout or an unreachable network: the client's deadline decides
        return None


def make_agent(deps, offline: bool = False, model=None):
    """The LLM agent when configured (and not `offline`), else the offline agent.

    `model` injects a langchain chat model (tests); otherwise `infer_model(settings)` is used
    and its name validated against the endpoint.
    """
    from agents.offline import OfflineAgent

    if offline or (model is None and not deps.settings.llm_enabled):
        return OfflineAgent(deps)
    from agents.llm import LLMAgent

    if model is None:
        validate_model(deps.settings)
    return LLMAgent(deps, model=model)
