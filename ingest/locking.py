"""Who may write an embedded store when: one ingest at a time, readers reopen when idle.

Chroma's embedded mode allows a single writer per store folder; a file lock next to the data
serializes ingests across processes. Readers never take it for long: they only check that no
ingest is running before rereading the files another process wrote.
"""

from __future__ import annotations

from core.errors import StoreBusyError
from core.settings import Settings
from ingest.store import Store, open_store


def ingest_lock(settings: Settings, timeout: float | None = None):
    """The store's one-writer lock (embedded mode), acquired; raises StoreBusyError after
    `timeout` seconds (default `Settings.ingest_lock_timeout_s`)."""
    from filelock import FileLock, Timeout

    settings.store_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(settings.store_dir / "ingest.lock"))
    timeout = settings.ingest_lock_timeout_s if timeout is None else timeout
    try:
        lock.acquire(timeout=timeout)
    except Timeout as exc:
        raise StoreBusyError(
            f"Another ingest holds the lock on {settings.store_dir} "
            f"(waited {timeout:.0f} s): wait for it to finish, or use "
            "server mode (MLSD_CHROMA_URL) for several writers."
        ) from exc
    return lock


def reopen_if_idle(settings: Settings) -> tuple[bool, Store | None]:
    """Embedded mode: reread the store files in this process, unless an ingest is writing.

    For long-lived readers whose client went stale (`ingest.store.is_stale`): returns (True,
    the freshly opened store or None), or (False, None) while an ingest holds the lock (the
    reader then keeps its old, consistent view and tries again on its next search).
    """
    try:
        lock = ingest_lock(settings, timeout=0)
    except StoreBusyError:
        return False, None
    except OSError:  # a read-only store folder: nobody can be writing it
        lock = None
    try:
        return True, open_store(settings.store_dir, settings.collection, fresh=True)
    finally:
        if lock is not None:
            lock.release()
