"""Small JSON copies of validated inputs, keyed by what they were computed from.

A fresh `mlsd progress` would spend most of its time building pydantic models (settings, the
rubric, the worked solutions) whose content rarely changes. The first run stores what the
summary reads from them here (`.mlsd/cache/<kind>.json`, a few entries per kind, newest
first), under a key made of everything they depend on: file paths, sizes and modification
times, the code that validates them, the environment. A later run with the same key reads
the copy with the standard library; any other key, or a missing, unreadable or damaged
cache, means computing again (the cache only ever saves time). Writes are atomic (a
temporary file renamed over the old one); failing to write is not an error.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# The project's data folder (core.settings.PROJECT_ROOT / ".mlsd"), found without importing
# the settings: this module exists so that the quick path does not load pydantic.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = PROJECT_ROOT / ".mlsd" / "cache"
KEEP = 16  # entries per kind (one per environment, rubric version, ...)


def stamp(path: Path) -> list:
    """[resolved path, mtime_ns, size]: a changed file changes its key. OSError if missing."""
    status = path.stat()
    return [str(path.resolve()), status.st_mtime_ns, status.st_size]


def code_stamp(relative: str) -> list:
    """The stamp of a module's source in this project (its rules shape the cached data)."""
    return stamp(PROJECT_ROOT / relative)


def _file(kind: str, folder: Path | None) -> Path:
    return (folder or CACHE_DIR) / f"{kind}.json"


def _entries(path: Path) -> list:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data.get("entries") if isinstance(data, dict) else None
        return [e for e in entries if isinstance(e, list) and len(e) == 2] if entries else []
    except (OSError, ValueError):
        return []


def get(kind: str, key: Any, folder: Path | None = None) -> Any:
    """The value stored under `key` (compared as JSON), or None."""
    wanted = json.loads(json.dumps(key))  # tuples -> lists, as stored
    for stored_key, value in _entries(_file(kind, folder)):
        if stored_key == wanted:
            return value
    return None


def put(kind: str, key: Any, value: Any, folder: Path | None = None) -> None:
    """Store `value` under `key` (first), keeping the newest KEEP entries of the kind."""
    path = _file(kind, folder)
    try:
        wanted = json.loads(json.dumps(key))
        entries = [e for e in _entries(path) if e[0] != wanted]
        text = json.dumps({"entries": [[wanted, value], *entries][:KEEP]}, ensure_ascii=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(prefix=f".{kind}-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(partial, path)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
    except (OSError, TypeError, ValueError) as exc:  # read-only install, full disk, ...
        log.debug("snapshot %s not stored: %s", kind, exc)
