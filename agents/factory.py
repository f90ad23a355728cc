"""The one place LLM clients are built (`infer_model`) and agents are chosen (`make_agent`).

LLM mode is on when `OPENAI_API_KEY` and/or `OPENAI_BASE_URL` is set (any OpenAI-compatible
endpoint: OpenAI, vLLM, Ollama, LM Studio...). The model name is checked against the
endpoint's `/v1/models` when it offers one; an unknown name is a ConfigError. An endpoint
that cannot be reached is not an error here: each turn falls back to the offline agent.
"""

from __future__ import annotations

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


def deadline_transport(seconds: float):
    """An HTTP transport whose responses, streamed bodies included, end within `seconds`.

    The client's timeout is per read: an endpoint that sends a few bytes every second keeps
    a stream (and the turn) alive forever. Past the deadline the body read fails with a
    ReadTimeout, which the agent turns into an offline fallback.
    """
    import httpx2  # what openai>=3 is built on

    class DeadlineStream(httpx2.SyncByteStream):
        def __init__(self, inner, deadline: float, request) -> None:
            self.inner, self.deadline, self.request = inner, deadline, request

        def __iter__(self):
            for chunk in self.inner:
                if time.monotonic() > self.deadline:
                    raise httpx2.ReadTimeout(
                        f"response not complete within {seconds:g} s", request=self.request
                    )
                yield chunk

        def close(self) -> None:
            self.inner.close()

    class DeadlineTransport(httpx2.HTTPTransport):
        def handle_request(self, request):
            deadline = time.monotonic() + seconds
            response = super().handle_request(request)
            response.stream = DeadlineStream(response.stream, deadline, request)
            return response

    return DeadlineTransport()


def infer_model(settings: Settings):
    """The chat model for the configured endpoint, with bounded timeout, retries and tokens.

    One attempt (request and whole streamed reply) takes at most `llm_timeout_s`; attempts
    are `1 + llm_max_retries`; a server asking to wait longer than the timeout is not retried.
    """
    import openai
    from langchain_openai import ChatOpenAI

    hooks = {"response": [retry_after_limit(settings.llm_timeout_s)]}
    transport = deadline_transport(settings.llm_timeout_s)
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
    base = settings.openai_base_url or "https://api.openai.com/v1"
    cache_key = (base, settings.llm_model)
    with _checked_lock:
        if cache_key in _checked:
            return _checked[cache_key]
    import openai

    client = openai.OpenAI(
        base_url=base,
        api_key=api_key(settings),
        timeout=min(settings.llm_timeout_s, 5.0),
        max_retries=0,
    )
    try:
        ids = [m.id for m in client.models.list()]
    except Exception as exc:  # no /models route, unreachable, auth: the turn decides later
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
