"""Hybrid fusion (tools/fusion.py): the BM25 gate, chunks missing from one list, determinism,
and the chunk-table cache that loads without unpickling."""

from __future__ import annotations

import json
import pickle
import random
from pathlib import Path

import numpy as np
import pytest

from tools.bm25 import BM25Index
from tools.fusion import FusionParams, dense_share, fuse, gated, normalise, rrf

FLAT_DENSE = [("a", 0.16), ("b", 0.15), ("c", 0.14), ("d", 0.13), ("rare", 0.11)]
STANDOUT_BM25 = [("rare", 7.77), ("b", 3.1), ("a", 2.9), ("c", 2.0)]


def test_gate_ranks_a_standout_lexical_hit_first_over_a_flat_dense_list():
    no_gate = FusionParams(alpha=0.7, gate_ratio=0.0)
    assert fuse(FLAT_DENSE, STANDOUT_BM25, no_gate)[0][0] != "rare"  # dense outvotes it
    gate = FusionParams(alpha=0.7, gate_ratio=2.0)
    ranked = fuse(FLAT_DENSE, STANDOUT_BM25, gate)
    assert ranked[0][0] == "rare"
    assert [cid for cid, _ in ranked[1:]] == [
        c for c, _ in fuse(FLAT_DENSE, STANDOUT_BM25, no_gate) if c != "rare"
    ]  # the rest keeps its order
    assert ranked[0][1] >= ranked[1][1]  # scores stay non-increasing


def test_gate_stays_shut_when_the_best_bm25_hit_is_not_far_ahead():
    close = [("rare", 3.5), ("b", 3.1), ("a", 2.9)]
    assert gated(close, 2.0) is None
    assert gated(STANDOUT_BM25, 2.0) == "rare"
    assert gated([("only", 1.2)], 2.0) == "only"  # one lexical match: far above nothing
    assert gated(STANDOUT_BM25, 0.0) is None  # 0 turns the gate off
    assert gated([], 2.0) is None


def test_a_chunk_missing_from_one_list_gets_that_lists_floor_or_its_exact_score():
    dense = [("both", 0.60), ("dense_only", 0.62), ("x", 0.30)]
    bm25 = [("both", 5.0), ("bm25_only", 4.0), ("y", 1.0)]
    params = FusionParams(alpha=0.5, gate_ratio=0.0)
    ranked = dict(fuse(dense, bm25, params))
    # dense_only is imputed the BM25 list's floor (1.0) -> normalised 0; bm25_only the
    # dense floor (0.30) -> 0: neither can beat the chunk both lists rank high
    assert max(ranked, key=ranked.get) == "both"
    assert ranked["dense_only"] == pytest.approx(0.5 * 1.0 + 0.5 * 0.0)
    assert ranked["bm25_only"] == pytest.approx(0.5 * 0.0 + 0.5 * 0.75)
    # an exact lookup replaces the imputed floor: dense_only turns out to hold 4.5
    exact = dict(fuse(dense, bm25, params, bm25_of=lambda cid: 4.5))
    assert exact["dense_only"] == pytest.approx(0.5 * 1.0 + 0.5 * 0.875)
    assert exact["dense_only"] > ranked["dense_only"]


def test_fusion_is_deterministic_and_breaks_ties_by_chunk_id():
    dense = [(f"c{i}", 0.5 + 0.01 * (i % 3)) for i in range(20)]
    bm25 = [(f"c{i}", 2.0 + (i % 4)) for i in range(20)]
    shuffled = dense[:]
    random.Random(7).shuffle(shuffled)
    for params in (FusionParams(), FusionParams(norm="zscore"), FusionParams(gate_ratio=1.1)):
        first = fuse(dense, bm25, params)
        assert first == fuse(dense, bm25, params)
        assert first == fuse(shuffled, bm25, params)  # scores decide, not input order
    ties = fuse(
        [(f"c{i}", 0.5) for i in range(20)], [(f"c{i}", 2.0) for i in range(20)], FusionParams()
    )
    assert [cid for cid, _ in ties] == sorted(f"c{i}" for i in range(20))


def test_normalise_maps_a_flat_list_to_zero_and_rrf_stays_available():
    assert normalise([0.2, 0.2], "minmax") == [0.0, 0.0]
    assert normalise([0.2, 0.2], "zscore") == [0.0, 0.0]
    assert normalise([1.0, 3.0], "minmax") == [0.0, 1.0]
    assert normalise([1.0, 3.0], "zscore") == [-1.0, 1.0]
    params = FusionParams(method="rrf", rrf_k=40)
    assert fuse(FLAT_DENSE, STANDOUT_BM25, params) == rrf(FLAT_DENSE, STANDOUT_BM25, params)
    top = rrf(FLAT_DENSE, STANDOUT_BM25, params)[0]  # a: dense 1st, BM25 3rd; b: 2nd and 2nd
    assert top == ("a", pytest.approx(1 / 41 + 1 / 43))


