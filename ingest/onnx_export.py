"""The ONNX export of the embedding model: built once, cached, verified on every load.

Layout under the model cache dir::

    onnx/<model>-<fingerprint>/model.onnx (+ .json)       fp32, checked against torch at export
    onnx/<model>-<fingerprint>/model-int8.onnx (+ .json)  dynamic int8, from the fp32 export
    onnx/hashes/<path hash>.json                          memo: file stat -> sha256

The fingerprint hashes the weights and config.json, so new weights get a new folder. Files are
written to a temp name, verified, then renamed (readers see a whole file or none), and the
`.json` sidecar is written last: a model file without one is unfinished. A load checks the
sidecar's size and stat (content hash when the stat changed), that onnxruntime loads the graph,
and that a probe sentence embeds as it did at export; any failure rebuilds the file. Exporting
needs torch and sentence-transformers; loading a cached export needs neither.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import uuid
import warnings
from pathlib import Path

import numpy as np

from ingest.embed_onnx import ModelSpec, OnnxEncoder, make_session, read_model_spec

log = logging.getLogger(__name__)

EXPORT_FORMAT = 1  # bump when the export recipe changes: older cached exports are then ignored
PROBE = "How would you design the candidate generation stage of a video recommender?"
CHECK_TEXTS = [
    PROBE,
    "ml system design",
    "  Leading and trailing spaces, punctuation; numbers 1,234.5 and UPPER case.  ",
    "Feature stores keep offline training and online serving features consistent. " * 40,
    "",
]
FP32_MIN_COSINE = 0.9999  # the export must reproduce sentence-transformers
INT8_MIN_COSINE = 0.95  # quantization costs a little; less than this means a broken file
PROBE_MIN_COSINE = 0.9999  # a cached file must still embed the probe as it did when written
LOCK_TIMEOUT_S = 900.0
FILES = {"onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}

exports_built: dict[str, int] = {"onnx": 0, "onnx-int8": 0}  # per process, read by tests
_loaded: dict[tuple[str, str, str], OnnxEncoder] = {}  # (fingerprint, backend, name) -> encoder


class ExportInvalidError(RuntimeError):
    """A cached export is missing, unfinished or corrupted (it gets rebuilt)."""


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _tmp_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def file_sha256(path: Path, memo_dir: Path | None = None) -> str:
    """sha256 of a file, memoized by (size, mtime, inode) so a cold start does not rehash."""
    stat = path.stat()
    key = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
    memo = None
    if memo_dir is not None:
        memo = memo_dir / (hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:20] + ".json")
        try:
            saved = json.loads(memo.read_text(encoding="utf-8"))
            if saved.get("stat") == key:
                return saved["sha256"]
        except (OSError, ValueError, KeyError):
            pass
    with path.open("rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    if memo is not None:
        try:
            memo.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write_text(memo, json.dumps({"path": str(path), "stat": key, "sha256": digest}))
        except OSError as exc:  # a read-only cache still works, it just rehashes
            log.debug("hash memo not written: %s", exc)
    return digest


def model_fingerprint(spec: ModelSpec, memo_dir: Path | None = None) -> str:
    """Hash of what the exported graph depends on: the weights and the architecture config."""
    weights = sorted(
        p
        for p in spec.transformer_dir.iterdir()
        if p.suffix == ".safetensors" or (p.name.startswith("pytorch_model") and p.suffix == ".bin")
    )
    if not weights:
        raise ExportInvalidError(f"{spec.transformer_dir}: no weights file")
    h = hashlib.sha256(f"format={EXPORT_FORMAT}\n".encode())
    for path in [*weights, spec.transformer_dir / "config.json"]:
        h.update(f"{path.name}={file_sha256(path, memo_dir)}\n".encode())
    return h.hexdigest()


def export_folder(cache_dir: Path, label: str, fingerprint: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("._") or "model"
    return Path(cache_dir) / "onnx" / f"{safe}-{fingerprint[:16]}"


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _stat_key(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


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
        raise ExportInvalidError(f"{path.name}: probe embedding differs from the one at export")
    return encoder


def _commit(tmp: Path, target: Path, spec: ModelSpec, model_name: str, backend: str) -> None:
    """Rename a verified temp file into place, then write its sidecar (the completion mark)."""
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


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.sum(a * b, axis=1)))


def export_fp32(spec: ModelSpec, target: Path, model_name: str) -> None:
    """torch.onnx.export of the transformer, fused by onnxruntime's BERT optimizer, verified."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(spec.folder), device="cpu")
    if int(model.max_seq_length) != spec.max_seq_length:
        raise ExportInvalidError(f"max_seq_length {model.max_seq_length} != {spec.max_seq_length}")
    # The reference vectors come from the unmodified model, before the attention switch below.
    reference = model.encode(CHECK_TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    module = model[0]
    auto_model = getattr(module, "auto_model", None) or module.model
    if hasattr(auto_model, "set_attn_implementation"):
        # The eager attention graph is the one onnxruntime's fusions turn into one Attention op.
        auto_model.set_attn_implementation("eager")
    auto_model.eval()
    sample = model.preprocess(["a short text", "a longer text, so that the batch has padding"])
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class LastHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = auto_model

        def forward(self, *inputs):
            return self.model(**dict(zip(names, inputs))).last_hidden_state

    raw, fused = _tmp_path(target), _tmp_path(target)
    try:
        axes = {n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]}
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes about shapes: the check below decides
            torch.onnx.export(
                LastHidden().eval(),
                tuple(sample[n] for n in names),
                str(raw),
                dynamo=False,  # the torch.export path needs onnxscript, which is not installed
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
            )
        final = _fuse(raw, fused, auto_model.config) or raw
        encoder = OnnxEncoder(spec, make_session(final), model_name, "onnx")
        got = encoder.encode(CHECK_TEXTS, batch_size=len(CHECK_TEXTS))
        if (cos := _min_cosine(got, reference)) < FP32_MIN_COSINE:
            raise ExportInvalidError(f"export differs from sentence-transformers (cos {cos:.6f})")
        _commit(final, target, spec, model_name, "onnx")
    finally:
        raw.unlink(missing_ok=True)
        fused.unlink(missing_ok=True)


