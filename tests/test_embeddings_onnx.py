"""ONNX embedding backends: torch's vectors, cached and verified exports, fallback, precision."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, run_cli

from core.errors import ConfigError, StoreMismatchError
from core.settings import Settings
from ingest import onnx_cache
from ingest.embeddings import TorchEmbedder, build_embedder, load_embedder, model_label

MODEL = Settings().embed_model
TEXTS = [
    "How do I pick negatives for a two-tower retrieval model?",
    "ml system design",
    "",
    "   surrounded by whitespace   ",
    "Unicode: naïve café, 中文, emoji 🚀, math ∑ x² and a URL https://example.com/a?b=c",
    "A long passage about feature stores and training-serving skew. " * 60,  # > 256 tokens
    *[p.read_text(encoding="utf-8")[:1500] for p in sorted((ROOT / "corpus").rglob("*.md"))[:6]],
]


@pytest.fixture(scope="module")
def torch_embedder():
    return TorchEmbedder(MODEL)


@pytest.fixture(scope="module")
def onnx_embedder(onnx_model_cache):
    return build_embedder(MODEL, "onnx", str(onnx_model_cache))


@pytest.fixture(scope="module")
def int8_embedder(onnx_model_cache):
    return build_embedder(MODEL, "onnx-int8", str(onnx_model_cache))


def export_dir(cache: Path) -> Path:
    (folder,) = [p for p in (cache / "onnx").iterdir() if p.name.startswith(model_label(MODEL))]
    return folder


def test_onnx_vectors_match_torch(onnx_embedder, torch_embedder):
    got = onnx_embedder.encode(TEXTS)
    want = torch_embedder.encode(TEXTS)
    assert got.dtype == np.float32 and got.shape == want.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert np.min(np.sum(got * want, axis=1)) >= 0.9999


def test_batching_keeps_input_order(onnx_embedder):
    whole = onnx_embedder.encode(TEXTS, batch_size=64)
    small = onnx_embedder.encode(TEXTS, batch_size=3)
    single = np.vstack([onnx_embedder.encode([t]) for t in TEXTS])
    assert np.min(np.sum(whole * small, axis=1)) >= 0.9999
    assert np.min(np.sum(whole * single, axis=1)) >= 0.9999
    assert onnx_embedder.encode([]).shape == (0, 384)


def test_fused_graph_has_no_mask_and_batches_one_length(onnx_embedder, int8_embedder):
    for emb in (onnx_embedder, int8_embedder):
        assert "attention_mask" not in emb.input_names  # flash attention needs no mask
    lengths = [256, 12, 256, 40, 12, 256, 7, 40, 256, 256]
    batches = onnx_embedder.batches(lengths, batch_size=3)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(len(b) <= 3 and len({lengths[i] for i in b}) == 1 for b in batches)
    firsts = [lengths[b[0]] for b in batches]
    assert firsts == sorted(firsts, reverse=True)


@pytest.mark.slow  # exports with torch
def test_unfused_export_pads_and_still_matches_torch(monkeypatch, tmp_path, torch_embedder):
    from ingest import onnx_export

    monkeypatch.setattr(onnx_export, "_fuse", lambda raw, out, config: False)  # no fusion
    emb = build_embedder(MODEL, "onnx", str(tmp_path / "models"))
    assert emb.backend == "onnx" and "attention_mask" in emb.input_names
    got = emb.encode(TEXTS, batch_size=3)
    assert np.min(np.sum(got * torch_embedder.encode(TEXTS), axis=1)) >= 0.9999


def test_backends_report_what_they_are(onnx_embedder, int8_embedder, torch_embedder):
    assert (onnx_embedder.backend, int8_embedder.backend) == ("onnx", "onnx-int8")
    assert onnx_embedder.model_name == int8_embedder.model_name == torch_embedder.model_name
    assert onnx_embedder.model_name == model_label(MODEL)
    assert onnx_embedder.dim == int8_embedder.dim == torch_embedder.dim


def test_int8_is_close_to_fp32_but_not_the_same(int8_embedder, onnx_embedder):
    fp32, int8 = onnx_embedder.encode(TEXTS), int8_embedder.encode(TEXTS)
    cosines = np.sum(fp32 * int8, axis=1)
    assert cosines.mean() >= 0.97 and cosines.min() >= 0.95
    assert cosines.min() < 0.9999  # really quantized, not the fp32 file under another name


def test_second_load_reuses_the_cached_export(onnx_model_cache):
    folder = export_dir(onnx_model_cache)
    files = ["model.onnx", "model.onnx.json", "model-int8.onnx", "model-int8.onnx.json"]
    before = {name: (folder / name).stat().st_mtime_ns for name in files}
    built = dict(onnx_cache.exports_built)
    for backend in ("onnx", "onnx-int8"):
        assert build_embedder(MODEL, backend, str(onnx_model_cache)).backend == backend
    assert onnx_cache.exports_built == built
    assert {name: (folder / name).stat().st_mtime_ns for name in files} == before
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_loading_a_cached_export_does_not_import_torch(onnx_model_cache):
    code = (
        "import sys, json\n"
        "from ingest.embeddings import load_embedder\n"
        f"e = load_embedder({MODEL!r}, 'onnx', {str(onnx_model_cache)!r})\n"
        "v = e.encode(['feature store'])\n"
        "heavy = ('torch', 'sentence_transformers', 'transformers')\n"
        "print(json.dumps({'backend': e.backend, 'shape': list(v.shape),\n"
        "  'heavy': sorted(m for m in sys.modules if m.split('.')[0] in heavy)}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data == {"backend": "onnx", "shape": [1, 384], "heavy": []}


@pytest.fixture
def cache_copy(onnx_model_cache, tmp_path):
    """A private copy of the session's exports, free to be damaged."""
    target = tmp_path / "models"
    shutil.copytree(onnx_model_cache, target)
    return target


