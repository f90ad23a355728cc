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


class TokenBudget:
    """The embedding model's own tokenizer and window, for sizing chunks (no torch import).

    `window` is what one embedded text may hold: `max_seq_length` minus the special tokens the
    model adds ([CLS] and [SEP] for BERT-style models). `count` gives the word pieces of a text
    without the special tokens, after the same preparation the encoders apply (strip, lower
    case when the model asks for it).
    """

    def __init__(self, tokenizer, max_seq_length: int, do_lower_case: bool, key: str) -> None:
        self._tokenizer = tokenizer
        self.max_seq_length = max_seq_length
        self.do_lower_case = do_lower_case
        self.special_tokens = len(tokenizer.encode("", add_special_tokens=True).ids)
        self.window = max_seq_length - self.special_tokens
        self.key = f"{key}|window={self.window}"  # what chunk boundaries depend on

    def _prepare(self, text: str) -> str:
        text = text.strip()
        return text.lower() if self.do_lower_case else text

    def tokens(self, text: str) -> list[int]:
        """Word-piece ids of `text` (no special tokens)."""
        return self._tokenizer.encode(self._prepare(text), add_special_tokens=False).ids

    def count(self, text: str) -> int:
        return len(self.tokens(text))

    def embedded_count(self, text: str) -> int:
        """Tokens the model sees for `text` before truncation, special tokens included."""
        return self.count(text) + self.special_tokens

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of each word piece in `text` (as given, not stripped)."""
        src = text.lower() if self.do_lower_case else text  # lower() keeps offsets for ASCII
        if len(src) != len(text):
            src = text
        return list(self._tokenizer.encode(src, add_special_tokens=False).offsets)


def _read_json_file(path: Path) -> dict:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


@lru_cache(maxsize=4)
def load_token_budget(model: str) -> TokenBudget:
    """The tokenizer and window of `model` (a folder or a hub id already in the local cache).

    Reads `tokenizer.json` with the `tokenizers` library and `max_seq_length` from
    `sentence_bert_config.json` (else the tokenizer's and the model's position limits, as
    sentence-transformers does). Raises ConfigError when the model has no fast tokenizer.
    """
    import hashlib

    from tokenizers import Tokenizer

    try:
        folder = local_model_dir(model)
    except Exception as exc:  # not a folder and not in the hub cache
        raise ConfigError(
            f"Embedding model {model!r} not found locally ({type(exc).__name__}): set "
            "MLSD_EMBED_MODEL to a sentence-transformers model folder."
        ) from exc
    modules = _read_json_file(folder / "modules.json")
    sub = modules[0].get("path", "") if isinstance(modules, list) and modules else ""
    transformer_dir = folder / sub
    tokenizer_file = transformer_dir / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise ConfigError(f"{transformer_dir}: no tokenizer.json, so chunks cannot be sized.")
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    st_config = _read_json_file(transformer_dir / "sentence_bert_config.json")
    max_len = st_config.get("max_seq_length")
    if not max_len:
        tok_limit = _read_json_file(transformer_dir / "tokenizer_config.json").get(
            "model_max_length"
        )
        positions = _read_json_file(transformer_dir / "config.json").get("max_position_embeddings")
        max_len = min(int(x) for x in (tok_limit, positions, 10**6) if x)
    digest = hashlib.sha256(tokenizer_file.read_bytes()).hexdigest()[:16]
    key = f"{model_label(model)}|tokenizer={digest}|max_seq_length={int(max_len)}"
    return TokenBudget(tokenizer, int(max_len), bool(st_config.get("do_lower_case")), key)
