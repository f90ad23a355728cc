"""Several readers and writers on one store: no errors, no partial results, no corruption.

Faults are injected only to widen or freeze the windows a real run passes through: chunks
are written one at a time, and one file's write "crashes" after its first chunk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import traceback

import pytest
from conftest import ROOT, run_cli, start_verbose_ingest, stored_ids

from bench.synthetic import write_synthetic
from core.errors import StoreBusyError
from ingest import pipeline
from ingest.pipeline import ingest_paths, stored_files
from ingest.store import open_store
from tools.search import Retriever

BROKEN = "zz-broken.md"
BROKEN_TEXT = "\n".join(
    f"## Zebrafish part {i}\n\nZebrafish larvae model {word} in this invented note.\n"
    for i, word in enumerate(["regeneration", "vision", "sleep"])
)
QUERIES = [
    "zebrafish larvae",
    "population stability index drift",
    "canary release rollback",
    "feature cache latency",
    "offline metrics for ranking",
    "class imbalance and sampling",
]


def _table(settings):
    store = open_store(settings.store_dir, settings.collection, settings.chroma_url)
    got = store.collection.get(include=["documents", "metadatas"])
    return {
        cid: (doc, meta["source"])
        for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"])
    }


def _slow_writes_with_a_crash(monkeypatch):
    """Write chunks one by one (partial files stay visible longer) and 'crash' in BROKEN."""
    original = pipeline._add_chunks

    def add_chunks(store, chunks, vectors, max_batch):
        for i in range(len(chunks)):
            original(store, chunks[i : i + 1], vectors[i : i + 1], 1)
            if chunks[i].metadata["source"] == BROKEN:
                raise RuntimeError("injected crash in the middle of a file")
            time.sleep(0.02)

    monkeypatch.setattr(pipeline, "_add_chunks", add_chunks)


def test_searches_and_asks_during_an_ingest(store_settings, docs_dir, embedder, monkeypatch):
    """8 threads search and ask while an ingest adds files and dies inside the last one:
    no errors, and every hit is whole and from a file that was completely stored."""
    from agents.offline import OfflineAgent
    from tools.deps import Deps

    settings = store_settings()
    ingest_paths([docs_dir], settings, embedder=embedder)
    write_synthetic(docs_dir / "syn", 24, sections=3, words=50)
    (docs_dir / BROKEN).write_text(f"# Zebrafish notes\n\n{BROKEN_TEXT}")
    deps = Deps(settings, embedder_override=embedder)
    agent = OfflineAgent(deps)
    _slow_writes_with_a_crash(monkeypatch)

    seen: list = []  # (phase, hit-like objects)
    errors: list[str] = []
    ingest_done = threading.Event()
    stop = threading.Event()
    after_done: set[int] = set()  # readers that finished a request started after the crash

    def reader(i: int) -> None:
        n = 0
        while not stop.is_set():
            query = QUERIES[(i + n) % len(QUERIES)]
            phase = "after" if ingest_done.is_set() else "during"
            try:
                if n % 3 == 2:
                    answered = agent.answer(query)
                    seen.append((phase, answered.hits))
                    seen.append((phase, answered.final.citations))
                else:
                    mode = ("hybrid", "dense", "bm25")[n % 3]
                    seen.append((phase, deps.retriever.search(query, k=5, mode=mode)))
            except Exception:
                errors.append(traceback.format_exc())
            if phase == "after":
                after_done.add(i)
            n += 1

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    with pytest.raises(RuntimeError, match="injected crash"):
        ingest_paths([docs_dir], settings, embedder=embedder)
    ingest_done.set()
    deadline = time.monotonic() + 300  # every reader also reads the store the crash left
    while len(after_done) < len(threads) and time.monotonic() < deadline and not errors:
        time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors, errors[0]
    table = _table(settings)
    files = stored_files(open_store(settings.store_dir, settings.collection, settings.chroma_url))
    assert files[BROKEN]["complete"] is False  # the crash left a partial file behind
    phases = {phase for phase, _ in seen}
    assert phases == {"during", "after"}
    for _, hits in seen:
        for hit in hits:
            assert hit.source != BROKEN, "a chunk of a partially stored file was served"
            assert hit.chunk_id in table, f"{hit.chunk_id} is not in the store"
            text, source = table[hit.chunk_id]
            assert hit.source == source and files[source]["complete"]
            assert hit.text == text  # the whole chunk

    monkeypatch.undo()  # no more faults: the next run completes the broken file
    rerun = ingest_paths([docs_dir], settings, embedder=embedder)
    assert rerun.ingested == 1 and not rerun.failed
    hits = deps.retriever.search("zebrafish larvae", k=3, mode="bm25")
    assert {h.source for h in hits} == {BROKEN}


def test_second_ingest_fails_clearly_when_the_lock_is_held(docs_dir, make_settings, tmp_path):
    from filelock import FileLock

    store = tmp_path / "store"
    store.mkdir()
    holder = FileLock(str(store / "ingest.lock"))
    with holder:
        with pytest.raises(StoreBusyError, match="Another ingest holds the lock"):
            ingest_paths([docs_dir], make_settings(store_dir=store, ingest_lock_timeout_s=0.5))
        env = {"MLSD_INGEST_LOCK_TIMEOUT_S": "1"}
        result = run_cli("ingest", str(docs_dir), "--store", str(store), env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "Another ingest holds the lock" in line and "MLSD_CHROMA_URL" in line
    assert open_store(store, "mlsd_corpus") is None  # nothing was written


def test_second_ingest_waits_for_the_lock(docs_dir, make_settings, embedder, tmp_path):
    from filelock import FileLock

    settings = make_settings(ingest_lock_timeout_s=60)
    settings.store_dir.mkdir(parents=True)
    held = threading.Event()

    def other_writer() -> None:  # holds the lock for a moment, like another ingest
        with FileLock(str(settings.store_dir / "ingest.lock")):
            held.set()
            time.sleep(1.5)

    thread = threading.Thread(target=other_writer)
    thread.start()
    held.wait(10)
    started = time.monotonic()
    report = ingest_paths([docs_dir], settings, embedder=embedder)
    thread.join()
    assert time.monotonic() - started >= 1.0  # it waited (not a speed check)
    assert report.ingested == 5 and not report.failed


def _index_intact(store_dir) -> dict:
    """Query every stored vector in a fresh process: each must find itself first."""
    code = (
        "import chromadb,json,sys;c=chromadb.PersistentClient(path=sys.argv[1])"
        ".get_collection('mlsd_corpus');g=c.get(include=['embeddings']);"
        "r=c.query(query_embeddings=[e.tolist() for e in g['embeddings']],n_results=1,"
        "include=[])['ids'];"
        "print(json.dumps({'count':c.count(),'self_missed':sum(x[0]!=i for i,x in "
        "zip(g['ids'],r))}))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(store_dir)], capture_output=True)
    assert out.returncode == 0, out.stderr.decode()[-500:]
    return json.loads(out.stdout)


@pytest.mark.slow
def test_two_ingest_processes_at_once(tmp_path):
    """Two `mlsd ingest` on one embedded store: the second waits; the store equals a clean one."""
    docs = tmp_path / "docs"
    write_synthetic(docs, 60, sections=3, words=50)
    clean = tmp_path / "clean"
    assert run_cli("ingest", str(docs), "--store", str(clean)).returncode == 0
    store = tmp_path / "store"
    cmd = [sys.executable, "-m", "cli", "ingest", str(docs), "--store", str(store), "--json"]
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))
    assert sorted(r["ingested"] for r in reports) == [0, 20]  # one wrote, then one found it done
    assert stored_ids(store) == stored_ids(clean)
    assert _index_intact(store) == {"count": len(stored_ids(clean)), "self_missed": 0}


@pytest.mark.slow
def test_writer_with_an_old_client_does_not_corrupt_the_store(tmp_path, embedder):
    """A long-lived process (the app) opened the store, another process ingested, then the
    first one ingests too. Writing through its old in-memory index used to persist an index
    missing the other writer's vectors ("Error finding id")."""
    from core.settings import Settings

    settings = Settings(store_dir=tmp_path / "store", model_cache_dir=tmp_path / "models")
    # persist the vector index every 10 records (default 1000), so a small run shows it
    meta = {"hnsw:space": "cosine", "hnsw:sync_threshold": 10, "hnsw:batch_size": 10}
    meta |= {"embed_model": embedder.model_name, "embed_backend": embedder.backend}
    open_store(settings.store_dir, settings.collection, None, True, meta)
    for name, seed in (("a", 1), ("b", 2), ("c", 3)):
        write_synthetic(tmp_path / name / name, 30, sections=3, words=40, seed=seed)
    ingest_paths([tmp_path / "a"], settings, embedder=embedder)
    reader = Retriever(settings, embedder=embedder)
    assert reader.search("model evaluation", k=3)

    env = {**os.environ}
    other = run_cli("ingest", str(tmp_path / "b"), "--store", str(settings.store_dir), env=env)
    assert other.returncode == 0, other.stderr
    report = ingest_paths([tmp_path / "c"], settings, embedder=embedder)
    assert report.chunks_total == 90
    assert _index_intact(settings.store_dir) == {"count": 90, "self_missed": 0}
    # the long-lived reader sees the other process's chunks through the dense index too
    assert reader.search("model evaluation", k=3)  # notices the change, rereads the files
    other_ids = {cid for cid in stored_ids(settings.store_dir) if cid.startswith("b/")}
    dense = {cid for cid, _ in reader.dense("synthetic document section", 90)}
    assert other_ids <= dense


