"""The one place LLM clients are built (`infer_model`) and agents are chosen (`make_agent`).

LLM mode is on when `OPENAI_API_KEY` and/or `OPENAI_BASE_URL` is set (any OpenAI-compatible
endpoint: OpenAI, vLLM, Ollama, LM Studio...). The model name is checked against the
endpoint's `/v1/models` when it offers one; an unknown name is a ConfigError. An endpoint
that cannot be reached is not an error here: each turn falls back to the offline agent.
"""

from __future__ import annotations

import logging
import threading

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


def infer_model(settings: Settings):
    """The chat model for the configured endpoint, with bounded timeout, retries and tokens."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.openai_base_url,
        api_key=api_key(settings),
        timeout=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
        max_tokens=settings.llm_max_tokens,
        temperature=0,
        stream_usage=True,
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