def test_coverage_is_the_idf_weighted_share_of_query_words_a_chunk_holds():
    index = BM25Index(
        [
            "feature store for online serving",
            "feature pipelines and backfills",
            "feature drift alerts",
            "online serving latency budget",
        ]
    )
    assert index.coverage("feature store", 0) == pytest.approx(1.0)
    assert index.coverage("the feature store", 0) == pytest.approx(1.0)  # stopwords ignored
    # "backfill" is rarer than "feature": holding it covers more of the query
    assert index.coverage("feature backfills", 1) == pytest.approx(1.0)
    assert index.coverage("feature backfills", 0) < 0.5 < index.coverage("backfills feature", 1)
    partial = index.coverage("feature store", 2)
    assert 0.0 < partial < 0.5  # holds "feature" (in 3 chunks), not "store" (in 1)
    assert index.coverage("zebra store", 0) < index.coverage("serving store", 0)  # unknown word
    assert index.coverage("the of and", 0) == 0.0  # nothing to cover
    assert index.coverage("feature store", 3) == 0.0


def test_dense_share_moves_from_alpha_uncovered_to_alpha_with_coverage():
    fixed = FusionParams(alpha=0.35)
    assert dense_share(fixed, 0.0) == dense_share(fixed, None) == 0.35
    adaptive = FusionParams(alpha=0.35, alpha_uncovered=0.7)
    assert dense_share(adaptive, 1.0) == pytest.approx(0.35)
    assert dense_share(adaptive, 0.0) == pytest.approx(0.7)
    assert dense_share(adaptive, 0.5) == pytest.approx(0.525)
    assert dense_share(adaptive, None) == 0.35  # no coverage given: the fixed share
    assert dense_share(adaptive, 1.7) == pytest.approx(0.35)  # clamped


def test_low_coverage_lets_meaning_decide_and_full_coverage_lets_words_decide():
    dense = [("paraphrase", 0.70), ("keyword", 0.40), ("other", 0.30)]
    bm25 = [("keyword", 6.0), ("paraphrase", 3.0), ("other", 1.0)]
    params = FusionParams(alpha=0.35, alpha_uncovered=0.7, gate_ratio=0.0)
    assert fuse(dense, bm25, params, coverage=1.0)[0][0] == "keyword"
    assert fuse(dense, bm25, params, coverage=0.1)[0][0] == "paraphrase"
    assert fuse(dense, bm25, params) == fuse(dense, bm25, FusionParams(alpha=0.35, gate_ratio=0))


# -- a small real store: one passage holds a rare phrase -------------------------------------
FILLER = [
    "Recommendation systems rank items for each user from many candidate signals.",
    "Retrieval narrows millions of items to a few hundred before ranking them.",
    "Ranking models score each candidate with user, item and context features.",
    "Offline metrics such as recall and NDCG are checked before an online test.",
]


