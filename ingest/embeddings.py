"""The embedding model: loaded once per process, normalized vectors, batch encoding.

`load_embedder(...)` is the only way code gets a model. The backend name is recorded in the
store so that queries are never embedded with an incompatible precision.

Backends: `onnx` (the default: the same vectors as torch, without importing torch once the
export is cached), `onnx-int8` (dynamic int8, about twice as fast, slightly different vectors)
and `torch` (sentence-transformers itself, the reference). An ONNX backend that cannot be built
or loaded falls back to `torch` with one warning; `.backend` says which one is in use.
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from core.errors import ConfigError
from core.offline import apply_offline_env

BACKENDS = ("onnx", "onnx-int8", "torch")

log = logging.getLogger(__name__)


class Embedder(Protocol):
    model_name: str
    backend: str  # the backend actually in use (after any fallback)
    dim: int

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Unit-normalized float32 vectors, one row per text."""
        ...


def model_label(model: str) -> str:
    """A stable, short name for a model path or hub id (recorded in the store)."""
    path = Path(model)
    if path.exists():
        # the shipped package keeps the model in a folder called `model`; name it by its package
        return path.parent.name if path.name == "model" else path.name
    return model


class TorchEmbedder:
    """sentence-transformers on the CPU: the reference implementation."""

    backend = "torch"

    def __init__(self, model: str) -> None:
        apply_offline_env(model)
        from sentence_transformers import SentenceTransformer

        self.model_name = model_label(model)
        self._model = SentenceTransformer(model, device="cpu")
        self.dim = int(self._model.get_embedding_dimension())
        self._lock = threading.Lock()  # torch modules are not safe to call from many threads

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                texts,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=progress,
            )
        return np.asarray(vectors, dtype=np.float32)


def local_model_dir(model: str) -> Path:
    """The model's folder: the path itself, or a hub id's snapshot already in the local cache."""
    path = Path(model)
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(model, local_files_only=True))  # never downloads


def default_cache_dir() -> Path:
    from core.settings import Settings

    return Path(Settings.model_fields["model_cache_dir"].default)


def build_embedder(
    model: str, backend: str = "onnx", cache_dir: str | None = None, reuse: bool = False
) -> Embedder:
    """An embedder: ONNX when asked for and possible, else torch (with one warning).

    Without `reuse` the ONNX export is always checked on disk (and rebuilt if needed); with it,
    an ONNX session this process already verified for the same weights is shared.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"Unknown embedding backend {backend!r}: choose {', '.join(BACKENDS)}.")
    if backend == "torch":
        return TorchEmbedder(model)
    apply_offline_env(model)
    try:
        from ingest.onnx_cache import load_onnx_encoder

        return load_onnx_encoder(
            local_model_dir(model),
            Path(cache_dir) if cache_dir else default_cache_dir(),
            backend,
            model_label(model),
            reuse=reuse,
        )
    except Exception as exc:  # any failure of the fast path must leave the product working
        log.warning(
            "%s embedding backend unavailable (%s: %s); using torch instead",
            backend,
            type(exc).__name__,
            str(exc).splitlines()[0][:200] if str(exc) else "",
        )
        return TorchEmbedder(model)


@lru_cache(maxsize=4)
def load_embedder(model: str, backend: str = "onnx", cache_dir: str | None = None) -> Embedder:
    """The process-wide embedder for (model, backend). Loaded once, then reused."""
    return build_embedder(model, backend, cache_dir, reuse=True)