def test_truncated_int8_export_is_detected_and_rebuilt(cache_copy, int8_embedder):
    path = export_dir(cache_copy) / "model-int8.onnx"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    stale = path.with_name(".model-int8.onnx.99999.0badf00d.tmp")  # a killed build's leftover
    stale.write_bytes(b"partial")
    outdated, foreign = cache_copy / "onnx" / "m-00000000", cache_copy / "onnx" / "m-11111111"
    for folder in (outdated, foreign):
        folder.mkdir()
        (folder / "model.onnx").write_bytes(b"old")
    (outdated / "model.onnx.json").write_text(json.dumps({"format": 0}))  # an older recipe
    built = onnx_cache.exports_built["onnx-int8"]
    emb = build_embedder(MODEL, "onnx-int8", str(cache_copy))
    assert emb.backend == "onnx-int8" and not stale.exists()
    assert not outdated.exists() and foreign.exists()  # only what no code version reads
    assert onnx_cache.exports_built["onnx-int8"] == built + 1
    assert np.min(np.sum(emb.encode(TEXTS) * int8_embedder.encode(TEXTS), axis=1)) >= 0.999
    assert build_embedder(MODEL, "onnx-int8", str(cache_copy)).backend == "onnx-int8"
    assert onnx_cache.exports_built["onnx-int8"] == built + 1  # rebuilt once, then reused


@pytest.mark.slow  # re-exports with torch
def test_overwritten_bytes_and_unfinished_exports_are_rebuilt(cache_copy, onnx_embedder):
    folder = export_dir(cache_copy)
    path = folder / "model.onnx"
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = b"\x7f" * 4096  # same size, other weights
    path.write_bytes(bytes(data))
    with pytest.raises(onnx_cache.ExportInvalidError, match="hash"):
        onnx_cache.open_verified(path, onnx_embedder.spec, onnx_embedder.model_name, "onnx")
    (folder / "model-int8.onnx.json").unlink()  # as if killed before the sidecar was written
    built = dict(onnx_cache.exports_built)
    fp32 = build_embedder(MODEL, "onnx", str(cache_copy))
    int8 = build_embedder(MODEL, "onnx-int8", str(cache_copy))
    assert (fp32.backend, int8.backend) == ("onnx", "onnx-int8")
    assert onnx_cache.exports_built["onnx"] == built["onnx"] + 1
    assert onnx_cache.exports_built["onnx-int8"] == built["onnx-int8"] + 1
    assert np.min(np.sum(fp32.encode(TEXTS) * onnx_embedder.encode(TEXTS), axis=1)) >= 0.9999


def test_fingerprint_follows_weights_not_location(tmp_path):
    from ingest.embed_onnx import read_model_spec

    original = read_model_spec(Path(MODEL))
    copy = tmp_path / "model"
    shutil.copytree(MODEL, copy)
    memo = tmp_path / "hashes"
    fingerprint = onnx_cache.model_fingerprint(original, memo)
    assert onnx_cache.model_fingerprint(read_model_spec(copy), memo) == fingerprint
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # new weights, same size
    weights.write_bytes(bytes(data))
    assert onnx_cache.model_fingerprint(read_model_spec(copy), memo) != fingerprint


