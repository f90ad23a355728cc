"""Building the ONNX files: torch.onnx.export plus fusion (fp32), dynamic int8 quantization.

Each builder writes the path it is given and checks its result before returning: the fp32
graph must reproduce sentence-transformers (cosine >= 0.9999 on CHECK_TEXTS), the int8 graph
must stay close to the fp32 one. `ingest.onnx_cache` decides when to build and where, and
publishes the files. Building needs torch and sentence-transformers (fp32) or onnx (int8);
they are imported here, inside the builders, never on the load path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path

import numpy as np

from ingest.embed_onnx import ModelSpec, OnnxEncoder, make_session

log = logging.getLogger(__name__)

EXPORT_FORMAT = 2  # bump when the recipe below changes: older cached exports are then ignored
CHECK_TEXTS = [
    "How would you design the candidate generation stage of a video recommender?",
    "ml system design",
    "  Leading and trailing spaces, punctuation; numbers 1,234.5 and UPPER case.  ",
    "Feature stores keep offline training and online serving features consistent. " * 40,
    "",
]
FP32_MIN_COSINE = 0.9999  # the export must reproduce sentence-transformers
INT8_MIN_COSINE = 0.95  # quantization costs a little; less than this means a broken file


class ExportCheckError(RuntimeError):
    """A freshly built file does not embed like its reference."""


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.sum(a * b, axis=1)))


def export_fp32(spec: ModelSpec, out: Path, model_name: str) -> None:
    """torch.onnx.export of the transformer, fused by onnxruntime's BERT optimizer, checked."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(spec.folder), device="cpu")
    if int(model.max_seq_length) != spec.max_seq_length:
        raise ExportCheckError(f"max_seq_length {model.max_seq_length} != {spec.max_seq_length}")
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

    raw = out.with_name(out.name + ".raw")
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
        if not _fuse(raw, out, auto_model.config):
            os.replace(raw, out)
        encoder = OnnxEncoder(spec, make_session(out), model_name, "onnx")
        got = encoder.encode(CHECK_TEXTS, batch_size=len(CHECK_TEXTS))
        if (cos := _min_cosine(got, reference)) < FP32_MIN_COSINE:
            raise ExportCheckError(f"export differs from sentence-transformers (cos {cos:.6f})")
    finally:
        raw.unlink(missing_ok=True)


def _fuse(raw: Path, out: Path, config) -> bool:
    """Fuse BERT-like graphs and drop the attention mask; False keeps the plain export.

    onnxruntime's CPU MultiHeadAttention runs flash attention only without a padding mask, and
    the encoder never pads for a mask-free graph (each batch holds texts of one token length),
    so the mask is removed from the fused graph. Measured here: ~15% less time than the fused
    `Attention` op with a mask at 256 tokens.
    """
    if getattr(config, "model_type", "") not in {"bert", "roberta", "distilbert", "xlm-roberta"}:
        return False
    try:
        from onnxruntime.transformers.fusion_options import FusionOptions
        from onnxruntime.transformers.optimizer import optimize_model

        options = FusionOptions("bert")
        options.use_multi_head_attention = True
        optimized = optimize_model(
            str(raw),
            model_type="bert",
            num_heads=int(config.num_attention_heads),
            hidden_size=int(config.hidden_size),
            opt_level=0,
            optimization_options=options,
        )
        if not _drop_attention_mask(optimized.model.graph):
            return False
        optimized.save_model_to_file(str(out))
        return True
    except Exception as exc:  # fusion is an optimization: the unfused graph is still correct
        log.info("ONNX fusion skipped: %s", exc)
        return False


def _drop_attention_mask(graph) -> bool:
    """Detach the padding mask from the fused ops, prune what fed it, remove the input."""
    heads = [n for n in graph.node if n.op_type == "MultiHeadAttention"]
    if not heads:
        return False
    for node in graph.node:
        optional_mask_from = {"MultiHeadAttention": 4, "EmbedLayerNormalization": 7}
        start = optional_mask_from.get(node.op_type)
        if start is not None and len(node.input) > start:
            node.input[start] = ""  # an empty name is an absent optional input
            while node.input and not node.input[-1]:
                node.input.pop()
    while True:  # drop nodes whose outputs nobody reads any more
        used = {name for n in graph.node for name in n.input} | {o.name for o in graph.output}
        live = [n for n in graph.node if any(o in used for o in n.output if o)]
        if len(live) == len(graph.node):
            break
        del graph.node[:]
        graph.node.extend(live)
    used = {name for n in graph.node for name in n.input}
    if "attention_mask" in used:
        return False  # the mask still matters somewhere: keep the graph that takes it
    kept = [i for i in graph.input if i.name in used]
    del graph.input[:]
    graph.input.extend(kept)
    return True


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


def quantize_int8(spec: ModelSpec, source: Path, out: Path, model_name: str) -> None:
    """Dynamic int8 (per-channel weights) from the fp32 export, checked; no torch needed."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_root_logger():
        quantize_dynamic(
            str(source),
            str(out),
            weight_type=QuantType.QInt8,
            per_channel=True,  # per-tensor scales lose too much (mean cosine ~0.93 vs ~0.99)
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    fp32 = OnnxEncoder(spec, make_session(source), model_name, "onnx")
    int8 = OnnxEncoder(spec, make_session(out), model_name, "onnx-int8")
    if (cos := _min_cosine(int8.encode(CHECK_TEXTS), fp32.encode(CHECK_TEXTS))) < INT8_MIN_COSINE:
        raise ExportCheckError(f"int8 export is too far from fp32 (cos {cos:.4f})")