def _write_docs(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, line in enumerate(FILLER):
        (folder / f"note{i}.md").write_text(f"# Note {i}\n\n{line} {line}\n")
    (folder / "towers.md").write_text(
        "# Candidate generation\n\nWe embed users and items with a two-tower architecture and "
        "look up the nearest items.\n"
    )


@pytest.fixture(scope="module")
def small_store(tmp_path_factory, embedder):
    from core.settings import Settings
    from ingest.pipeline import ingest_paths

    base = tmp_path_factory.mktemp("fusion_store")
    _write_docs(base / "docs")
    settings = Settings(store_dir=base / "store", model_cache_dir=base / "models")
    report = ingest_paths([base / "docs"], settings, embedder=embedder)
    assert not report.failed
    return settings


def test_hybrid_search_ranks_the_passage_with_the_rare_phrase_first(small_store, embedder):
    from tools.search import Retriever

    retriever = Retriever(small_store, embedder=embedder)
    first = retriever.search("two-tower architecture", k=3, mode="hybrid")
    assert first[0].source == "towers.md"
    assert first[0].bm25_score is not None and first[0].bm25_score > 0
    again = Retriever(small_store, embedder=embedder).search("two-tower architecture", 3)
    assert [h.chunk_id for h in again] == [h.chunk_id for h in first]
    assert [h.score for h in again] == [h.score for h in first]


def test_rrf_setting_switches_the_fusion(small_store, embedder):
    from tools.search import Retriever

    settings = small_store.model_copy(update={"hybrid_fusion": "rrf"})
    retriever = Retriever(settings, embedder=embedder)
    query, depth = "ranking candidates", settings.hybrid_depth
    hits = retriever.search(query, k=3)
    expected = rrf(
        retriever.dense(query, depth),
        retriever.bm25(query, depth),
        FusionParams.from_settings(settings),
    )
    assert [(h.chunk_id, h.score) for h in hits] == [
        (cid, pytest.approx(score, abs=1e-6)) for cid, score in expected[:3]
    ]


def test_hybrid_dense_share_follows_the_query_coverage_of_the_best_bm25_chunk(
    small_store, embedder
):
    from tools.search import Retriever

    settings = small_store.model_copy(update={"hybrid_alpha_uncovered": 0.7, "hybrid_alpha": 0.35})
    retriever = Retriever(settings, embedder=embedder)
    query, depth = "towers of nearest neighbours for users", settings.hybrid_depth
    corpus = retriever.corpus()
    bm25 = retriever.bm25(query, depth, corpus)
    coverage = corpus.bm25.coverage(query, corpus.position[bm25[0][0]])
    assert 0.0 < coverage < 1.0
    scores = corpus.bm25.scores(query)
    expected = fuse(
        retriever.dense(query, depth),
        bm25,
        FusionParams.from_settings(settings),
        lambda cid: float(scores[corpus.position[cid]]),
        coverage,
    )
    hits = retriever.search(query, k=3)
    assert [(h.chunk_id, h.score) for h in hits] == [
        (cid, pytest.approx(score, abs=1e-6)) for cid, score in expected[:3]
    ]


def test_chunk_table_cache_loads_without_unpickling(small_store, embedder, monkeypatch):
    from tools.chunk_table import CORPUS_CACHE_VERSION
    from tools.search import Retriever

    built = Retriever(small_store, embedder=embedder).corpus()
    manifest = Retriever(small_store, embedder=embedder)._bm25_cache_path()
    entry = json.loads(manifest.read_text())
    assert entry["version"] == CORPUS_CACHE_VERSION

    def no_pickle(*args, **kwargs):
        raise AssertionError("the cache must not unpickle")

    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    loaded = Retriever(small_store, embedder=embedder).corpus()
    assert loaded is not built and loaded.ids == built.ids and loaded.docs == built.docs
    assert isinstance(loaded.bm25.data, np.memmap)  # arrays are mapped, not read and copied
    query = "two-tower architecture"
    assert np.allclose(loaded.bm25.scores(query), built.bm25.scores(query))
    assert loaded.bm25.idf("tower") == pytest.approx(built.bm25.idf("tower"))


def test_an_older_cache_or_a_broken_folder_is_rebuilt(small_store, embedder):
    from tools.search import Retriever

    retriever = Retriever(small_store, embedder=embedder)
    corpus = retriever.corpus()
    manifest = retriever._bm25_cache_path()
    legacy = manifest.with_suffix(".pkl")
    legacy.write_bytes(pickle.dumps({"version": 2, "corpus": None}))
    entry = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**entry, "version": entry["version"] - 1}))
    fresh = Retriever(small_store, embedder=embedder).corpus()
    assert fresh.ids == corpus.ids
    assert json.loads(manifest.read_text()) == entry  # rewritten at this version
    assert not legacy.exists()  # the pre-JSON pickle is cleaned up
    (manifest.with_name(entry["folder"]) / "bm25" / "data.npy").unlink()  # half-deleted
    again = Retriever(small_store, embedder=embedder).corpus()
    assert again.ids == corpus.ids and again.bm25.scores("two-tower").any()


SEEDS = Path("/work/shared/seeds")


@pytest.mark.slow
@pytest.mark.skipif(not SEEDS.is_dir(), reason="dev-only check: /work/shared/seeds is absent")
def test_seed_articles_two_tower_phrase_is_rank_one(tmp_path, embedder):
    """The issue's example: the one seed chunk with the phrase must lead the hybrid list."""
    from core.settings import Settings
    from ingest.pipeline import ingest_paths
    from tools.search import Retriever

    settings = Settings(store_dir=tmp_path / "store", model_cache_dir=tmp_path / "models")
    ingest_paths([SEEDS], settings, embedder=embedder)
    hits = Retriever(settings, embedder=embedder).search("two-tower architecture", 5)
    assert "two-tower architecture" in hits[0].text.lower()