def _fuse(raw: Path, fused: Path, config) -> Path | None:
    """Attention/LayerNorm/Gelu fusion for BERT-like graphs; None keeps the plain export."""
    if getattr(config, "model_type", "") not in {"bert", "roberta", "distilbert", "xlm-roberta"}:
        return None
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        optimized = optimize_model(
            str(raw),
            model_type="bert",
            num_heads=int(config.num_attention_heads),
            hidden_size=int(config.hidden_size),
            opt_level=0,
        )
        optimized.save_model_to_file(str(fused))
        return fused
    except Exception as exc:  # fusion is an optimization: the unfused graph is still correct
        log.info("ONNX fusion skipped: %s", exc)
        return None


class _DropAll(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


@contextlib.contextmanager
def _quiet_root_logger():
    """The quantizer logs one line per tensor straight to the root logger; drop those lines.

    A filter on the root logger only sees records logged to it directly, not ones propagated
    from named loggers, so the rest of the program's logging is untouched.
    """
    root = logging.getLogger()
    drop = _DropAll()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


def quantize_int8(spec: ModelSpec, source: Path, target: Path, model_name: str) -> None:
    """Dynamic int8 (per-channel weights) from the fp32 export; no torch needed."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = _tmp_path(target)
    try:
        with _quiet_root_logger():
            quantize_dynamic(
                str(source),
                str(tmp),
                weight_type=QuantType.QInt8,
                per_channel=True,  # per-tensor scales lose too much (mean cosine ~0.93 vs ~0.99)
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        fp32 = OnnxEncoder(spec, make_session(source), model_name, "onnx")
        int8 = OnnxEncoder(spec, make_session(tmp), model_name, "onnx-int8")
        cos = _min_cosine(int8.encode(CHECK_TEXTS), fp32.encode(CHECK_TEXTS))
        if cos < INT8_MIN_COSINE:
            raise ExportInvalidError(f"int8 export is too far from fp32 (cos {cos:.4f})")
        _commit(tmp, target, spec, model_name, "onnx-int8")
    finally:
        tmp.unlink(missing_ok=True)


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
    encoder = _load_or_build(
        spec, export_folder(cache_dir, model_name, fingerprint), backend, model_name
    )
    _loaded[key] = encoder
    return encoder


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
        if backend == "onnx-int8":
            fp32 = folder / FILES["onnx"]
            try:
                open_verified(fp32, spec, model_name, "onnx")
            except ExportInvalidError:
                export_fp32(spec, fp32, model_name)
            quantize_int8(spec, fp32, target, model_name)
        else:
            export_fp32(spec, target, model_name)
        return open_verified(target, spec, model_name, backend)
