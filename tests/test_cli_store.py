"""The `mlsd ingest/search/stats` contracts, run as real subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import signal

import pytest
from conftest import ROOT, run_cli, start_verbose_ingest, stored_ids

HIT_FIELDS = {"text", "source", "section", "title", "doc_type", "chunk_id", "score", "rank"}
INGEST_FIELDS = {
    "files_seen",
    "ingested",
    "unchanged",
    "failed",
    "chunks_added",
    "chunks_deleted",
    "chunks_total",
    "seconds",
}


@pytest.fixture(scope="module")
def cli_store(tmp_path_factory):
    """A store built by `mlsd ingest` from the fixture documents."""
    base = tmp_path_factory.mktemp("cli")
    docs = base / "docs"
    shutil.copytree(ROOT / "tests" / "fixtures" / "docs", docs)
    store = base / "store"
    result = run_cli("ingest", str(docs), "--store", str(store), "--json")
    assert result.returncode == 0, result.stderr
    return {"docs": docs, "store": store, "report": json.loads(result.stdout)}


def test_ingest_json_contract_and_incremental(cli_store):
    report = cli_store["report"]
    assert set(report) >= INGEST_FIELDS
    assert report["ingested"] == report["files_seen"] == 5 and report["failed"] == []
    again = run_cli("ingest", str(cli_store["docs"]), "--store", str(cli_store["store"]), "--json")
    data = json.loads(again.stdout)
    assert again.returncode == 0 and data["unchanged"] == 5 and data["chunks_added"] == 0


def test_ingest_bad_file_exit_1_with_one_line(cli_store, tmp_path):
    bad = tmp_path / "empty.md"
    bad.write_text("")
    result = run_cli("ingest", str(bad), "--store", str(cli_store["store"]), "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["failed"] == [{"path": str(bad), "reason": "empty file"}]
    assert f"failed: {bad}: empty file" in result.stderr


def test_usage_errors_exit_2(cli_store):
    assert run_cli("ingest", "--no-such-flag").returncode == 2
    result = run_cli("search", "x", "--mode", "fuzzy", "--store", str(cli_store["store"]))
    assert result.returncode == 2 and "--mode" in result.stderr


def test_search_json_contract(cli_store):
    result = run_cli(
        "search", "canary release traffic", "-k", "2", "--store", str(cli_store["store"]), "--json"
    )
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert 1 <= len(hits) <= 2 and set(hits[0]) >= HIT_FIELDS
    assert hits[0]["source"] == "page.html"


def test_search_queries_file_one_json_line_each(cli_store, tmp_path):
    queries = tmp_path / "q.txt"
    queries.write_text("drift index\n\nfeature cache latency\n")
    result = run_cli(
        "search",
        "--queries",
        str(queries),
        "--mode",
        "bm25",
        "--store",
        str(cli_store["store"]),
        "--json",
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["query"] for line in lines] == ["drift index", "feature cache latency"]
    assert lines[1]["hits"][0]["source"] == "notes.txt"


def test_search_empty_query_and_empty_store_messages(tmp_path):
    result = run_cli("search", "  ", "--store", str(tmp_path / "none"))
    assert result.returncode == 1 and "empty" in result.stderr
    result = run_cli("search", "drift", "--store", str(tmp_path / "none"))
    assert result.returncode == 1 and "mlsd ingest" in result.stderr
    assert "Traceback" not in result.stderr


def test_stats_json(cli_store):
    data = json.loads(run_cli("stats", "--store", str(cli_store["store"]), "--json").stdout)
    assert data["sources"] == 5 and data["chunks"] == cli_store["report"]["chunks_total"]
    assert data["dimension"] == 384 and data["model"]


@pytest.mark.slow
def test_kill_during_ingest_then_rerun_converges(tmp_path):
    """kill -9 after some files were written, at several points; reruns equal a clean ingest."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for path in sorted((ROOT / "corpus" / "concepts").glob("*.md"))[:8]:
        shutil.copy(path, docs / path.name)
    clean = tmp_path / "clean"
    assert run_cli("ingest", str(docs), "--store", str(clean)).returncode == 0
    clean_stats = json.loads(run_cli("stats", "--store", str(clean), "--json").stdout)

    for kill_after in (1, 5):
        store = tmp_path / f"killed{kill_after}"
        proc = start_verbose_ingest(docs, store)
        stored = 0
        for line in proc.stderr:
            stored += "stored " in line
            if stored >= kill_after:
                os.kill(proc.pid, signal.SIGKILL)
                break
        proc.wait(timeout=120)
        assert proc.returncode == -signal.SIGKILL
        rerun = run_cli("ingest", str(docs), "--store", str(store), "--json")
        assert rerun.returncode == 0, rerun.stderr
        assert json.loads(rerun.stdout)["unchanged"] >= kill_after - 1
        assert stored_ids(store) == stored_ids(clean)
        stats = json.loads(run_cli("stats", "--store", str(store), "--json").stdout)
        assert stats["chunks"] == clean_stats["chunks"]
        hits = run_cli("search", "temporal split leakage", "--store", str(store), "--json")
        assert json.loads(hits.stdout)
