"""Shared fixtures and fakes. The embedding model is loaded once per test session.

Helpers for every area live here; keep each fixture small and documented.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(ROOT))

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
# Tests never talk to a real LLM: clear any key or endpoint from the developer's shell.
for _var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "MLSD_CHROMA_URL"):
    os.environ.pop(_var, None)

from core.offline import apply_offline_env  # noqa: E402
from core.settings import Settings  # noqa: E402

apply_offline_env(Settings().embed_model)


@pytest.fixture(scope="session")
def embedder():
    """The real shipped model (all-MiniLM-L6-v2), loaded once for the whole session."""
    from ingest.embeddings import load_embedder

    s = Settings()
    return load_embedder(s.embed_model, s.embed_backend, str(s.model_cache_dir))


@pytest.fixture
def make_settings(tmp_path):
    """Settings with a private store under tmp_path; keyword overrides on top."""

    def factory(**overrides) -> Settings:
        overrides.setdefault("store_dir", tmp_path / "store")
        overrides.setdefault("model_cache_dir", tmp_path / "models")
        overrides.setdefault("eval_dir", tmp_path / "eval")
        overrides.setdefault("ingest_lock_timeout_s", 5.0)
        return Settings(**overrides)

    return factory


@pytest.fixture
def docs_dir(tmp_path) -> Path:
    """A writable copy of the small fixture documents."""
    target = tmp_path / "docs"
    shutil.copytree(FIXTURES / "docs", target)
    return target


@pytest.fixture(scope="session")
def corpus_settings(tmp_path_factory, embedder) -> Settings:
    """A store holding the shipped corpus/, ingested once per session (read-only for tests)."""
    from ingest.pipeline import ingest_paths

    base = tmp_path_factory.mktemp("corpus_store")
    settings = Settings(
        store_dir=base / "store", model_cache_dir=base / "models", eval_dir=base / "eval"
    )
    report = ingest_paths([settings.corpus_dir], settings, embedder=embedder)
    assert not report.failed, report.failed
    return settings


@pytest.fixture(scope="session")
def corpus_retriever(corpus_settings, embedder):
    """A Retriever over the shipped corpus store, shared by the session."""
    from tools.search import Retriever

    return Retriever(corpus_settings, embedder=embedder)


def run_cli(*args: str, env: dict | None = None, input: str | None = None, timeout: float = 300):
    """Run `mlsd` in a subprocess (the real console entry point) and return the result."""
    import subprocess

    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=input,
        timeout=timeout,
        cwd=ROOT,
    )


def start_verbose_ingest(docs: Path, store: Path):
    """Start `mlsd -v ingest DOCS --store STORE` without waiting: its progress log lines
    (stderr, one per stored file) tell a test when to kill it."""
    import subprocess

    return subprocess.Popen(
        [sys.executable, "-m", "cli", "-v", "ingest", str(docs), "--store", str(store)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )


@pytest.fixture
def fake_openai():
    """A scripted OpenAI-compatible server on 127.0.0.1, stopped after the test.

    Script it with `fake_openai.queue(...)` / `.always(...)` / `.handler = fn`; inspect
    `fake_openai.requests`. See tests/fake_openai.py for replies and faults.
    """
    from fake_openai import FakeOpenAI

    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake_llm_settings(fake_openai, make_settings):
    """Factory: Settings (private tmp store) whose LLM is `fake_openai`: dummy key, 2 s timeout,
    no retries. Keyword overrides on top, e.g. `fake_llm_settings(llm_model="nope")`."""

    def factory(**overrides) -> Settings:
        return make_settings(**fake_openai.settings_overrides(**overrides))

    return factory


@pytest.fixture
def app_env(monkeypatch, tmp_path, corpus_settings):
    """Environment for the Streamlit app over the session corpus store (read-only), with a
    private eval and uploads folder; Streamlit's process-wide caches are emptied around the
    test so the app reads this environment. The model cache stays the default one, where the
    session `embedder` already keeps its ONNX export. Returns the env vars it set."""
    import streamlit as st

    env = {
        "MLSD_STORE_DIR": str(corpus_settings.store_dir),
        "MLSD_EVAL_DIR": str(tmp_path / "eval"),
        "MLSD_UPLOADS_DIR": str(tmp_path / "uploads"),
        "MLSD_APP_WARMUP": "false",  # no background answer competing with the test for CPU
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield env
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def app_test(app_env):
    """Factory: a fresh `AppTest` of app.py (one browser tab), not yet run."""
    from streamlit.testing.v1 import AppTest

    def factory(timeout: float = 120):
        return AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)

    return factory


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ChromaServer:
    """A real `chroma run` process on 127.0.0.1 (the one shipped with chromadb)."""

    def __init__(self, path: Path, log_path: Path) -> None:
        import subprocess

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        chroma = Path(sys.executable).parent / "chroma"
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(chroma), "run", "--path", str(path), "--host", "127.0.0.1"]
            + ["--port", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 60.0) -> None:
        import time
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chroma run exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"chroma run did not answer on {self.url} within {timeout:.0f} s")

    def stop(self) -> None:
        import subprocess

        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
        self._log.close()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A Chroma server (`chroma run`) on a free loopback port for the whole session."""
    base = tmp_path_factory.mktemp("chroma_server")
    server = ChromaServer(base / "data", base / "chroma.log")
    yield server
    server.stop()


