"""Shared CLI plumbing: settings from flags (checked, so that a bad flag is one line and exit
2), error reporting, JSON output; untrusted text is made terminal-safe (cli/terminal.py)."""

from __future__ import annotations

import json
import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from cli.terminal import json_safe, lenient_output, terminal_safe
from core.errors import MlsdError
from core.offline import apply_offline_env

log = logging.getLogger(__name__)

StoreOpt = typer.Option(None, "--store", help="Store directory (default: MLSD_STORE_DIR).")
ChromaUrlOpt = typer.Option(
    None, "--chroma-url", help="Use a Chroma server at this URL instead of the embedded store."
)


def make_settings(store: Path | None = None, chroma_url: str | None = None, **overrides: Any):
    """Settings from the environment, with command-line flags on top. A value that cannot
    work (a store path that is a file, a malformed Chroma URL, a setting of the wrong type)
    is one line and exit 2. An LLM endpoint set by a `.env` file is logged."""
    from pydantic import ValidationError

    # here, not at import: `mlsd eval` prints progress before pydantic-settings is loaded
    from core.endpoint import log_endpoint_from_env_file
    from core.settings import Settings

    if store is not None:
        overrides["store_dir"] = store
    if chroma_url is not None:
        overrides["chroma_url"] = chroma_url
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ".".join(str(part) for part in error.get("loc", ())) or "a setting"
        fail(f"setting {name} (MLSD_{name.upper()}): {error.get('msg', 'invalid')}", 2)
    _check_store_dir(settings.store_dir, "--store" if store is not None else "MLSD_STORE_DIR")
    if settings.chroma_url is not None:
        flag = "--chroma-url" if chroma_url is not None else "MLSD_CHROMA_URL"
        _check_chroma_url(settings.chroma_url, flag)
    log_endpoint_from_env_file(settings)
    apply_offline_env(settings.embed_model)
    return settings


def _check_store_dir(path: Path, flag: str) -> None:
    """The store is a folder (created on first ingest): no part of its path may be a file."""
    for part in (path, *path.parents):
        if part.exists():
            if not part.is_dir():
                what = "is a file" if part == path else f"is inside {part}, which is a file"
                fail(f"{flag} {path}: {what}; give a folder for the store", 2)
            return


def _check_chroma_url(url: str, flag: str) -> None:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        reason = "give http://host:port"
    except ValueError as exc:
        ok, reason = False, f"{exc}; give http://host:port"
    if not ok:
        fail(f"{flag} {url!r}: not a valid server URL ({reason})", 2)


def check_top_k(k: int | None) -> None:
    """`-k` must ask for at least one passage (exit 2 otherwise)."""
    if k is not None and k < 1:
        fail(f"-k {k}: give 1 or more passages", 2)


class _TerminalSafeFormatter(logging.Formatter):
    """Log lines carry file names and passages: no control sequences reach the terminal."""

    def format(self, record: logging.LogRecord) -> str:
        return terminal_safe(super().format(record))


def setup_logging(verbose: bool = False) -> None:
    lenient_output()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_TerminalSafeFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
    for noisy in ("httpx", "chromadb", "sentence_transformers", "transformers", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose else logging.ERROR)


def print_json(data: Any) -> None:
    """One JSON document on stdout; control characters escaped, never raw."""
    typer.echo(json_safe(json.dumps(data, ensure_ascii=False, default=str)))


def fail(message: str, code: int = 1) -> None:
    """`error: <message>` on stderr (terminal-safe: it may quote a file name), then exit."""
    typer.echo(f"error: {terminal_safe(message)}", err=True)
    raise typer.Exit(code)


@contextmanager
def user_errors():
    """Turn product errors into one line on stderr and exit status 1, never a traceback."""
    try:
        yield
    except MlsdError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", 130)