@pytest.mark.slow  # two processes export with torch at once
def test_concurrent_first_use_builds_once(tmp_path):
    cache = tmp_path / "models"
    code = (
        "import json\n"
        "from ingest import onnx_cache\n"
        "from ingest.embeddings import build_embedder\n"
        f"e = build_embedder({MODEL!r}, 'onnx-int8', {str(cache)!r})\n"
        "print(json.dumps({'backend': e.backend, 'built': onnx_cache.exports_built}))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    reports = [json.loads(p.communicate(timeout=600)[0].strip().splitlines()[-1]) for p in procs]
    assert [r["backend"] for r in reports] == ["onnx-int8", "onnx-int8"]
    assert sum(r["built"]["onnx"] for r in reports) == 1  # the lock: one builds, one waits
    assert sum(r["built"]["onnx-int8"] for r in reports) == 1
    assert not [p for p in export_dir(cache).iterdir() if p.name.endswith((".tmp", ".raw"))]


def test_garbage_sidecar_is_rebuilt_not_trusted(cache_copy):
    folder = export_dir(cache_copy)
    (folder / "model-int8.onnx.json").write_text("{not json")
    built = onnx_cache.exports_built["onnx-int8"]
    assert build_embedder(MODEL, "onnx-int8", str(cache_copy)).backend == "onnx-int8"
    assert onnx_cache.exports_built["onnx-int8"] == built + 1
    json.loads((folder / "model-int8.onnx.json").read_text())


def test_fallback_to_torch_when_onnxruntime_fails(monkeypatch, onnx_model_cache, caplog):
    def broken_session(model):
        raise RuntimeError("onnxruntime: injected failure")

    monkeypatch.setattr(onnx_cache, "make_session", broken_session)
    with caplog.at_level(logging.WARNING, logger="ingest.embeddings"):
        emb = build_embedder(MODEL, "onnx", str(onnx_model_cache))
    assert emb.backend == "torch"
    warnings = [r for r in caplog.records if r.name.startswith("ingest")]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert (
        "injected failure" in warnings[0].getMessage() and "using torch" in warnings[0].getMessage()
    )
    assert emb.encode(["still works"]).shape == (1, 384)


def test_fallback_to_torch_when_onnxruntime_is_missing(monkeypatch, onnx_model_cache, caplog):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    with caplog.at_level(logging.WARNING, logger="ingest.embeddings"):
        emb = build_embedder(MODEL, "onnx-int8", str(onnx_model_cache))
    assert emb.backend == "torch"
    assert "onnx-int8 embedding backend unavailable" in caplog.text


def test_unknown_backend_is_a_config_error():
    with pytest.raises(ConfigError, match="onnx, onnx-int8, torch"):
        build_embedder(MODEL, "tensorflow")


def test_load_embedder_shares_one_session_across_cache_dirs(onnx_model_cache, tmp_path):
    first = load_embedder(MODEL, "onnx", str(onnx_model_cache))
    built = dict(onnx_cache.exports_built)
    assert load_embedder(MODEL, "onnx", str(tmp_path / "elsewhere")) is first
    assert onnx_cache.exports_built == built


def test_int8_store_refuses_fp32_queries(make_settings, docs_dir, onnx_model_cache):
    from ingest.pipeline import ingest_paths
    from tools.search import Retriever

    settings = make_settings(embed_backend="onnx-int8", model_cache_dir=onnx_model_cache)
    int8 = build_embedder(MODEL, "onnx-int8", str(onnx_model_cache))
    assert not ingest_paths([docs_dir], settings, embedder=int8).failed
    assert Retriever(settings, embedder=int8).search("business objective", k=2)
    fp32 = build_embedder(MODEL, "onnx", str(onnx_model_cache))
    with pytest.raises(StoreMismatchError, match="onnx-int8.*--reset"):
        Retriever(settings, embedder=fp32).search("business objective", k=2, mode="dense")


def test_onnx_and_torch_stores_are_interchangeable(
    make_settings, docs_dir, onnx_embedder, torch_embedder
):
    from ingest.pipeline import ingest_paths
    from tools.search import Retriever

    settings = make_settings(embed_backend="onnx")
    assert not ingest_paths([docs_dir], settings, embedder=onnx_embedder).failed
    by_onnx = Retriever(settings, embedder=onnx_embedder).search("objectives", k=3, mode="dense")
    by_torch = Retriever(settings, embedder=torch_embedder).search("objectives", k=3, mode="dense")
    assert [h.chunk_id for h in by_onnx] == [h.chunk_id for h in by_torch]


def test_cli_precision_mismatch_end_to_end(tmp_path, onnx_model_cache):
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "tests" / "fixtures" / "docs", docs)
    store = str(tmp_path / "store")
    env = {"MLSD_MODEL_CACHE_DIR": str(onnx_model_cache)}
    int8_env = {**env, "MLSD_EMBED_BACKEND": "onnx-int8"}
    built = run_cli("ingest", str(docs), "--store", store, "--json", env=int8_env)
    assert built.returncode == 0, built.stderr
    stats = run_cli("stats", "--store", store, "--json", env=env)
    assert json.loads(stats.stdout)["backend"] == "onnx-int8"

    refused = run_cli("search", "objectives", "--store", store, "--json", env=env)
    assert refused.returncode == 1 and refused.stdout == ""
    assert "onnx-int8" in refused.stderr and "mlsd ingest --reset" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert run_cli("search", "objectives", "--store", store, env=int8_env).returncode == 0

    rebuilt = run_cli("ingest", str(docs), "--store", store, "--reset", "--json", env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    found = run_cli("search", "objectives", "--store", store, "--json", env=env)
    assert found.returncode == 0 and json.loads(found.stdout)
    refused = run_cli("search", "objectives", "--store", store, env=int8_env)
    assert refused.returncode == 1 and "mlsd ingest --reset" in refused.stderr
