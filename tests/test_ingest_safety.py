"""Issue 13, items 1-7 and part of 8: no typo deletes the library, no single file stops an
ingest, no label collides, a reset is atomic, a full disk leaves a readable store.

Generated inputs only (built in tmp_path); mocks only to inject faults.
"""

from __future__ import annotations

import json
import os
import tracemalloc

import pytest
from conftest import minimal_pdf, run_cli

from ingest import pipeline
from ingest.pipeline import ingest_paths, store_stats, stored_files
from ingest.rebuild import StoreWriteError
from ingest.store import open_store
from tools.search import Retriever


def _sources(settings) -> dict[str, dict]:
    store = open_store(settings.store_dir, settings.collection, settings.chroma_url)
    return stored_files(store) if store is not None else {}


def _ids(settings) -> list[str]:
    store = open_store(settings.store_dir, settings.collection, settings.chroma_url)
    return sorted(store.collection.get(include=[])["ids"])


def _note(folder, name: str, text: str):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


# -- 1. --prune removes only what it was asked about ------------------------------------------
def test_missing_path_is_a_usage_error_and_nothing_is_removed(docs_dir, make_settings, embedder):
    settings = make_settings()
    ingest_paths([docs_dir], settings, embedder=embedder)
    before = _ids(settings)
    typo = docs_dir.parent / "dosc"
    for extra in (["--prune"], []):
        result = run_cli("ingest", str(typo), "--store", str(settings.store_dir), *extra)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and str(typo) in lines[0] and "no such file" in lines[0]
    assert _ids(settings) == before


def test_prune_with_one_file_removes_nothing_else(docs_dir, make_settings, embedder):
    settings = make_settings()
    ingest_paths([docs_dir], settings, embedder=embedder)
    before = _ids(settings)
    report = ingest_paths([docs_dir / "alpha.md"], settings, prune=True, embedder=embedder)
    assert report.chunks_deleted == 0 and report.unchanged == 1
    assert _ids(settings) == before


def test_prune_only_under_the_folders_given(docs_dir, tmp_path, make_settings, embedder):
    other = tmp_path / "elsewhere"
    _note(other, "kept.md", "# Kept\n\nA note about shadow deployments outside the corpus.\n")
    settings = make_settings(corpus_dir=docs_dir, uploads_dir=tmp_path / "uploads")
    ingest_paths([docs_dir, other], settings, embedder=embedder)
    (docs_dir / "beta.md").unlink()
    (other / "kept.md").unlink()  # gone, but not under the folder this run names
    report = ingest_paths([docs_dir], settings, prune=True, embedder=embedder)
    sources = _sources(settings)
    assert "beta.md" not in sources and "kept.md" in sources and "alpha.md" in sources
    assert report.chunks_deleted > 0


def test_missing_corpus_folder_under_make_run_wipes_nothing(
    docs_dir, tmp_path, make_settings, embedder
):
    settings = make_settings(corpus_dir=docs_dir, uploads_dir=tmp_path / "uploads")
    ingest_paths(pipeline.default_roots(settings), settings, embedder=embedder)
    before = _ids(settings)
    gone = make_settings(corpus_dir=tmp_path / "unmounted", uploads_dir=tmp_path / "uploads")
    report = ingest_paths(pipeline.default_roots(gone), gone, prune=True, embedder=embedder)
    assert report.chunks_deleted == 0 and _ids(settings) == before
    assert [f["reason"] for f in report.failed] == ["no such file or directory"]


# -- 2. --reset is atomic ---------------------------------------------------------------------
def test_failed_reset_keeps_the_old_collection(docs_dir, make_settings, embedder, monkeypatch):
    settings = make_settings()
    ingest_paths([docs_dir], settings, embedder=embedder)
    before = _ids(settings)

    def crash(*args, **kwargs):
        raise RuntimeError("injected crash during the rebuild")

    monkeypatch.setattr(pipeline, "_add_chunks", crash)
    with pytest.raises(RuntimeError, match="injected"):
        ingest_paths([docs_dir], settings, reset=True, embedder=embedder)
    assert _ids(settings) == before
    hits = Retriever(settings, embedder=embedder).search("population stability index", k=1)
    assert hits and hits[0].source == "beta.md"
    store = open_store(settings.store_dir, settings.collection)
    assert [c.name for c in store.client.list_collections()] == [settings.collection]


