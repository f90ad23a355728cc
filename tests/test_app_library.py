"""The Library page through `AppTest`, over a private writable store (real ingest, real model)."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from ingest.pipeline import ingest_paths, store_stats
from ui.library import safe_filename

ROOT = Path(__file__).resolve().parents[1]
GOOD = b"# Feature freshness\n\nStreaming aggregates keep features fresh for fraud models.\n"


@pytest.fixture
def library(monkeypatch, make_settings, docs_dir, embedder, tmp_path):
    """A store holding the small fixture docs; the app's corpus is those docs."""
    settings = make_settings(corpus_dir=docs_dir, uploads_dir=tmp_path / "uploads")
    report = ingest_paths([docs_dir], settings, embedder=embedder)
    assert report.ingested
    env = {
        "MLSD_STORE_DIR": settings.store_dir,
        "MLSD_EVAL_DIR": settings.eval_dir,
        "MLSD_CORPUS_DIR": docs_dir,
        "MLSD_UPLOADS_DIR": settings.uploads_dir,
        "MLSD_APP_WARMUP": "false",
        "MLSD_MAX_FILE_MB": "0.01",  # 10 kB: lets a test send an over-sized file cheaply
    }
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    st.cache_resource.clear()
    st.cache_data.clear()
    yield settings
    st.cache_resource.clear()
    st.cache_data.clear()


def _library_page(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    if query:
        at.query_params.update(query)
    at.switch_page("ui/library.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _click(at: AppTest, label: str) -> AppTest:
    [b for b in at.button if b.label == label][0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_overview_lists_what_is_indexed(library):
    at = _library_page()
    stats = store_stats(library)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Files"] == str(stats["sources"])
    assert metrics["Chunks"] == str(stats["chunks"])
    table = at.dataframe[0].value
    assert set(table["source"]) == set(stats["files"])


def test_upload_adds_good_files_and_lists_bad_ones_with_reasons(library):
    at = _library_page()
    at.file_uploader(key="library_upload").set_value(
        [
            ("freshness.md", GOOD, "text/markdown"),
            ("empty.md", b"", "text/markdown"),
            ("binary.txt", b"\x00\x01\x02 not text", "text/plain"),
            ("huge.md", b"# Big\n\n" + b"word " * 4000, "text/markdown"),
        ]
    ).run()
    at = _click(at, "Add to the library")
    assert any("1 ingested" in s.value for s in at.success)
    failed = at.dataframe[-1].value
    reasons = dict(zip(failed["path"].map(lambda p: p.rsplit("/", 1)[-1]), failed["reason"]))
    assert set(reasons) == {"empty.md", "binary.txt", "huge.md"}
    assert "empty" in reasons["empty.md"]
    assert "binary" in reasons["binary.txt"]
    assert "too large" in reasons["huge.md"]
    assert "freshness.md" in store_stats(library)["files"]
    # only the good file is kept for later re-indexing
    assert sorted(p.name for p in library.uploads_dir.iterdir()) == ["freshness.md"]


def test_reindex_removes_deleted_uploads_and_keeps_the_rest(library):
    at = _library_page()
    at.file_uploader(key="library_upload").set_value(("gone.md", GOOD, "text/markdown")).run()
    _click(at, "Add to the library")
    assert "gone.md" in store_stats(library)["files"]
    (library.uploads_dir / "gone.md").unlink()
    at = _click(at, "Re-index")
    files = store_stats(library)["files"]
    assert "gone.md" not in files
    assert "alpha.md" in files
    assert any("unchanged" in s.value for s in at.success)


def test_passage_viewer_shows_the_linked_section(library):
    at = _library_page({"source": "alpha.md", "section": "Objectives"})
    assert any("alpha.md — Objectives" in h.value for h in at.subheader)
    shown = " ".join(m.value for m in at.markdown)
    assert "business objective" in shown
    assert "daily users" not in shown  # another section of the same file


def test_passage_viewer_falls_back_to_the_whole_document(library):
    at = _library_page({"source": "alpha.md", "section": "No such heading"})
    assert any("whole document" in c.value for c in at.caption)
    assert "daily users" in " ".join(m.value for m in at.markdown)


def test_upload_names_cannot_escape_the_uploads_folder():
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("..\\..\\evil.md") == "evil.md"
    assert safe_filename(".hidden.md") == "hidden.md"
    assert safe_filename("my notes (v2).md") == "my_notes_v2_.md"
    assert "/" not in safe_filename("a/b/c.pdf")