@pytest.mark.slow
def test_kill_9_at_random_points_then_rerun_converges(tmp_path):
    """kill -9 an ingest at random moments (while embedding, between files, inside a file's
    writes, while the vector index is persisted); every rerun equals a clean ingest."""
    import random

    seed = int(os.environ.get("MLSD_KILL_SEED", time.time_ns() % 10_000))
    rng = random.Random(seed)
    docs = tmp_path / "docs"
    write_synthetic(docs, 48, sections=4, words=60, seed=seed)  # 12 files
    clean = tmp_path / "clean"
    assert run_cli("ingest", str(docs), "--store", str(clean)).returncode == 0
    expected = stored_ids(clean)
    from ingest.embeddings import model_label

    for run in range(4):
        store = tmp_path / f"killed{run}"
        if run % 2:  # persist the vector index every 10 records so kills can land there
            from core.settings import Settings

            s = Settings()
            meta = {"hnsw:space": "cosine", "hnsw:sync_threshold": 10, "hnsw:batch_size": 10}
            meta |= {"embed_model": model_label(s.embed_model), "embed_backend": s.embed_backend}
            code = (
                "import chromadb,json,sys;c=chromadb.PersistentClient(path=sys.argv[1]);"
                "c.create_collection('mlsd_corpus',metadata=json.loads(sys.argv[2]),"
                "embedding_function=None)"
            )
            subprocess.run([sys.executable, "-c", code, str(store), json.dumps(meta)], check=True)
        proc = start_verbose_ingest(docs, store)
        after_files = rng.randint(0, 11)  # 0: at a random time (loading, embedding, writing)
        extra = rng.uniform(0.0, 0.3) if after_files else rng.uniform(2.0, 15.0)
        timer = threading.Timer(extra, proc.kill) if not after_files else None
        if timer:
            timer.start()
        stored = 0
        for line in proc.stderr:
            stored += "stored " in line
            if after_files and stored >= after_files:
                time.sleep(extra)
                proc.kill()
                break
        proc.wait(timeout=300)
        if timer:
            timer.cancel()
        where = f"seed={seed} run={run} after_files={after_files} extra={extra:.2f}"
        rerun = run_cli("ingest", str(docs), "--store", str(store), "--json")
        assert rerun.returncode == 0, f"{where}: {rerun.stderr}"
        assert stored_ids(store) == expected, where
        assert _index_intact(store) == {"count": len(expected), "self_missed": 0}, where
        hits = run_cli("search", "offline metrics", "--store", str(store), "--json")
        assert hits.returncode == 0 and json.loads(hits.stdout), where


