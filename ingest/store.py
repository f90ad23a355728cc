"""The Chroma store: client (embedded or server), collection, and what built it.

Vectors are computed by our own embedder and passed explicitly, so collections are created
and opened with `embedding_function=None`: Chroma never loads (or downloads) a model itself.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from core.errors import ConfigError, StoreMismatchError
from core.offline import apply_offline_env

log = logging.getLogger(__name__)

_clients: dict[str, object] = {}
_clients_lock = threading.Lock()


def _client(store_dir: Path, chroma_url: str | None):
    apply_offline_env()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    key = chroma_url or str(Path(store_dir).resolve())
    with _clients_lock:
        if key in _clients:
            return _clients[key]
        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if chroma_url:
            url = urlparse(chroma_url)
            if url.scheme not in {"http", "https"} or not url.hostname:
                raise ConfigError(f"MLSD_CHROMA_URL={chroma_url!r}: expected http://host:port")
            client = chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        else:
            Path(store_dir).mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(path=str(store_dir), settings=chroma_settings)
        _clients[key] = client
        return client


@dataclass
class Store:
    """An open collection plus where it lives (for messages)."""

    collection: object
    location: str
    client: object

    @property
    def metadata(self) -> dict:
        return dict(self.collection.metadata or {})

    def count(self) -> int:
        return int(self.collection.count())


def open_store(
    store_dir: Path,
    collection: str,
    chroma_url: str | None = None,
    create: bool = False,
    embed_meta: dict | None = None,
) -> Store | None:
    """Open (or with `create`, create) the collection. Returns None if it does not exist."""
    client = _client(store_dir, chroma_url)
    location = chroma_url or str(store_dir)
    if create:
        meta = {"hnsw:space": "cosine", **(embed_meta or {})}
        col = client.get_or_create_collection(collection, embedding_function=None, metadata=meta)
    else:
        try:
            col = client.get_collection(collection, embedding_function=None)
        except Exception as exc:  # chromadb raises NotFoundError / ValueError by version
            if "does not exist" in str(exc) or "not found" in str(exc).lower():
                return None
            raise
    return Store(collection=col, location=location, client=client)


def reset_store(store_dir: Path, collection: str, chroma_url: str | None = None) -> None:
    client = _client(store_dir, chroma_url)
    try:
        client.delete_collection(collection)
    except Exception as exc:
        if "does not exist" not in str(exc) and "not found" not in str(exc).lower():
            raise


def embed_metadata(model_name: str, backend: str, dim: int) -> dict:
    """What the collection records about the model that built it."""
    return {"embed_model": model_name, "embed_backend": backend, "embed_dim": dim}


def precision_of(backend: str) -> str:
    # onnx and torch produce the same float vectors; int8 quantized ones are not comparable.
    return "int8" if backend.endswith("int8") else "fp32"


def check_compatible(store_meta: dict, model_name: str, backend: str, location: str) -> None:
    """Raise StoreMismatchError when the store was built by another model or precision."""
    built_model = store_meta.get("embed_model")
    built_backend = store_meta.get("embed_backend")
    if built_model and built_model != model_name:
        raise StoreMismatchError(
            f"The store at {location} was built with embedding model {built_model!r}, "
            f"but {model_name!r} is configured: re-ingest with `mlsd ingest --reset`."
        )
    if built_backend and precision_of(built_backend) != precision_of(backend):
        raise StoreMismatchError(
            f"The store at {location} was built with the {built_backend!r} embedding backend "
            f"({precision_of(built_backend)}), but {backend!r} is configured: "
            "re-ingest with `mlsd ingest --reset` or set MLSD_EMBED_BACKEND to match."
        )
