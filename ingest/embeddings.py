"""The embedding model: loaded once per process, normalized vectors, batch encoding.

`load_embedder(...)` is the only way code gets a model. The backend name is recorded in the
store so that queries are never embedded with an incompatible precision.
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from core.offline import apply_offline_env

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


@lru_cache(maxsize=4)
def load_embedder(model: str, backend: str = "torch", cache_dir: str | None = None) -> Embedder:
    """The process-wide embedder for (model, backend). Loaded once, then reused."""
    return TorchEmbedder(model)