@pytest.fixture(params=["embedded", "server"])
def store_settings(request, make_settings):
    """Factory like `make_settings`, run once per store mode: the embedded store, and a
    collection of its own on the session `chroma_server` (MLSD_CHROMA_URL)."""
    import uuid

    collection = f"t-{uuid.uuid4().hex[:12]}"  # one per test: every call sees the same store

    def factory(**overrides) -> Settings:
        if request.param == "server":
            overrides.setdefault("chroma_url", request.getfixturevalue("chroma_server").url)
            overrides.setdefault("collection", collection)
        return make_settings(**overrides)

    factory.mode = request.param
    return factory


@pytest.fixture(scope="session")
def onnx_model_cache(tmp_path_factory) -> Path:
    """A model cache dir holding the ONNX exports (fp32 and int8), built once per session."""
    from ingest.embeddings import build_embedder

    cache = tmp_path_factory.mktemp("onnx_models")
    model = Settings().embed_model
    for backend in ("onnx", "onnx-int8"):
        assert build_embedder(model, backend, str(cache)).backend == backend
    return cache


def minimal_pdf(text: str) -> bytes:
    """A valid one-page PDF with `text` drawn in Helvetica (no PDF library needed)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def stored_ids(store_dir) -> list[str]:
    """Sorted chunk ids of an embedded store, read by a fresh process (no cached client)."""
    import json
    import subprocess

    code = (
        "import chromadb,json,sys;c=chromadb.PersistentClient(path=sys.argv[1]);"
        "print(json.dumps(sorted(c.get_collection('mlsd_corpus').get(include=[])['ids'])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(store_dir)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


@pytest.fixture(autouse=True, scope="session")
def _history_database(tmp_path_factory):
    """Critiques and interviews save to the learner history: in tests, to a session-wide
    throwaway SQLite file (inherited by `run_cli` subprocesses), never to .mlsd/mlsd.db."""
    path = tmp_path_factory.mktemp("history") / "mlsd.db"
    previous = os.environ.get("MLSD_DATABASE_URL")
    os.environ["MLSD_DATABASE_URL"] = f"sqlite:///{path}"
    yield path
    if previous is None:
        os.environ.pop("MLSD_DATABASE_URL", None)
    else:
        os.environ["MLSD_DATABASE_URL"] = previous


class PostgresServer:
    """A real throwaway PostgreSQL cluster (Debian's `postgresql` binaries) on a free loopback
    port, trust auth, data in a temp folder. Run as the `postgres` user when we are root,
    because initdb refuses root."""

    def __init__(self, base: Path) -> None:
        import glob
        import shutil
        import subprocess

        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        initdb = bins[-1] if bins else shutil.which("initdb")
        if not initdb:
            pytest.skip("PostgreSQL server binaries are not installed (make postgres)")
        self.bin = Path(initdb).parent
        self.data = base / "pgdata"
        self.port = free_port()
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            import pwd

            try:
                pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no postgres user for initdb")
            shutil.chown(base, "postgres")
            self.prefix = ["runuser", "-u", "postgres", "--"]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "text": True}
        done = subprocess.run(
            [*self.prefix, str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust"]
            + ["-U", "postgres", "--no-sync"],
            **quiet,
        )
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr.strip()}")
        opts = f"-p {self.port} -h 127.0.0.1 -k {base} -c fsync=off"
        started = subprocess.run(
            [*self.prefix, str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts]
            + ["-l", str(base / "pg.log"), "-w", "-t", "60", "start"],
            **quiet,
        )
        if started.returncode:
            raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()}")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        import subprocess

        subprocess.run(
            [*self.prefix, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"],
            capture_output=True,
            timeout=60,
        )


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A PostgreSQL server for the whole session; skips when the binaries or the driver are
    missing (`make postgres` installs both on Debian)."""
    import shutil
    import tempfile

    pytest.importorskip("psycopg")
    # Not under pytest's basetemp: its parents are private to root, and the server runs as
    # the postgres user when we are root.
    base = Path(tempfile.mkdtemp(prefix="mlsd-pg-"))
    server = PostgresServer(base)
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)
