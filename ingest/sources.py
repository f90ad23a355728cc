"""Which files an ingest covers, what each is called in the store, and what `--prune` may remove.

A file's *label* (the chunk `source`) is its path relative to the folder it was found under
(`concepts/x.md` for `corpus/`), or its name when given directly. Every chunk also records
the file's resolved absolute *path*, so that

- a file already stored keeps its label when reached through another folder (`ingest corpus`
  then `ingest corpus/concepts` stores nothing twice);
- two files with one label (`a/notes.md`, `b/notes.md`) get their parent folders prefixed;
- `--prune` removes only files that lie under a folder named in this run and are gone.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ingest.readers import file_kind, is_supported


@dataclass(frozen=True)
class Candidate:
    path: Path  # as found
    resolved: str  # absolute, symlinks resolved: one file, one entry
    label: str  # relative to the folder it was found under, or its name


@dataclass
class Discovery:
    files: list[Candidate]
    skipped: list[str]  # unsupported types
    failed: list[dict]  # [{"path", "reason"}]
    folders: list[str]  # resolved folders given: the only places `--prune` looks


def display(path: Path | str) -> str:
    """A path as printable text: bytes that are not UTF-8 become `\\xNN` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _utf8_name(path: Path | str) -> bool:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes are kept as lone surrogates
        return False
    return True


def missing_paths(paths: list[Path]) -> list[Path]:
    """Given paths that do not exist (a typo): a usage error before anything is touched."""
    return [p for p in paths if not os.path.lexists(p)]


def discover(paths: list[Path]) -> Discovery:
    found: dict[str, Candidate] = {}
    out = Discovery(files=[], skipped=[], failed=[], folders=[])
    for root in paths:
        try:
            mode = root.stat().st_mode
        except OSError as exc:
            reason = "no such file or directory" if not root.exists() else exc.strerror
            out.failed.append({"path": display(root), "reason": str(reason)})
            continue
        if stat.S_ISDIR(mode):
            out.folders.append(str(root.resolve()))
            entries = sorted(p for p in root.rglob("*") if p.is_file())
            for path in entries:
                if any(part.startswith(".") for part in path.relative_to(root).parts):
                    continue  # hidden files and folders (.git, .DS_Store) are never content
                _add(found, out, path, path.relative_to(root).as_posix())
        elif stat.S_ISREG(mode):
            _add(found, out, root, root.name)
        else:
            reason = f"not a regular file ({file_kind(mode)})"
            out.failed.append({"path": display(root), "reason": reason})
    out.files = sorted(found.values(), key=lambda c: (c.label, c.resolved))
    return out


def _add(found: dict[str, Candidate], out: Discovery, path: Path, label: str) -> None:
    if not is_supported(path):
        out.skipped.append(display(path))
        return
    resolved = str(path.resolve())
    if not _utf8_name(resolved):
        out.failed.append({"path": display(path), "reason": "file name is not valid UTF-8"})
        return
    known = found.get(resolved)
    # one file reached through two roots: the outer root's (longer) label wins, so
    # `ingest corpus/concepts corpus` labels as `ingest corpus` does
    if known is None or label.count("/") > known.label.count("/"):
        found[resolved] = Candidate(path=path, resolved=resolved, label=label)


def assign_labels(
    files: list[Candidate], stored: dict[str, dict]
) -> tuple[list[tuple[Candidate, str]], list[dict]]:
    """(file, label) pairs and failures. `stored`: label -> {"path": resolved or None, ...}.

    A stored file keeps its label. A new file takes its natural label unless another file
    owns it: a file of this run with the same label, or a stored file that still exists;
    the colliding files then get as many parent folders as make them unique.
    """
    by_path = {info["path"]: label for label, info in stored.items() if info.get("path")}
    chosen: dict[str, str] = {}
    for cand in files:
        if cand.resolved in by_path:
            chosen[cand.resolved] = by_path[cand.resolved]
    used = set(chosen.values())

    def owned_elsewhere(label: str, cand: Candidate) -> bool:
        if label in used:
            return True
        owner = stored.get(label)
        if owner is None or owner.get("path") in (None, cand.resolved):
            return False  # free, or a store from before paths were recorded
        return os.path.exists(owner["path"])  # a moved file's label passes to its new path

    pending = [c for c in files if c.resolved not in chosen]
    natural: dict[str, int] = {}
    for cand in pending:
        natural[cand.label] = natural.get(cand.label, 0) + 1
    failed: list[dict] = []
    for cand in pending:
        parts = Path(cand.resolved).parts
        depth = cand.label.count("/") + 1
        label = cand.label
        if natural[cand.label] > 1 or owned_elsewhere(label, cand):
            label = None
            for n in range(depth + 1, len(parts)):
                attempt = "/".join(parts[-n:])
                if not owned_elsewhere(attempt, cand):
                    label = attempt
                    break
        if label is None:
            failed.append({"path": display(cand.path), "reason": "no unique source label"})
            continue
        chosen[cand.resolved] = label
        used.add(label)
    return [(c, chosen[c.resolved]) for c in files if c.resolved in chosen], failed


def prunable(stored: dict[str, dict], folders: list[str], kept: set[str]) -> list[str]:
    """Stored labels whose file lay under one of `folders` and is gone."""
    roots = [folder.rstrip(os.sep) + os.sep for folder in folders]
    gone = []
    for label, info in stored.items():
        path = info.get("path")
        if label in kept or not path or not any(path.startswith(root) for root in roots):
            continue
        if not os.path.isfile(path):
            gone.append(label)
    return sorted(gone)
