"""Store writes that must not lose what is stored: `--reset` builds beside the live
collection and switches by one metadata write; a failed write (a full disk) is one line.

The configured collection's metadata may name (`ACTIVE_KEY`) the collection that holds the
chunks; `open_store` follows it, so readers see the old collection until `activate` and the
new one after, and a kill at any point leaves one of the two complete.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import contextmanager
from pathlib import Path

from core.errors import MlsdError
from ingest.store import ACTIVE_KEY, _client, _get_collection, server_errors

log = logging.getLogger(__name__)

BUILD_MARK = "-build-"


def build_name(collection: str) -> str:
    """A name for a `--reset` build beside the live collection."""
    return f"{collection}{BUILD_MARK}{uuid.uuid4().hex[:8]}"


def discard_builds(store_dir: Path, collection: str, chroma_url: str | None = None) -> None:
    """Delete builds a killed `--reset` left behind (never the active one)."""
    client = _client(store_dir, chroma_url)
    with server_errors(chroma_url):
        base = _get_collection(client, collection)
        active = (base.metadata or {}).get(ACTIVE_KEY) if base is not None else None
        for col in client.list_collections():
            name = col if isinstance(col, str) else col.name
            if name.startswith(collection + BUILD_MARK) and name != active:
                drop_collection(store_dir, name, chroma_url)


def drop_collection(store_dir: Path, name: str, chroma_url: str | None = None) -> None:
    client = _client(store_dir, chroma_url)
    with server_errors(chroma_url):
        try:
            client.delete_collection(name)
        except Exception as exc:
            if "does not exist" not in str(exc) and "not found" not in str(exc).lower():
                raise


def activate(store_dir: Path, collection: str, built: str, chroma_url: str | None) -> None:
    """Make the completed build `built` the collection readers open, in one metadata write,
    then delete what it replaced. A kill before the write keeps the old collection; after
    it, the new one (leftovers are removed by the next `--reset`)."""
    client = _client(store_dir, chroma_url)
    with server_errors(chroma_url):
        base = client.get_collection(collection, embedding_function=None)
        meta = {k: v for k, v in (base.metadata or {}).items() if not k.startswith("hnsw:")}
        previous = meta.get(ACTIVE_KEY)
        base.modify(metadata={**meta, ACTIVE_KEY: built})
        if previous and previous not in (collection, built):
            drop_collection(store_dir, previous, chroma_url)
        ids = base.get(include=[])["ids"]  # a store from before pointers held its chunks here
        for start in range(0, len(ids), 5_000):
            base.delete(ids=ids[start : start + 5_000])


class StoreWriteError(MlsdError):
    """Writing to the store failed (disk full, store files damaged); what was stored is kept."""


_DISK_FULL = ("no space left", "disk is full", "os error 28", "quota exceeded")


@contextmanager
def write_errors(location: str):
    """Turn a failed store write into one line that says what to do. Files stored before the
    failure stay searchable; the file being written is incomplete and redone by the next run."""
    import sqlite3

    from chromadb.errors import ChromaError

    try:
        yield
    except MlsdError:
        raise
    except Exception as exc:
        text = " ".join(str(exc).split())
        full = any(mark in text.lower() for mark in _DISK_FULL)
        if not full and not isinstance(exc, (ChromaError, OSError, sqlite3.Error)):
            raise  # a bug, not the store: keep the traceback
        reason = "disk full" if full else f"{type(exc).__name__}: {text[:160]}"
        hint = "free disk space" if full else "check the store folder"
        raise StoreWriteError(
            f"Writing to the store at {location} failed ({reason}): {hint} and rerun "
            "`mlsd ingest`; files stored before the failure are kept."
        ) from exc