def test_reset_that_stores_nothing_keeps_the_old_collection(
    docs_dir, tmp_path, make_settings, embedder
):
    settings = make_settings()
    ingest_paths([docs_dir], settings, embedder=embedder)
    before = _ids(settings)
    empty = tmp_path / "empty"
    empty.mkdir()
    report = ingest_paths([empty], settings, reset=True, embedder=embedder)
    assert any("--reset stored nothing" in w for w in report.warnings)
    assert _ids(settings) == before and report.chunks_total == len(before)


def test_readers_see_the_old_collection_during_a_reset_and_the_new_one_after(
    docs_dir, tmp_path, make_settings, embedder, monkeypatch
):
    settings = make_settings()
    ingest_paths([docs_dir], settings, embedder=embedder)
    reader = Retriever(settings, embedder=embedder)
    assert reader.search("population stability index", k=1)[0].source == "beta.md"
    fresh = tmp_path / "fresh"
    _note(fresh, "orchids.md", "# Orchids\n\nZygomorphic orchids attract carpenter bees.\n")
    seen_during: list = []
    real_add = pipeline._add_chunks

    def add_then_read(store, chunks, vectors, max_batch):
        real_add(store, chunks, vectors, max_batch)
        # the new collection holds everything now, but is not active yet
        seen_during.append({h.source for h in reader.search("drift orchids", k=10)})

    monkeypatch.setattr(pipeline, "_add_chunks", add_then_read)
    report = ingest_paths([fresh], settings, reset=True, embedder=embedder)
    assert report.ingested == 1
    assert seen_during and "orchids.md" not in seen_during[0] and "beta.md" in seen_during[0]
    after = {h.source for h in reader.search("drift orchids", k=10)}
    assert after == {"orchids.md"}
    assert store_stats(settings)["sources"] == 1


# -- 3. labels neither collide nor duplicate --------------------------------------------------
def test_same_file_names_in_two_folders_get_distinct_labels(tmp_path, make_settings, embedder):
    a = _note(tmp_path / "a", "notes.md", "# Notes\n\nCanary releases shift traffic slowly.\n")
    b = _note(tmp_path / "b", "notes.md", "# Notes\n\nFeature stores serve fresh aggregates.\n")
    settings = make_settings()
    first = ingest_paths([a, b], settings, embedder=embedder)
    assert first.ingested == 2 and not first.failed
    assert set(_sources(settings)) == {"a/notes.md", "b/notes.md"}
    again = ingest_paths([a, b], settings, embedder=embedder)
    assert again.unchanged == 2 and again.embedded == 0
    hits = Retriever(settings, embedder=embedder).search("canary traffic", k=1)
    assert hits[0].source == "a/notes.md"


def test_a_stored_file_keeps_its_label_through_another_root(docs_dir, make_settings, embedder):
    settings = make_settings()
    ingest_paths([docs_dir], settings, embedder=embedder)
    before = _ids(settings)
    labels = set(_sources(settings))
    assert any(label.startswith("sub/") for label in labels)  # relative to the folder given
    report = ingest_paths([docs_dir / "sub"], settings, embedder=embedder)
    assert report.unchanged == report.files_seen > 0 and report.embedded == 0
    assert _ids(settings) == before
    twice = ingest_paths([docs_dir / "sub", docs_dir], settings, embedder=embedder)
    assert twice.files_seen == len(labels) and _ids(settings) == before


def test_a_new_file_never_takes_the_label_of_another_stored_file(tmp_path, make_settings, embedder):
    a = _note(tmp_path / "a", "notes.md", "# Notes\n\nCanary releases shift traffic slowly.\n")
    b = _note(tmp_path / "b", "notes.md", "# Notes\n\nFeature stores serve fresh aggregates.\n")
    settings = make_settings()
    ingest_paths([a], settings, embedder=embedder)
    ingest_paths([b], settings, embedder=embedder)
    assert set(_sources(settings)) == {"notes.md", "b/notes.md"}


