"""Client/server mode: every store test below runs on the embedded store and on a real
`chroma run` server (the `store_settings` fixture), plus what only a server can do: several
clients that see each other's writes, and clear messages when the server is not there."""

from __future__ import annotations

import json

import pytest
import typer
from conftest import ChromaServer, free_port, run_cli

from core.errors import ConfigError, EmptyStoreError
from ingest.pipeline import ingest_paths, store_stats, stored_files
from ingest.store import open_store
from tools.search import Retriever

BETA_SAME_SHAPE = """---
title: Beta concept
type: concept
---
# Beta concept

## Drift detection

Kolmogorov quokka statistic replaces the stability index in this edited version.

## Alerting

Page the on-call engineer when prediction volume drops by half within ten minutes.
"""


def test_ingest_incremental_change_prune(store_settings, docs_dir, embedder):
    settings = store_settings()
    first = ingest_paths([docs_dir], settings, embedder=embedder)
    assert first.ingested == 5 and not first.failed and first.chunks_total == first.chunks_added
    again = ingest_paths([docs_dir], settings, embedder=embedder)
    assert (again.unchanged, again.embedded, again.chunks_total) == (5, 0, first.chunks_total)

    (docs_dir / "beta.md").write_text("# Beta concept\n\n## Only\n\nReplaced text.\n")
    (docs_dir / "notes.txt").unlink()
    changed = ingest_paths([docs_dir], settings, prune=True, embedder=embedder)
    assert changed.ingested == 1 and changed.unchanged == 3
    store = open_store(settings.store_dir, settings.collection, settings.chroma_url)
    files = stored_files(store)
    assert set(files) == {"alpha.md", "beta.md", "page.html", "sub/delta.md"}
    assert all(info["complete"] for info in files.values())
    stats = store_stats(settings)
    assert stats["sources"] == 4 and stats["chunks"] == changed.chunks_total
    assert stats["store"] == (settings.chroma_url or str(settings.store_dir))


def test_search_modes_and_empty_store(store_settings, docs_dir, embedder):
    settings = store_settings()
    with pytest.raises(EmptyStoreError):
        Retriever(settings, embedder=embedder).search("drift")
    ingest_paths([docs_dir], settings, embedder=embedder)
    retriever = Retriever(settings, embedder=embedder)
    for mode in ("hybrid", "dense", "bm25"):
        hits = retriever.search("population stability index drift", k=3, mode=mode)
        assert hits and hits[0].source == "beta.md", mode
        assert hits[0].section == "Beta concept > Drift detection"


def test_reader_sees_an_edit_that_keeps_the_chunk_count(store_settings, docs_dir, embedder):
    """A long-lived reader (the app) notices another writer's edit without invalidate()."""
    settings = store_settings()
    ingest_paths([docs_dir], settings, embedder=embedder)
    reader = Retriever(settings, embedder=embedder)
    before = reader.search("population stability index", k=2, mode="bm25")
    count = open_store(settings.store_dir, settings.collection, settings.chroma_url).count()

    (docs_dir / "beta.md").write_text(BETA_SAME_SHAPE)
    writer_settings = store_settings(model_cache_dir=settings.model_cache_dir / "writer")
    report = ingest_paths([docs_dir], writer_settings, embedder=embedder)
    assert report.ingested == 1 and report.chunks_total == count  # same number of chunks

    for mode in ("bm25", "hybrid", "dense"):
        hits = reader.search("kolmogorov quokka statistic", k=2, mode=mode)
        assert hits[0].source == "beta.md" and "quokka" in hits[0].text, mode
    old_ids = {h.chunk_id for h in before}
    fresh = reader.search("population stability index", k=5, mode="bm25")
    assert not old_ids & {h.chunk_id for h in fresh if h.source == "beta.md"}


def test_reader_survives_a_reset_by_another_writer(store_settings, docs_dir, embedder):
    settings = store_settings()
    ingest_paths([docs_dir], settings, embedder=embedder)
    reader = Retriever(settings, embedder=embedder)
    assert reader.search("canary release", k=1)
    ingest_paths([docs_dir], settings, reset=True, embedder=embedder)  # a new collection
    for mode in ("hybrid", "dense", "bm25"):
        hits = reader.search("canary release traffic", k=1, mode=mode)
        assert hits and hits[0].source == "page.html", mode


def _two_folders(tmp_path):
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    mine.mkdir()
    theirs.mkdir()
    (mine / "mine.md").write_text("# Mine\n\n## Shadow\n\nShadow deployment mirrors traffic.\n")
    (theirs / "theirs.md").write_text("# Theirs\n\n## Quokka\n\nQuokka ranking uses a GBDT.\n")
    return mine, theirs


def test_another_client_sees_my_ingest(chroma_server, make_settings, tmp_path, embedder):
    """A separate `mlsd` process with its own local folder reads what this process wrote."""
    settings = make_settings(chroma_url=chroma_server.url, collection="shared-one-way")
    mine, _ = _two_folders(tmp_path)
    report = ingest_paths([mine], settings, embedder=embedder)
    env = {"MLSD_CHROMA_URL": chroma_server.url, "MLSD_COLLECTION": settings.collection}
    result = run_cli("stats", "--store", str(tmp_path / "other-client"), "--json", env=env)
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["store"] == chroma_server.url and set(stats["files"]) == {"mine.md"}
    assert stats["chunks"] == report.chunks_total and stats["dimension"] == embedder.dim


