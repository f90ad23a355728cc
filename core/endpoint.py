"""Where the LLM endpoint came from, so that a `.env` file cannot redirect the user's key
silently.

`Settings` reads a `.env` in the working directory below the real environment. A `.env`
in a cloned folder that sets `OPENAI_BASE_URL` would send the user's own `OPENAI_API_KEY`
(from their shell) to whatever server it names. Entry points log `endpoint from .env: ...`
when that happens (`cli.common.make_settings`), and `mlsd stats` / the app's sidebar show
the endpoint with its origin.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from core.settings import Settings

# The names `Settings.openai_base_url` is read from, in pydantic-settings' order.
ENDPOINT_VARIABLES = ("OPENAI_BASE_URL", "MLSD_OPENAI_BASE_URL")


@dataclass(frozen=True)
class EndpointOrigin:
    """The LLM endpoint (credentials removed) and where it was set."""

    url: str | None  # None: no base URL set (the client's default endpoint, or LLM mode off)
    source: str  # "environment" | ".env" | "settings" | "default" | "off"
    detail: str = ""  # the variable name, or the .env file's path

    def describe(self) -> str:
        """One line for people: 'http://host/v1 (from .env: /path/.env)'."""
        if self.source == "off":
            return "LLM mode off (no OPENAI_API_KEY or OPENAI_BASE_URL)"
        if self.source == "default":
            return "OpenAI's default endpoint (no OPENAI_BASE_URL set)"
        where = f"{self.source}: {self.detail}" if self.detail else self.source
        return f"{self.url} (from {where})"


def redact_url(url: str) -> str:
    """The URL without user:password@, query string and fragment (they can hold secrets)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # malformed (e.g. an unclosed IPv6 bracket): cut the same parts by hand
        return url.split("@")[-1].split("?")[0].split("#")[0][:200]
    return urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path, "", ""))


def _env_file(settings: Settings) -> Path | None:
    name = settings.model_config.get("env_file")
    if not isinstance(name, (str, Path)):  # None, or several files (not used here)
        return None
    path = Path(name)
    return path.resolve() if path.is_file() else None


def endpoint_origin(settings: Settings) -> EndpointOrigin:
    """Where `settings.openai_base_url` came from: the environment, a `.env` file, or values
    given in code ("settings"); "default"/"off" when no base URL is set."""
    url = settings.openai_base_url
    if url is None:
        return EndpointOrigin(None, "default" if settings.llm_enabled else "off")
    shown = redact_url(url)
    environment = {k.upper(): v for k, v in os.environ.items()}  # case-insensitive, as Settings
    for name in ENDPOINT_VARIABLES:
        if name in environment and environment[name].strip() == url.strip():
            return EndpointOrigin(shown, "environment", name)
    path = _env_file(settings)
    if path is not None:
        from dotenv import dotenv_values  # python-dotenv, a pydantic-settings dependency

        values = {k.upper(): (v or "") for k, v in dotenv_values(path).items()}
        if any(values.get(name, "").strip() == url.strip() for name in ENDPOINT_VARIABLES):
            return EndpointOrigin(shown, ".env", str(path))
    return EndpointOrigin(shown, "settings")


def log_endpoint_from_env_file(settings: Settings) -> None:
    """A `.env` in the working directory must not redirect the user's key silently: say so
    at every start (CLI and app)."""
    import logging

    origin = endpoint_origin(settings)
    if origin.source == ".env":
        logging.getLogger(__name__).warning(
            "endpoint from .env: %s (%s)", origin.url, origin.detail
        )
