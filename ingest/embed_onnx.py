"""sentence-transformers inference without torch: `tokenizers` + onnxruntime + numpy pooling.

Mirrors what sentence-transformers does for a model made of Transformer -> mean Pooling
(-> Normalize): strip each text, tokenize with truncation at the model's `max_seq_length`, run
the transformer on batches, average the token vectors under the attention mask, L2-normalize.
Batches are padded only for a graph that takes a mask; the fused export does not (see
`ingest.onnx_export`), so its batches group texts of equal token length. The graph is built
by `ingest.onnx_export` and cached by `ingest.onnx_cache`; this module only reads the model
folder's files and never imports torch.
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


class UnsupportedModelError(ValueError):
    """The model folder is not a Transformer -> mean Pooling (-> Normalize) pipeline."""


@dataclass(frozen=True)
class ModelSpec:
    """What inference needs from a sentence-transformers model folder."""

    folder: Path  # the model folder (modules.json lives here)
    transformer_dir: Path  # config.json, weights and tokenizer.json
    max_seq_length: int
    do_lower_case: bool


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UnsupportedModelError(f"{path}: unreadable ({exc})") from exc


def read_model_spec(folder: Path) -> ModelSpec:
    """Check the folder holds a pipeline we reproduce exactly, and read its settings."""
    folder = Path(folder)
    modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise UnsupportedModelError(f"{folder}: modules {kinds} (need Transformer, Pooling)")
    transformer_dir = folder / modules[0].get("path", "")
    pooling = _read_json(folder / modules[1].get("path", "") / "config.json")
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode_") and v is True}
    if modes != {"pooling_mode_mean_tokens"}:
        raise UnsupportedModelError(f"{folder}: pooling {sorted(modes)} (need mean tokens)")
    prompts = _read_json(folder / "config_sentence_transformers.json")
    if prompts.get("default_prompt_name"):
        raise UnsupportedModelError(f"{folder}: a default prompt is not supported")
    if not (transformer_dir / "tokenizer.json").is_file():
        raise UnsupportedModelError(f"{transformer_dir}: no tokenizer.json (fast tokenizer)")
    st_config = _read_json(transformer_dir / "sentence_bert_config.json")
    max_len = st_config.get("max_seq_length")
    if not max_len:  # sentence-transformers' fallback: the tokenizer's limit, capped by the model
        tok_limit = _read_json(transformer_dir / "tokenizer_config.json").get("model_max_length")
        positions = _read_json(transformer_dir / "config.json").get("max_position_embeddings")
        max_len = min(int(x) for x in (tok_limit, positions, 10**6) if x)
    return ModelSpec(
        folder=folder,
        transformer_dir=transformer_dir,
        max_seq_length=int(max_len),
        do_lower_case=bool(st_config.get("do_lower_case", False)),
    )


def make_session(model: Path | bytes):
    """An onnxruntime CPU session running each call on one thread (see `OnnxEncoder.encode`).

    Graph-level fusions were applied at export time.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: ORT's warnings are about graph internals
    options.intra_op_num_threads = 1
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def mean_pool_normalize(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Masked mean over tokens, then unit length (the eps values are sentence-transformers')."""
    weights = mask[..., None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


_NUMPY_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}
BATCH_TOKENS = 4096  # rows x length per run: big enough for efficient matmuls, small enough to
# give every core a batch (256-token texts: 16 per batch)


def worker_count() -> int:
    """CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


class OnnxEncoder:
    """An `Embedder` backed by an onnxruntime session (thread-safe: ORT sessions are)."""

    def __init__(self, spec: ModelSpec, session, model_name: str, backend: str) -> None:
        from tokenizers import Tokenizer

        self.model_name = model_name
        self.backend = backend
        self.spec = spec
        self._session = session
        tokenizer = Tokenizer.from_file(str(spec.transformer_dir / "tokenizer.json"))
        padding = tokenizer.padding or {}
        self._pad_id = int(padding.get("pad_id", tokenizer.token_to_id("[PAD]") or 0))
        # Padding is done per batch below (after sorting by length), so only truncate here.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=spec.max_seq_length)
        self._tokenizer = tokenizer
        self._inputs = {i.name: _NUMPY_TYPES.get(i.type, np.int64) for i in session.get_inputs()}
        self.input_names = sorted(self._inputs)
        if "input_ids" not in self._inputs:
            raise UnsupportedModelError("ONNX graph lacks the input_ids input")
        # A graph without a mask input must never see padding: its batches hold equal lengths.
        self._pads = "attention_mask" in self._inputs
        self._output = session.get_outputs()[0].name
        self.dim = int(self._run([[self._pad_id]], [[0]]).shape[1])

    def _run(self, ids_rows: list[list[int]], type_rows: list[list[int]]) -> np.ndarray:
        width = max(len(row) for row in ids_rows)
        if not self._pads and any(len(row) != width for row in ids_rows):
            raise ValueError("a mask-free graph needs a batch of one token length")
        ids = np.full((len(ids_rows), width), self._pad_id, dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros_like(ids)
        for row, (tokens, kinds) in enumerate(zip(ids_rows, type_rows)):
            ids[row, : len(tokens)] = tokens
            types[row, : len(kinds)] = kinds
            mask[row, : len(tokens)] = 1
        arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        feed = {name: arrays[name].astype(kind, copy=False) for name, kind in self._inputs.items()}
        hidden = self._session.run([self._output], feed)[0]
        return mean_pool_normalize(hidden, mask)

    def batches(self, lengths: list[int], batch_size: int) -> list[list[int]]:
        """Row indices per batch, longest texts first (like sentence-transformers).

        With a mask input, consecutive texts share a batch and are padded. Without one, a batch
        only holds texts of the same length: there are at most max_seq_length such groups, and
        long documents, truncated to max_seq_length, fill whole batches.
        """
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        if self._pads:
            size = max(1, batch_size)
            return [order[i : i + size] for i in range(0, len(order), size)]
        batches: list[list[int]] = []
        for i in order:
            size = max(1, min(batch_size, BATCH_TOKENS // max(1, lengths[i])))
            if batches and len(batches[-1]) < size and lengths[batches[-1][0]] == lengths[i]:
                batches[-1].append(i)
            else:
                batches.append([i])
        return batches

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Unit-normalized float32 vectors, one row per text, in input order."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prepared = [str(t).strip() for t in texts]
        if self.spec.do_lower_case:
            prepared = [t.lower() for t in prepared]
        encodings = self._tokenizer.encode_batch(prepared)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        batches = self.batches([len(e.ids) for e in encodings], batch_size)

        def run(rows: list[int]) -> None:
            ids = [encodings[i].ids for i in rows]
            out[rows] = self._run(ids, [encodings[i].type_ids for i in rows])

        # One single-threaded run per core, batches in parallel (ORT releases the GIL): no
        # per-operator thread synchronisation, so small batches scale and a busy machine
        # wastes nothing on spinning threads (~20% less time than 2 threads per run here).
        workers = min(worker_count(), len(batches))
        pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
        try:
            done = pool.map(run, batches) if pool else map(run, batches)
            if progress:
                from tqdm import tqdm

                done = tqdm(done, total=len(batches), desc="Embedding", unit="batch")
            for _ in done:
                pass
        finally:
            if pool is not None:
                pool.shutdown()
        return out