# -- 4. one read: hashed and parsed bytes are the same ----------------------------------------
def test_a_file_edited_during_ingest_is_stored_as_hashed(
    tmp_path, make_settings, embedder, monkeypatch
):
    path = _note(tmp_path / "d", "edit.md", "# Edit\n\nVersion one talks about canaries.\n")
    real = pipeline.file_fingerprint

    def fingerprint_then_edit(raw, *args, **kwargs):  # the user saves right after our read
        path.write_text("# Edit\n\nVersion two talks about feature stores.\n")
        return real(raw, *args, **kwargs)

    monkeypatch.setattr(pipeline, "file_fingerprint", fingerprint_then_edit)
    settings = make_settings()
    ingest_paths([path.parent], settings, embedder=embedder)
    monkeypatch.undo()
    store = open_store(settings.store_dir, settings.collection)
    docs = store.collection.get(include=["documents"])["documents"]
    assert any("Version one" in d for d in docs) and not any("Version two" in d for d in docs)
    rerun = ingest_paths([path.parent], settings, embedder=embedder)  # the edit is picked up
    assert rerun.ingested == 1


# -- 5. one bad file is one failed entry ------------------------------------------------------
def test_parser_and_splitter_exceptions_fail_one_file_each(
    tmp_path, make_settings, embedder, monkeypatch
):
    import pypdf
    from pypdf.errors import LimitReachedError

    docs = tmp_path / "d"
    _note(docs, "good.md", "# Good\n\nBaselines first, then a model.\n")
    _note(docs, "long-line.md", "# Long\n\n" + "word " * 500)
    for name in ("limit.pdf", "mutated.pdf", "broken.pdf"):
        (docs / name).write_bytes(minimal_pdf(name))
    faults = {
        b"limit.pdf": LimitReachedError("limit reached"),
        b"mutated.pdf": NotImplementedError("unsupported filter"),
        b"broken.pdf": AttributeError("'NullObject' has no attribute 'get'"),
    }
    real_reader = pypdf.PdfReader

    def faulty_reader(stream, *args, **kwargs):
        data = stream.getvalue()
        for marker, exc in faults.items():
            if marker in data:
                raise exc
        return real_reader(stream, *args, **kwargs)

    real_chunk = pipeline.chunk_document

    def faulty_chunk(text, source, *args, **kwargs):
        if source == "long-line.md":
            raise TimeoutError("RE module timed out")
        return real_chunk(text, source, *args, **kwargs)

    monkeypatch.setattr(pypdf, "PdfReader", faulty_reader)
    monkeypatch.setattr(pipeline, "chunk_document", faulty_chunk)
    report = ingest_paths([docs], make_settings(), embedder=embedder)
    reasons = {f["path"].rsplit("/", 1)[-1]: f["reason"] for f in report.failed}
    assert set(reasons) == {"limit.pdf", "mutated.pdf", "broken.pdf", "long-line.md"}
    assert "LimitReachedError" in reasons["limit.pdf"]
    assert "NotImplementedError" in reasons["mutated.pdf"]
    assert "AttributeError" in reasons["broken.pdf"]
    assert "TimeoutError" in reasons["long-line.md"]
    assert all("\n" not in r for r in reasons.values())
    assert report.ingested == 1


