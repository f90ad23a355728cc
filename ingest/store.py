"""The Chroma store: client (embedded or server), collection, and what built it.

Vectors are computed by our own embedder and passed explicitly, so collections are created
and opened with `embedding_function=None`: Chroma never loads (or downloads) a model itself.
"""

from __future__ import annotations

import logging
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from core.errors import ConfigError, StoreMismatchError
from core.offline import apply_offline_env

log = logging.getLogger(__name__)

# Collection metadata key an ingest bumps whenever it changed chunks, so that long-lived
# readers (the app, other clients of a Chroma server) notice edits that keep the chunk count.
GENERATION_KEY = "generation"
# Key in the configured collection's metadata naming the collection that holds the chunks
# (absent: the configured one itself). `--reset` builds a new collection and then points here.
ACTIVE_KEY = "active_collection"

_clients: dict[str, object] = {}
_clients_lock = threading.RLock()
# Embedded mode: the generation each (store path, collection) had when this process's client
# last read the files anew or wrote them. A different generation in the collection means
# another process wrote since, and this process's in-memory vector index is stale.
_known_generation: dict[tuple[str, str], str | None] = {}


def _embedded_key(store_dir: Path) -> str:
    return str(Path(store_dir).resolve())


def _client(store_dir: Path, chroma_url: str | None):
    apply_offline_env()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    key = chroma_url or _embedded_key(store_dir)
    with _clients_lock:
        if key in _clients:
            return _clients[key]
        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if chroma_url:
            url = urlparse(chroma_url)
            if url.scheme not in {"http", "https"} or not url.hostname:
                raise ConfigError(f"MLSD_CHROMA_URL={chroma_url!r}: expected http://host:port")
            try:
                client = chromadb.HttpClient(
                    host=url.hostname,
                    port=url.port or (443 if url.scheme == "https" else 8000),
                    ssl=url.scheme == "https",
                    settings=chroma_settings,
                )
            except ValueError as exc:  # chromadb's "Could not connect to a Chroma server"
                raise _unreachable(chroma_url, exc) from exc
        else:
            Path(store_dir).mkdir(parents=True, exist_ok=True)
            # the resolved path is also the key under which chroma shares its System
            client = chromadb.PersistentClient(path=key, settings=chroma_settings)
        _clients[key] = client
        return client


def _unreachable(chroma_url: str, exc: Exception) -> ConfigError:
    return ConfigError(
        f"Cannot reach the Chroma server at {chroma_url} ({exc}): start it with "
        "`chroma run --path DIR --host 127.0.0.1 --port 8000`, or unset MLSD_CHROMA_URL "
        "to use the embedded store."
    )


def refresh_client(store_dir: Path) -> None:
    """Embedded mode: make this process read the store files anew (hold the ingest lock).

    Chroma's embedded client keeps the vector index in memory and never rereads the files: a
    client opened before another process wrote serves stale vectors, and *writing* through it
    persists an index without the other writer's vectors (the store then fails with "Error
    finding id"). So writers start from a fresh client, and readers switch to one when they
    see a generation they do not know (`is_stale`).
    """
    from chromadb.api.shared_system_client import SharedSystemClient

    key = _embedded_key(store_dir)
    with _clients_lock:
        _clients.pop(key, None)
        # chroma shares one System per path in a process: forget it (not stop() it, because
        # a reader thread may still be using it) so that the next client builds a new one
        SharedSystemClient._identifier_to_system.pop(key, None)
        SharedSystemClient._identifier_to_refcount.pop(key, None)
        for known in [k for k in _known_generation if k[0] == key]:
            del _known_generation[known]
        _client(store_dir, None)


def _note_current(store: Store, store_dir: Path, chroma_url: str | None) -> None:
    if not chroma_url:
        key = (_embedded_key(store_dir), store.collection.name)
        _known_generation[key] = store.metadata.get(GENERATION_KEY)


def is_stale(store: Store, store_dir: Path, chroma_url: str | None) -> bool:
    """Embedded mode: True when another process wrote since this process's client read."""
    if chroma_url:
        return False  # the server holds the only index
    key = (_embedded_key(store_dir), store.collection.name)
    return key not in _known_generation or (
        _known_generation[key] != store.metadata.get(GENERATION_KEY)
    )


@contextmanager
def server_errors(chroma_url: str | None):
    """Turn a lost connection to a Chroma server into a ConfigError that says what to do."""
    try:
        yield
    except Exception as exc:
        import httpx

        if chroma_url and isinstance(exc, httpx.TransportError):
            raise _unreachable(chroma_url, exc) from exc
        raise


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
    fresh: bool = False,
) -> Store | None:
    """Open (or with `create`, create) the collection. Returns None if it does not exist.

    `fresh` (embedded mode, ingest lock held): reread the store files first, see
    `refresh_client`. Writers pass it; readers call it when `is_stale`.
    """
    if fresh and not chroma_url:
        refresh_client(store_dir)
    client = _client(store_dir, chroma_url)
    location = chroma_url or str(store_dir)
    with server_errors(chroma_url):
        base = _get_collection(client, collection)
        if base is None and create:
            meta = {"hnsw:space": "cosine", **(embed_meta or {})}
            base = client.get_or_create_collection(
                collection, embedding_function=None, metadata=meta
            )
        if base is None:
            return None
        col = _active(client, base)
    store = Store(collection=col, location=location, client=client)
    if fresh or create:  # this client has read, or is about to write, the current files
        _note_current(store, store_dir, chroma_url)
    return store


# Records per read: one `get` of more than ~32k records with documents or metadata fails in
# Chroma ("too many SQL variables", SQLite's limit), so whole-collection reads are paged.
GET_PAGE = 10_000


def get_all(store: Store, include: list[str]) -> dict[str, list]:
    """Every record's id and the `include` fields ("documents", "metadatas"), in pages."""
    out: dict[str, list] = {"ids": [], **{key: [] for key in include}}
    seen: set[str] = set()
    offset = 0
    while True:
        page = store.collection.get(include=include, limit=GET_PAGE, offset=offset)
        for i, cid in enumerate(page["ids"]):
            if cid not in seen:  # a write between pages can shift a record into the next one
                seen.add(cid)
                out["ids"].append(cid)
                for key in include:
                    out[key].append(page[key][i])
        if len(page["ids"]) < GET_PAGE:
            return out
        offset += GET_PAGE


def mark_changed(store: Store, store_dir: Path, chroma_url: str | None) -> None:
    """Record a new generation in the collection metadata (readers compare it to refresh)."""
    # modify() replaces the whole metadata; `hnsw:*` keys are creation-time settings that
    # Chroma refuses to see again (the distance function stays in the collection config).
    meta = {k: v for k, v in store.metadata.items() if not k.startswith("hnsw:")}
    store.collection.modify(metadata={**meta, GENERATION_KEY: uuid.uuid4().hex})
    _note_current(store, store_dir, chroma_url)  # the writer's own client is up to date


def _get_collection(client, name: str):
    try:
        return client.get_collection(name, embedding_function=None)
    except Exception as exc:  # chromadb raises NotFoundError / ValueError by version
        if "does not exist" in str(exc) or "not found" in str(exc).lower():
            return None
        raise


def _active(client, base):
    """The collection `base` points to (after a `--reset`), else `base` itself."""
    name = (base.metadata or {}).get(ACTIVE_KEY)
    if not name or name == base.name:
        return base
    target = _get_collection(client, name)
    if target is None:  # only if removed by hand: the base collection is all there is
        log.error("collection %s points to %s, which does not exist", base.name, name)
        return base
    return target


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
