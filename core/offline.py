"""Offline hygiene, applied once at start-up before heavy libraries are imported.

The product runs where only package registries are reachable: telemetry, hub downloads and
tokenizer fetches would hang or fail, so they are switched off here, in one place.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

_applied = False


def tiktoken_cache_dir() -> Path | None:
    """The tiktoken files bundled with llama-index-core (used by its SentenceSplitter)."""
    spec = importlib.util.find_spec("llama_index.core")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "_static" / "tiktoken_cache"
    return path if path.is_dir() else None


def apply_offline_env(embed_model: str | None = None) -> None:
    """Set the environment so no library tries the network. Idempotent; user values win."""
    global _applied
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("LANGCHAIN_TRACING_V2", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if embed_model and Path(embed_model).exists():
        # A local model folder needs no hub; offline mode stops version checks and retries.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        cache = tiktoken_cache_dir()
        if cache is not None:
            os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    _applied = True