_DIES_BEFORE_THE_FINAL_GENERATION = """
import os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from core.settings import Settings
from ingest import pipeline

written = []
real_into, real_mark = pipeline._ingest_into, pipeline.mark_changed

def into(*args, **kwargs):
    real_into(*args, **kwargs)
    written.append(True)

def mark(*args, **kwargs):
    if written:  # every chunk is stored: killed just before the run's closing bookkeeping
        os._exit(9)
    real_mark(*args, **kwargs)

pipeline._ingest_into, pipeline.mark_changed = into, mark
pipeline.ingest_paths([Path(sys.argv[1])], Settings(store_dir=Path(sys.argv[2])))
"""


def test_reader_sees_the_files_a_killed_ingest_completed(tmp_path, embedder):
    """Another process ingests and is killed after writing: the long-lived reader's dense
    index must still catch up (it used to stay stale until the next completed ingest)."""
    from core.settings import Settings

    settings = Settings(store_dir=tmp_path / "store")
    write_synthetic(tmp_path / "a" / "a", 20, sections=2, words=40, seed=1)
    write_synthetic(tmp_path / "b" / "b", 20, sections=2, words=40, seed=2)
    ingest_paths([tmp_path / "a"], settings, embedder=embedder)
    reader = Retriever(settings, embedder=embedder)
    assert reader.search("model evaluation", k=3)

    killed = subprocess.run(
        [sys.executable, "-c", _DIES_BEFORE_THE_FINAL_GENERATION]
        + [str(tmp_path / "b"), str(settings.store_dir), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == 9, killed.stderr[-800:]
    other_ids = {cid for cid in stored_ids(settings.store_dir) if cid.startswith("b/")}
    files = stored_files(open_store(settings.store_dir, settings.collection))
    assert other_ids and all(info["complete"] for src, info in files.items())
    assert reader.search("model evaluation", k=3)  # notices the new generation, rereads
    dense = {cid for cid, _ in reader.dense("synthetic document section", 40)}
    assert other_ids <= dense
