"""Shared CLI plumbing: settings from flags, error reporting, JSON output."""

from __future__ import annotations

import json
import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from core.errors import MlsdError
from core.offline import apply_offline_env
from core.settings import Settings

StoreOpt = typer.Option(None, "--store", help="Store directory (default: MLSD_STORE_DIR).")
ChromaUrlOpt = typer.Option(
    None, "--chroma-url", help="Use a Chroma server at this URL instead of the embedded store."
)


def make_settings(store: Path | None = None, chroma_url: str | None = None, **overrides: Any):
    """Settings from the environment, with command-line flags on top."""
    if store is not None:
        overrides["store_dir"] = store
    if chroma_url is not None:
        overrides["chroma_url"] = chroma_url
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    apply_offline_env(settings.embed_model)
    return settings


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "chromadb", "sentence_transformers", "transformers", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose else logging.ERROR)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, default=str))


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
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
