"""Ingestion: readers, chunk metadata, stable ids, incremental runs, prune, bad input."""

from __future__ import annotations

import json

import pytest
from conftest import minimal_pdf

from core.errors import EmptyStoreError, InputError
from core.settings import Settings
from ingest.chunking import chunk_document
from ingest.pipeline import default_roots, ingest_paths, store_stats, stored_files
from ingest.readers import read_file, split_front_matter
from ingest.store import open_store
from tools.search import Retriever


def test_front_matter_split_and_malformed_kept():
    meta, body = split_front_matter("---\ntitle: T\ntype: concept\n---\n# T\nbody")
    assert meta == {"title": "T", "type": "concept"} and body.startswith("# T")
    meta, body = split_front_matter("---\n: [bad\n---\ntext")
    assert meta == {} and "text" in body


def test_readers_html_drops_scripts_and_keeps_headings(docs_dir):
    result = read_file(docs_dir / "page.html", "page.html", 10**6)
    assert "alert" not in result.text and "color: red" not in result.text
    assert "## Rollback" in result.text and result.metadata["title"] == "Gamma page"


def test_reader_pdf_text(tmp_path):
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(minimal_pdf("Shadow deployment mirrors live traffic"))
    assert "Shadow deployment mirrors live traffic" in read_file(pdf, "doc.pdf", 10**6).text


def test_chunk_metadata_and_stable_ids():
    text = "# Guide\n\nIntro.\n\n## Data\n\nLabels text.\n\n### Labels\n\nMore about labels."
    fm = {"title": "Guide", "type": "framework", "stages": ["data_features"]}
    first = chunk_document(text, "framework/guide.md", fm, "h1", 350, 50)
    again = chunk_document(text, "framework/guide.md", fm, "h1", 350, 50)
    assert [c.id for c in first] == [c.id for c in again]
    sections = [c.metadata["section"] for c in first]
    assert sections == ["Guide", "Guide > Data", "Guide > Data > Labels"]
    for i, chunk in enumerate(first):
        meta = chunk.metadata
        assert meta["source"] == "framework/guide.md" and meta["doc_type"] == "framework"
        assert meta["chunk_index"] == i and meta["title"] == "Guide"
        assert chunk.id.startswith("framework/guide.md::") and meta["content_hash"][:12] in chunk.id


def test_heading_with_slash_stays_one_section_component():
    text = "# Online experiments and A/B testing\n\n## Why offline/online differ\n\nGaps."
    (chunk,) = chunk_document(text, "x.md", {}, "h", 350, 50)
    assert (
        chunk.metadata["section"]
        == "Online experiments and A/B testing > Why offline/online differ"
    )


def test_long_section_split_by_size_with_unknown_type():
    text = "# Big\n\n## Part\n\n" + " ".join(f"Sentence number {i} is here." for i in range(400))
    chunks = chunk_document(text, "big.md", {"type": "poem"}, "h", 120, 20)
    assert len(chunks) > 3
    assert all(c.metadata["doc_type"] == "other" for c in chunks)
    assert all(c.metadata["section"] == "Big > Part" for c in chunks)


def test_ingest_then_incremental_then_change_then_prune(docs_dir, make_settings, embedder):
    settings = make_settings()
    first = ingest_paths([docs_dir], settings, embedder=embedder)
    assert first.files_seen == 5 and first.ingested == 5 and not first.failed
    assert first.skipped == [str(docs_dir / "table.csv")]
    assert first.chunks_total == first.chunks_added > 0
    sources = set(store_stats(settings)["files"])
    assert sources == {"alpha.md", "beta.md", "notes.txt", "page.html", "sub/delta.md"}

    second = ingest_paths([docs_dir], settings, embedder=embedder)
    assert (second.unchanged, second.ingested, second.embedded) == (5, 0, 0)
    assert second.chunks_total == first.chunks_total

    (docs_dir / "beta.md").write_text("# Beta concept\n\n## Only section\n\nReplaced text.\n")
    third = ingest_paths([docs_dir], settings, embedder=embedder)
    assert third.ingested == 1 and third.unchanged == 4
    store = open_store(settings.store_dir, settings.collection)
    beta = store.collection.get(where={"source": "beta.md"}, include=["documents"])
    assert len(beta["ids"]) == 1 and "Replaced text." in beta["documents"][0]

    (docs_dir / "notes.txt").unlink()
    kept = ingest_paths([docs_dir], settings, embedder=embedder)
    assert "notes.txt" in stored_files(store)  # without --prune nothing is removed
    pruned = ingest_paths([docs_dir], settings, prune=True, embedder=embedder)
    assert "notes.txt" not in stored_files(store)
    assert pruned.chunks_total == kept.chunks_total - pruned.chunks_deleted
    manifest = json.loads((settings.store_dir / "manifest.json").read_text())
    assert set(manifest["sources"]) == {"alpha.md", "beta.md", "page.html", "sub/delta.md"}


def test_changed_chunk_settings_rechunk_unchanged_files(docs_dir, make_settings, embedder):
    first = ingest_paths([docs_dir], make_settings(), embedder=embedder)
    smaller = make_settings(chunk_size=24, chunk_overlap=4)
    again = ingest_paths([docs_dir], smaller, embedder=embedder)
    assert again.ingested == first.ingested == 5 and again.unchanged == 0
    assert again.chunks_total > first.chunks_total  # smaller chunks, and no stale ones left


