"""The cached ONNX exports of the embedding model: found, verified, built once, shared.

Layout under the model cache dir::

    onnx/<model>-<fingerprint>/model.onnx (+ .json)       fp32, checked against torch when built
    onnx/<model>-<fingerprint>/model-int8.onnx (+ .json)  dynamic int8, from the fp32 export
    onnx/hashes/<path hash>.json                          memo: file stat -> sha256

The fingerprint hashes the weights and config.json (and the export recipe version), so new
weights get a new folder. Builds run under a file lock, write a temp name and rename it into
place (readers see a whole file or none); the `.json` sidecar is written last, so a model file
without one is unfinished. A load checks the sidecar's size and stat (the content hash when
the stat changed), that onnxruntime loads the graph, and that a probe sentence embeds as it
did when built; a failed check rebuilds the file. Loading never imports torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import uuid
from pathlib import Path

import numpy as np

from ingest.embed_onnx import (
    ModelSpec,
    OnnxEncoder,
    UnsupportedModelError,
    make_session,
    read_model_spec,
)
from ingest.onnx_export import EXPORT_FORMAT

log = logging.getLogger(__name__)

PROBE = "How would you design the candidate generation stage of a video recommender?"
PROBE_MIN_COSINE = 0.9999  # a cached file must still embed the probe as it did when written
LOCK_TIMEOUT_S = 900.0  # a concurrent build takes seconds; this only bounds a stuck one
FILES = {"onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}
_STALE_BUILD = re.compile(r"^\.model(-int8)?\.onnx\.\d+\.[0-9a-f]+\.tmp(\.raw)?$")

exports_built: dict[str, int] = {"onnx": 0, "onnx-int8": 0}  # per process, read by tests
_loaded: dict[tuple[str, str, str], OnnxEncoder] = {}  # (fingerprint, backend, name) -> encoder


class ExportInvalidError(RuntimeError):
    """A cached export is missing, unfinished or corrupted (it gets rebuilt)."""


def _tmp_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = _tmp_path(path)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _stat_key(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


def file_sha256(path: Path, memo_dir: Path | None = None) -> str:
    """sha256 of a file, memoized by (size, mtime, inode) so a cold start does not rehash."""
    key = _stat_key(path)
    memo = None
    if memo_dir is not None:
        memo = memo_dir / (hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:20] + ".json")
        with contextlib.suppress(OSError, ValueError, KeyError):
            saved = json.loads(memo.read_text(encoding="utf-8"))
            if saved.get("stat") == key:
                return saved["sha256"]
    digest = _sha256(path)
    if memo is not None:
        try:
            memo.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write_text(memo, json.dumps({"path": str(path), "stat": key, "sha256": digest}))
        except OSError as exc:  # a read-only cache still works, it just rehashes
            log.debug("hash memo not written: %s", exc)
    return digest


def model_fingerprint(spec: ModelSpec, memo_dir: Path | None = None) -> str:
    """Hash of what the exported graph depends on: the weights and the architecture config."""
    folder = spec.transformer_dir
    weights = sorted(
        p
        for p in folder.iterdir()
        if p.suffix == ".safetensors" or (p.name.startswith("pytorch_model") and p.suffix == ".bin")
    )
    if not weights:
        raise UnsupportedModelError(f"{folder}: no weights file")
    h = hashlib.sha256(f"format={EXPORT_FORMAT}\n".encode())
    for path in [*weights, folder / "config.json"]:
        h.update(f"{path.name}={file_sha256(path, memo_dir)}\n".encode())
    return h.hexdigest()


def export_folder(cache_dir: Path, label: str, fingerprint: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("._") or "model"
    return Path(cache_dir) / "onnx" / f"{safe}-{fingerprint[:16]}"


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def open_verified(path: Path, spec: ModelSpec, model_name: str, backend: str) -> OnnxEncoder:
    """An encoder over a cached export, or ExportInvalidError saying what is wrong with it.

    A file whose content is intact but that onnxruntime cannot run raises RuntimeError instead:
    rebuilding would not help, the caller falls back to torch.
    """
    try:
        meta = json.loads(_meta_path(path).read_text(encoding="utf-8"))
        stat_key = _stat_key(path)
    except FileNotFoundError as exc:
        raise ExportInvalidError(f"{path.name}: not built yet") from exc
    except (OSError, ValueError) as exc:
        raise ExportInvalidError(f"{path.name}: unreadable sidecar ({exc})") from exc
    if meta.get("format") != EXPORT_FORMAT or meta.get("backend") != backend:
        raise ExportInvalidError(f"{path.name}: built by another export recipe")
    if stat_key[0] != meta.get("size"):
        raise ExportInvalidError(f"{path.name}: {stat_key[0]} bytes, expected {meta.get('size')}")
    hashed = stat_key != meta.get("stat")
    if hashed:
        # Touched since it was written (copied, restored, or overwritten): check the content.
        if _sha256(path) != meta.get("sha256"):
            raise ExportInvalidError(f"{path.name}: content hash mismatch")
        meta["stat"] = stat_key
        with contextlib.suppress(OSError):  # remember the stat: the next start skips the hash
            _atomic_write_text(_meta_path(path), json.dumps(meta))
    try:
        encoder = OnnxEncoder(spec, make_session(path), model_name, backend)
        probe = encoder.encode([PROBE])[0]
    except Exception as exc:  # onnxruntime raises its own exception types for bad graphs
        if hashed or _sha256(path) == meta.get("sha256"):
            raise RuntimeError(f"onnxruntime cannot run {path.name}: {exc}") from exc
        raise ExportInvalidError(f"{path.name}: does not load ({exc})") from exc
    expected = np.asarray(meta.get("probe") or [], dtype=np.float32)
    if expected.shape != probe.shape or float(probe @ expected) < PROBE_MIN_COSINE:
        raise ExportInvalidError(f"{path.name}: probe embedding differs from the one when built")
    return encoder


def _publish(tmp: Path, target: Path, spec: ModelSpec, model_name: str, backend: str) -> None:
    """Rename a checked temp file into place, then write its sidecar (the completion mark)."""
    _meta_path(target).unlink(missing_ok=True)
    digest = _sha256(tmp)
    os.replace(tmp, target)
    encoder = OnnxEncoder(spec, make_session(target), model_name, backend)
    meta = {
        "format": EXPORT_FORMAT,
        "backend": backend,
        "model": model_name,
        "size": target.stat().st_size,
        "stat": _stat_key(target),
        "sha256": digest,
        "max_seq_length": spec.max_seq_length,
        "probe": [round(float(x), 7) for x in encoder.encode([PROBE])[0]],
    }
    _atomic_write_text(_meta_path(target), json.dumps(meta))
    exports_built[backend] += 1


def _build(spec: ModelSpec, target: Path, model_name: str, backend: str) -> None:
    """Build `target` (the caller holds the folder's lock)."""
    from ingest.onnx_export import export_fp32, quantize_int8

    for stale in target.parent.iterdir():  # left by a killed build: nobody else holds the lock
        if _STALE_BUILD.match(stale.name):
            stale.unlink(missing_ok=True)
    tmp = _tmp_path(target)
    try:
        if backend == "onnx-int8":
            fp32 = target.parent / FILES["onnx"]
            try:
                open_verified(fp32, spec, model_name, "onnx")
            except ExportInvalidError:
                _build(spec, fp32, model_name, "onnx")
            quantize_int8(spec, fp32, tmp, model_name)
        else:
            export_fp32(spec, tmp, model_name)
        _publish(tmp, target, spec, model_name, backend)
    finally:
        tmp.unlink(missing_ok=True)


def _prune_outdated(folder: Path) -> None:
    """Delete sibling exports made by an older recipe: no version of this code reads them."""
    import shutil

    for sibling in folder.parent.iterdir():
        if sibling == folder or not sibling.is_dir() or sibling.name == "hashes":
            continue
        try:
            meta = json.loads(_meta_path(sibling / FILES["onnx"]).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # unfinished or foreign: leave it alone
        if isinstance(meta.get("format"), int) and meta["format"] < EXPORT_FORMAT:
            shutil.rmtree(sibling, ignore_errors=True)
            log.info("removed outdated export %s", sibling)


def _load_or_build(spec: ModelSpec, folder: Path, backend: str, model_name: str) -> OnnxEncoder:
    from filelock import FileLock

    target = folder / FILES[backend]
    try:
        return open_verified(target, spec, model_name, backend)
    except ExportInvalidError as exc:
        reason = str(exc)
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / ".lock"), timeout=LOCK_TIMEOUT_S):
        try:  # another process may have built it while we waited for the lock
            return open_verified(target, spec, model_name, backend)
        except ExportInvalidError as exc:
            reason = str(exc)
        log.info("building the %s export in %s (%s)", backend, folder, reason)
        _build(spec, target, model_name, backend)
        encoder = open_verified(target, spec, model_name, backend)
    _prune_outdated(folder)
    return encoder


def load_onnx_encoder(
    model_dir: Path, cache_dir: Path, backend: str, model_name: str, reuse: bool = False
) -> OnnxEncoder:
    """The cached export for (model, backend), built (or rebuilt) first when needed.

    With `reuse`, an encoder this process already verified for the same weights is returned
    whatever the cache dir (one session per process even when callers use several dirs).
    """
    if backend not in FILES:
        raise ValueError(f"not an ONNX backend: {backend!r}")
    import onnxruntime  # noqa: F401  (fail fast, before any export work, when it is missing)
    import tokenizers  # noqa: F401

    spec = read_model_spec(Path(model_dir))
    cache_dir = Path(cache_dir)
    fingerprint = model_fingerprint(spec, cache_dir / "onnx" / "hashes")
    key = (fingerprint, backend, model_name)
    if reuse and key in _loaded:
        return _loaded[key]
    folder = export_folder(cache_dir, model_name, fingerprint)
    _loaded[key] = encoder = _load_or_build(spec, folder, backend, model_name)
    return encoder