def test_file_name_with_invalid_utf8_is_a_failed_entry(tmp_path, make_settings):
    docs = tmp_path / "d"
    _note(docs, "good.md", "# Good\n\nBaselines first, then a model.\n")
    (docs / os.fsdecode(b"bad-\xff.md")).write_text("# Bad name\n\nText.\n")
    store = tmp_path / "store"
    result = run_cli("ingest", str(docs), "--store", str(store), "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["ingested"] == 1
    assert report["failed"] == [
        {"path": str(docs / "bad-\\xff.md"), "reason": "file name is not valid UTF-8"}
    ]
    assert "Traceback" not in result.stderr


# -- 6. front matter cannot explode ---------------------------------------------------------
ALIAS_BOMB = """---
title: Bomb
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
tags: [*d,*d,*d,*d,*d,*d,*d,*d,*d]
---
# Bomb

A short body about drift alerts.
"""


def test_front_matter_aliases_depth_and_shapes_are_refused(tmp_path, make_settings, embedder):
    docs = tmp_path / "d"
    _note(docs, "bomb.md", ALIAS_BOMB)
    _note(docs, "deep.md", "---\nx: " + "[" * 20_000 + "]" * 20_000 + "\n---\n# Deep\n\nBody.\n")
    nested = "".join(f"{'  ' * i}k{i}:\n" for i in range(6)) + "      leaf: 1\n"
    _note(docs, "nested.md", f"---\n{nested}---\n# Nested\n\nBody.\n")
    _note(
        docs,
        "shapes.md",
        "---\ntitle: Shapes\ntags: {a: 1}\nstages: [deploy, [nested]]\ntype: concept\n"
        f"question: {'q' * 5000}\n---\n# Shapes\n\nBody about canaries.\n",
    )
    settings = make_settings()
    report = ingest_paths([docs], settings, embedder=embedder)
    assert report.ingested == 4 and not report.failed
    assert any("bomb.md" in w and "aliases" in w for w in report.warnings)
    assert any("deep.md" in w and "front matter ignored" in w for w in report.warnings)
    assert any("nested.md" in w and "nested more than" in w for w in report.warnings)
    assert any("shapes.md" in w and "'tags'" in w for w in report.warnings)
    assert any("shapes.md" in w and "'stages'" in w for w in report.warnings)
    store = open_store(settings.store_dir, settings.collection)
    got = store.collection.get(include=["metadatas", "documents"])
    assert len(got["ids"]) < 10
    for meta in got["metadatas"]:
        assert all(len(str(v)) <= 1_100 for v in meta.values())
        if meta["source"] == "shapes.md":
            assert meta["tags"] == "" and meta["stages"] == "" and meta["doc_type"] == "concept"


# -- 7. size before reading -----------------------------------------------------------------
def test_an_oversized_file_is_refused_before_it_is_read(tmp_path, make_settings, embedder):
    docs = tmp_path / "d"
    _note(docs, "good.md", "# Good\n\nBaselines first, then a model.\n")
    with (docs / "huge.md").open("wb") as fh:  # sparse: 300 MB on paper, no disk used
        fh.truncate(300 * 2**20)
    tracemalloc.start()
    try:
        report = ingest_paths([docs], make_settings(max_file_mb=1.0), embedder=embedder)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [f["reason"].split(" (")[0] for f in report.failed] == ["too large"]
    assert peak < 100 * 2**20  # the 300 MB were never read


# -- 8. FIFO, stats on a mistyped store, disk full ------------------------------------------
def test_fifo_named_directly_says_what_it_is(tmp_path):
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    result = run_cli("ingest", str(fifo), "--store", str(tmp_path / "store"), timeout=120)
    assert result.returncode == 1
    assert f"failed: {fifo}: not a regular file (FIFO)" in result.stderr


def test_stats_on_a_missing_store_does_not_create_it(tmp_path):
    typo = tmp_path / "stroe"
    result = run_cli("stats", "--store", str(typo), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["sources"] == 0 and data["chunks"] == 0
    assert not typo.exists()


def test_disk_full_during_ingest_is_one_line_and_the_store_still_reads(
    docs_dir, tmp_path, make_settings, embedder, monkeypatch
):
    from chromadb.errors import InternalError

    settings = make_settings()
    ingest_paths([docs_dir], settings, embedder=embedder)
    before = _ids(settings)
    more = tmp_path / "more"
    for i in range(3):
        _note(more, f"extra-{i}.md", f"# Extra {i}\n\nNotes on offline evaluation number {i}.\n")
    real_add = pipeline._add_chunks

    def add_until_full(store, chunks, vectors, max_batch):
        real_add(store, chunks[:1], vectors[:1], max_batch)  # one chunk lands, then the disk
        raise InternalError(
            "Error executing plan: Error sending backfill request to compactor: "
            "No space left on device (os error 28)"
        )

    monkeypatch.setattr(pipeline, "_add_chunks", add_until_full)
    with pytest.raises(StoreWriteError) as caught:
        ingest_paths([more], settings, embedder=embedder)
    message = str(caught.value)
    assert "disk full" in message and "\n" not in message and str(settings.store_dir) in message
    monkeypatch.undo()
    # reads afterwards: every file stored before is whole and searchable, the partial one hidden
    stats = run_cli("stats", "--store", str(settings.store_dir), "--json")
    assert stats.returncode == 0 and json.loads(stats.stdout)["sources"] >= 5
    hits = run_cli("search", "population stability", "--store", str(settings.store_dir), "--json")
    assert hits.returncode == 0 and json.loads(hits.stdout)[0]["source"] == "beta.md"
    assert set(before) <= set(_ids(settings))
    rerun = ingest_paths([more], settings, embedder=embedder)
    assert rerun.ingested + rerun.unchanged == 3 and not rerun.failed
    assert all(_sources(settings)[f"extra-{i}.md"]["complete"] for i in range(3))


# -- 5. an upload whose ingest crashed is not kept ------------------------------------------
def test_upload_whose_ingest_crashed_is_not_kept(
    monkeypatch, make_settings, docs_dir, embedder, tmp_path
):
    import streamlit as st
    from conftest import ROOT
    from streamlit.testing.v1 import AppTest

    settings = make_settings(corpus_dir=docs_dir, uploads_dir=tmp_path / "uploads")
    ingest_paths([docs_dir], settings, embedder=embedder)
    env = {
        "MLSD_STORE_DIR": settings.store_dir,
        "MLSD_EVAL_DIR": settings.eval_dir,
        "MLSD_CORPUS_DIR": docs_dir,
        "MLSD_UPLOADS_DIR": settings.uploads_dir,
        "MLSD_APP_WARMUP": "false",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))

    def crash(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(pipeline, "ingest_paths", crash)
    st.cache_resource.clear()
    st.cache_data.clear()
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
        at.switch_page("ui/library.py").run()
        upload = ("crash.md", b"# Crash\n\nText.\n", "text/markdown")
        at.file_uploader(key="library_upload").set_value([upload]).run()
        [b for b in at.button if b.label == "Add to the library"][0].click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert any("RecursionError" in e.value for e in at.error)
        assert list(settings.uploads_dir.iterdir()) == []
    finally:
        st.cache_resource.clear()
        st.cache_data.clear()


def test_a_moved_folder_keeps_its_labels_and_prunes_from_the_new_place(
    docs_dir, tmp_path, make_settings, embedder
):
    settings = make_settings()
    ingest_paths([docs_dir], settings, embedder=embedder)
    before = _ids(settings)
    moved = tmp_path / "moved"
    docs_dir.rename(moved)
    report = ingest_paths([moved], settings, prune=True, embedder=embedder)
    assert report.embedded == 0 and report.chunks_deleted == 0 and _ids(settings) == before
    assert all(info["path"].startswith(str(moved)) for info in _sources(settings).values())
    (moved / "beta.md").unlink()
    ingest_paths([moved], settings, prune=True, embedder=embedder)
    assert "beta.md" not in _sources(settings) and "alpha.md" in _sources(settings)


_KILLED_DURING_RESET = """
import os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from core.settings import Settings
from ingest import pipeline

real_add = pipeline._add_chunks

def add_then_die(store, chunks, vectors, max_batch):
    real_add(store, chunks[:2], vectors[:2], max_batch)
    os._exit(9)

pipeline._add_chunks = add_then_die
pipeline.ingest_paths([Path(sys.argv[1])], Settings(store_dir=Path(sys.argv[2])), reset=True)
"""


def test_kill_during_reset_keeps_the_old_collection(docs_dir, make_settings, embedder):
    import subprocess
    import sys

    from conftest import ROOT

    settings = make_settings()
    ingest_paths([docs_dir], settings, embedder=embedder)
    before = _ids(settings)
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_DURING_RESET]
        + [str(docs_dir), str(settings.store_dir), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == 9, killed.stderr[-800:]
    assert _ids(settings) == before
    hits = run_cli("search", "population stability", "--store", str(settings.store_dir), "--json")
    assert hits.returncode == 0 and json.loads(hits.stdout)[0]["source"] == "beta.md"
    report = ingest_paths([docs_dir], settings, reset=True, embedder=embedder)
    assert report.ingested == 5 and _ids(settings) == before
    store = open_store(settings.store_dir, settings.collection)
    names = sorted(c.name for c in store.client.list_collections())
    assert names == sorted([settings.collection, store.collection.name])  # leftover removed