def test_bad_inputs_reported_and_rest_ingested(tmp_path, make_settings, embedder):
    docs = tmp_path / "bad"
    docs.mkdir()
    (docs / "good.md").write_text("# Good\n\nA fine document about baselines.\n")
    (docs / "empty.md").write_text("")
    (docs / "binary.txt").write_bytes(b"\x00\x01\x02 binary blob")
    (docs / "latin.txt").write_bytes("Caf\xe9 recommendations r\xe9sum\xe9.".encode("latin-1"))
    (docs / "corrupt.pdf").write_bytes(b"%PDF-1.4\nthis is not a pdf at all")
    (docs / "huge.md").write_text("word " * 300_000)
    settings = make_settings(max_file_mb=1.0)
    report = ingest_paths([docs, tmp_path / "missing.md"], settings, embedder=embedder)
    reasons = {r["path"].rsplit("/", 1)[-1]: r["reason"] for r in report.failed}
    assert set(reasons) == {"empty.md", "binary.txt", "corrupt.pdf", "huge.md", "missing.md"}
    assert reasons["empty.md"] == "empty file"
    assert "binary" in reasons["binary.txt"] and "PDF" in reasons["corrupt.pdf"]
    assert "too large" in reasons["huge.md"] and "no such file" in reasons["missing.md"]
    assert report.ingested == 2  # good.md and latin.txt
    assert any("latin.txt" in w and "not valid UTF-8" in w for w in report.warnings)
    store = open_store(settings.store_dir, settings.collection)
    latin = store.collection.get(where={"source": "latin.txt"}, include=["documents"])
    assert "Café" in latin["documents"][0]


def test_reset_rebuilds_same_ids(docs_dir, make_settings, embedder):
    settings = make_settings()
    ingest_paths([docs_dir], settings, embedder=embedder)
    store = open_store(settings.store_dir, settings.collection)
    before = sorted(store.collection.get(include=[])["ids"])
    report = ingest_paths([docs_dir], settings, reset=True, embedder=embedder)
    store = open_store(settings.store_dir, settings.collection)
    assert report.ingested == 5 and sorted(store.collection.get(include=[])["ids"]) == before


def test_search_errors_empty_query_and_empty_store(make_settings, embedder):
    retriever = Retriever(make_settings(), embedder=embedder)
    with pytest.raises(InputError, match="empty"):
        retriever.search("   ")
    with pytest.raises(EmptyStoreError, match="mlsd ingest"):
        retriever.search("what is drift")


def test_search_modes_and_hit_fields(docs_dir, make_settings, embedder):
    settings = make_settings()
    ingest_paths([docs_dir], settings, embedder=embedder)
    retriever = Retriever(settings, embedder=embedder)
    for mode in ("hybrid", "dense", "bm25"):
        hits = retriever.search("population stability index drift", k=3, mode=mode)
        assert hits and hits[0].source == "beta.md", mode
        assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
        assert hits[0].section == "Beta concept > Drift detection"
        assert hits[0].title == "Beta concept" and hits[0].doc_type == "concept"


def test_bm25_index_follows_incremental_ingest(docs_dir, make_settings, embedder):
    settings = make_settings()
    ingest_paths([docs_dir], settings, embedder=embedder)
    retriever = Retriever(settings, embedder=embedder)
    assert not retriever.search("zygomorphic orchids", k=3, mode="bm25")
    (docs_dir / "orchid.md").write_text("# Orchids\n\nZygomorphic orchids attract bees.\n")
    ingest_paths([docs_dir], settings, embedder=embedder)
    hits = retriever.search("zygomorphic orchids", k=3, mode="bm25")
    assert hits and hits[0].source == "orchid.md"
    # a fresh process reads the on-disk BM25 cache, which must match the store too
    fresh = Retriever(settings, embedder=embedder).search("zygomorphic orchids", k=3, mode="bm25")
    assert fresh[0].chunk_id == hits[0].chunk_id


def test_default_ingest_with_prune_keeps_uploaded_files(
    docs_dir, tmp_path, make_settings, embedder
):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "my-notes.md").write_text("# My notes\n\nShadow mode first, then a canary.\n")
    settings = make_settings(corpus_dir=docs_dir, uploads_dir=uploads)
    assert default_roots(settings) == [docs_dir, uploads]
    ingest_paths(default_roots(settings), settings, embedder=embedder)
    report = ingest_paths(default_roots(settings), settings, prune=True, embedder=embedder)
    assert report.chunks_deleted == 0
    store = open_store(settings.store_dir, settings.collection)
    assert "my-notes.md" in stored_files(store)
    assert default_roots(make_settings(uploads_dir=tmp_path / "none")) == [Settings().corpus_dir]


def test_rubric_beside_the_documents_is_not_reported_as_skipped(docs_dir, make_settings, embedder):
    (docs_dir / "rubric.yaml").write_text("stages: []\n")
    settings = make_settings(rubric_path=docs_dir / "rubric.yaml")
    report = ingest_paths([docs_dir], settings, embedder=embedder)
    assert report.skipped == [str(docs_dir / "table.csv")]  # other unsupported files still are
    assert "rubric.yaml" not in store_stats(settings)["files"]


def test_chunk_table_keeps_hit_fields_and_rebuilds_an_older_cache(
    docs_dir, make_settings, embedder
):
    import pickle

    from tools.search import _fingerprint

    settings = make_settings()
    ingest_paths([docs_dir], settings, embedder=embedder)
    retriever = Retriever(settings, embedder=embedder)
    corpus = retriever.corpus()
    assert {key for meta in corpus.metas for key in meta} == {
        "source",
        "section",
        "title",
        "doc_type",
    }
    # a cache pickled by an older version (no version key) with the same chunk ids is rebuilt
    stale = type(corpus)(corpus.ids, ["stale"] * len(corpus.ids), corpus.metas)
    path = retriever._bm25_cache_path()
    path.write_bytes(pickle.dumps({"fingerprint": _fingerprint(corpus.ids), "corpus": stale}))
    fresh = Retriever(settings, embedder=embedder).corpus()
    assert "stale" not in fresh.docs and fresh.ids == corpus.ids