@pytest.mark.slow
def test_two_clients_see_each_others_ingests(chroma_server, make_settings, tmp_path, embedder):
    """This process and a separate `mlsd` process, each with its own local folder, share one
    collection on the server: each sees what the other ingested."""
    settings = make_settings(chroma_url=chroma_server.url, collection="shared-two-clients")
    mine, theirs = _two_folders(tmp_path)
    mine_total = ingest_paths([mine], settings, embedder=embedder).chunks_total
    reader = Retriever(settings, embedder=embedder)
    assert reader.search("shadow deployment", k=1)[0].source == "mine.md"

    env = {"MLSD_CHROMA_URL": chroma_server.url, "MLSD_COLLECTION": settings.collection}
    other_store = ["--store", str(tmp_path / "other-client")]  # its own manifest and caches
    result = run_cli("ingest", str(theirs), *other_store, "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["chunks_total"] == mine_total + report["chunks_added"]  # mine are there too

    hits = reader.search("quokka ranking", k=1)  # no invalidate(): the reader notices
    assert hits[0].source == "theirs.md"
    stats = json.loads(run_cli("stats", *other_store, "--json", env=env).stdout)
    assert set(stats["files"]) == {"mine.md", "theirs.md"} and stats["store"] == chroma_server.url


def test_unreachable_server_is_a_clear_error(make_settings, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConfigError, match="chroma run"):
        Retriever(make_settings(chroma_url=url)).search("drift")
    with pytest.raises(ConfigError, match="MLSD_CHROMA_URL"):
        store_stats(make_settings(chroma_url=url))
    result = run_cli("stats", "--chroma-url", url)
    assert result.returncode == 1 and "chroma run" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    with pytest.raises(ConfigError, match="http://host:port"):
        store_stats(make_settings(chroma_url="localhost:8000"))


def test_server_going_away_mid_session_is_a_clear_error(make_settings, tmp_path, embedder):
    server = ChromaServer(tmp_path / "data", tmp_path / "chroma.log")
    try:
        settings = make_settings(chroma_url=server.url)
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "a.md").write_text("# A\n\n## B\n\nCanary releases shift traffic.\n")
        ingest_paths([tmp_path / "d"], settings, embedder=embedder)
        retriever = Retriever(settings, embedder=embedder)
        assert retriever.search("canary", k=1)
    finally:
        server.stop()
    for mode in ("hybrid", "dense", "bm25"):
        with pytest.raises(ConfigError, match="Cannot reach the Chroma server"):
            retriever.search("canary", k=1, mode=mode)
    with pytest.raises(ConfigError, match="chroma run"):
        ingest_paths([tmp_path / "d"], settings, embedder=embedder)


def test_every_store_command_accepts_chroma_url():
    """Any command that opens the store (has --store) can also point at a server."""
    from cli.main import app

    group = typer.main.get_command(app)
    checked = []
    for name, command in group.commands.items():
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        if "--store" in options:
            assert "--chroma-url" in options, f"mlsd {name} has --store but no --chroma-url"
            checked.append(name)
    assert {"ingest", "search", "stats"} <= set(checked)


@pytest.mark.slow
def test_a_store_past_sqlites_variable_limit(store_settings, docs_dir, embedder):
    """Over 32,766 chunks one whole-collection read fails inside Chroma ("too many SQL
    variables"); stats, incremental ingest and search read in pages and keep working."""
    import numpy as np

    from ingest.store import embed_metadata

    settings = store_settings()
    meta = embed_metadata(embedder.model_name, embedder.backend, embedder.dim)
    store = open_store(settings.store_dir, settings.collection, settings.chroma_url, True, meta)
    rng = np.random.default_rng(0)
    n_files, per_file = 3300, 10  # 33,000 chunks, stored the way the pipeline stores them
    for first in range(0, n_files, 500):
        ids, docs, metas = [], [], []
        for d in range(first, min(first + 500, n_files)):
            for i in range(per_file):
                ids.append(f"bulk/f{d}.md::{i:04d}::h{d}")
                docs.append(f"## Part {i}\n\nBulk note {d} about wombat{d} ranking, part {i}.")
                metas.append(
                    {"source": f"bulk/f{d}.md", "title": f"F{d}", "section": f"F{d} > Part {i}"}
                    | {"doc_type": "other", "chunk_index": i, "n_chunks": per_file}
                    | {"file_hash": f"h{d}", "content_hash": f"h{d}{i}"}
                )
        vectors = rng.standard_normal((len(ids), embedder.dim)).astype("float32")
        store.collection.upsert(ids=ids, documents=docs, metadatas=metas, embeddings=vectors)
    total = n_files * per_file
    assert store.count() == total > 32_766

    files = stored_files(store)
    assert len(files) == n_files and all(f["complete"] for f in files.values())
    report = ingest_paths([docs_dir], settings, embedder=embedder)  # writes the manifest
    assert report.ingested == 5 and report.chunks_total == total + report.chunks_added
    assert store_stats(settings)["sources"] == n_files + 5
    hits = Retriever(settings, embedder=embedder).search("wombat3217 ranking", k=3, mode="bm25")
    assert hits[0].source == "bulk/f3217.md"
