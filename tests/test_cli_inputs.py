"""Inputs that used to crash or mislead the CLI (issue 13 items 8, 10, 12), run as the real
`mlsd` in subprocesses: bytes that are not UTF-8, bad --store / --chroma-url / -k, over-long
--queries lines, terminal control sequences in passages and file names, and an LLM endpoint
set by a `.env` file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from conftest import FIXTURES, ROOT, run_cli

# Raw controls a terminal acts on (newline and tab are fine).
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
ESCAPED_DOC = (
    "# Drift \x1b]0;owned-title\x07alarms\n\n"
    "Drift alarms fire when the population stability index stays high for a day. "
    "\x1b]52;c;Y2xpcGJvYXJk\x07See \x1b]8;;http://attacker.example/\x1b\\the runbook"
    "\x1b]8;;\x1b\\ and \x1b[2J\x1b[31mclear\x1b[0m the \x9b1mscreen\r and \x1bP1$qm\x1b\\ "
    "reset \u202eroloc\u202c.\n"
)


def run_bytes(*args: bytes | str, input: bytes | None = None, cwd=ROOT, env=None):
    """`mlsd` with arguments and stdin as raw bytes (run_cli takes text only)."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *[os.fsencode(a) for a in args]],
        input=input,
        capture_output=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory, embedder):
    """The fixture documents plus one whose text and heading carry terminal sequences."""
    import shutil

    from core.settings import Settings
    from ingest.pipeline import ingest_paths

    base = tmp_path_factory.mktemp("cli_inputs")
    docs = base / "docs"
    shutil.copytree(FIXTURES / "docs", docs)
    (docs / "drift-alarms.md").write_text(ESCAPED_DOC, encoding="utf-8")
    settings = Settings(store_dir=base / "store")
    report = ingest_paths([docs], settings, embedder=embedder)
    assert not report.failed, report.failed
    return str(settings.store_dir)


def _one_error_line(result, *needles: str) -> None:
    err = result.stderr if isinstance(result.stderr, str) else result.stderr.decode()
    assert "Traceback" not in err, err[-2000:]
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]


# -- terminal control sequences (item 10) ------------------------------------------------------
def test_terminal_safe_removes_whole_sequences_and_keeps_text():
    from cli.terminal import json_safe, terminal_safe

    shown = terminal_safe(ESCAPED_DOC + "tab\there\n")
    assert not RAW_CONTROL.search(shown) and "\u202e" not in shown
    for payload in ("owned-title", "Y2xpcGJvYXJk", "attacker.example", "[2J", "31m", "$qm"):
        assert payload not in shown  # the whole sequence goes, not only its ESC
    assert "Drift alarms" in shown and "the runbook" in shown and "tab\there\n" in shown
    # an OSC split across streamed chunks: the tail is inert text, never a sequence
    assert not RAW_CONTROL.search(terminal_safe("a\x1b]52;c;") + terminal_safe("ZZ\x07b"))
    data = {"text": ESCAPED_DOC}
    dumped = json_safe(json.dumps(data, ensure_ascii=False))
    assert not RAW_CONTROL.search(dumped) and json.loads(dumped) == data


def test_search_text_output_has_no_terminal_sequences(store):
    result = run_cli("search", "drift alarms population stability", "-k", "3", "--store", store)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "the runbook" in result.stdout  # the passage was printed
    assert not RAW_CONTROL.search(result.stdout + result.stderr), repr(result.stdout)
    assert "Y2xpcGJvYXJk" not in result.stdout and "owned-title" not in result.stdout


def test_search_json_keeps_the_data_escaped(store):
    result = run_cli("search", "drift alarms", "-k", "1", "--store", store, "--json")
    assert not RAW_CONTROL.search(result.stdout)
    hits = json.loads(result.stdout)
    assert "\x1b]52;c;" in hits[0]["text"] and "\x9b" in hits[0]["text"]


def test_ingest_failed_lines_have_no_terminal_sequences(store, tmp_path):
    bad = tmp_path / "evil\x1b]0;pwned-title\x07\x1b]52;c;Y2xpcA==\x07.md"
    bad.write_text("")  # empty: one failed entry whose line names the file
    result = run_cli("ingest", str(bad), "--store", store)
    assert result.returncode == 1
    failed = [line for line in result.stderr.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1 and "empty file" in failed[0], result.stderr
    assert not RAW_CONTROL.search(result.stderr), repr(result.stderr)
    assert "pwned-title" not in result.stderr and "Y2xpcA==" not in result.stderr


# -- bytes that are not UTF-8 (item 8): replaced by U+FFFD with a warning, never a crash -----
def test_non_utf8_on_critique_stdin_is_replaced_with_a_warning():
    result = run_bytes("critique", "-", "--no-save", "--json", input=b"x \xe9 \xff design")
    err = result.stderr.decode()
    assert result.returncode == 0, err[-2000:]
    assert "Traceback" not in err and "not UTF-8" in err
    json.loads(result.stdout)  # a report


def test_non_utf8_in_ask_and_search_arguments(store):
    asked = run_bytes("ask", b"drift \xe9 alarms", "--offline", "--store", store)
    searched = run_bytes("search", b"drift \xe9", "--store", store)
    for result in (asked, searched):
        err = result.stderr.decode()
        assert result.returncode == 0, err[-2000:]
        assert "Traceback" not in err and "not UTF-8" in err
        assert result.stdout.strip()


def test_piped_chat_goes_on_after_a_line_that_is_not_utf8(store):
    lines = b"what are drift alarms \xe9\xff?\nwhat is a canary release?\n/exit\n"
    result = run_bytes("chat", "--offline", "--store", store, input=lines)
    err = result.stderr.decode()
    assert result.returncode == 0, err[-2000:]
    assert "Traceback" not in err and "not UTF-8" in err
    assert err.count("(offline") == 2  # both messages were answered
    assert "anary" in result.stdout.decode()


# -- bad flags (item 8): one line, exit 2 ---------------------------------------------------
def test_store_that_is_a_file_is_a_usage_error(tmp_path):
    afile = tmp_path / "store.txt"
    afile.write_text("not a store")
    for args in (("search", "drift"), ("stats",), ("ask", "drift", "--offline")):
        result = run_cli(*args, "--store", str(afile))
        assert result.returncode == 2, (args, result.stderr[-1000:])
        _one_error_line(result, "--store", "is a file")
        result = run_cli(*args, "--store", str(afile / "inside"))
        assert result.returncode == 2 and "is a file" in result.stderr
    assert afile.read_text() == "not a store"


@pytest.mark.parametrize("url", ["http://[::1", "ftp://host:8000", "http://host:99999", "host"])
def test_malformed_chroma_url_is_a_usage_error(url):
    result = run_cli("search", "drift", "--chroma-url", url)
    assert result.returncode == 2, result.stderr[-1000:]
    _one_error_line(result, "--chroma-url")


@pytest.mark.parametrize("k", ["0", "-3"])
def test_k_below_one_is_a_usage_error_for_search_and_ask(store, k):
    for args in (("search", "drift"), ("ask", "drift", "--offline")):
        result = run_cli(*args, "-k", k, "--store", store)
        assert result.returncode == 2, (args, result.stderr[-1000:])
        _one_error_line(result, "-k")


def test_queries_file_skips_an_over_long_line_and_goes_on(store, tmp_path):
    queries = tmp_path / "q.txt"
    queries.write_bytes(
        b"drift alarms\n" + b"a" * 50_000 + b"\n\xff\xfe canary release\nrollback error rate"
    )
    result = run_cli("search", "--queries", str(queries), "--store", store, "--json")
    assert result.returncode == 1  # one line was skipped
    done = [json.loads(line)["query"] for line in result.stdout.splitlines()]
    assert done == ["drift alarms", "\ufffd\ufffd canary release", "rollback error rate"]
    _one_error_line(result, "line 2", "longer than")


# -- an endpoint from .env (item 12) -------------------------------------------------------
def test_endpoint_from_dotenv_is_logged_and_shown_by_stats(store, tmp_path):
    (tmp_path / ".env").write_text("OPENAI_BASE_URL=http://user:pw@127.0.0.1:9/v1?key=x\n")
    result = run_bytes("stats", "--store", store, "--json", cwd=tmp_path)
    err = result.stderr.decode()
    assert result.returncode == 0, err[-2000:]
    assert "endpoint from .env: http://127.0.0.1:9/v1" in err
    data = json.loads(result.stdout)
    assert data["llm_endpoint"] == "http://127.0.0.1:9/v1"  # no credentials, no query
    assert data["llm_endpoint_source"] == ".env"
    assert "pw" not in err + result.stdout.decode()
    text = run_bytes("stats", "--store", store, cwd=tmp_path).stdout.decode()
    assert f"llm endpoint: http://127.0.0.1:9/v1 (from .env: {tmp_path / '.env'})" in text
    # the real environment wins over .env, and is not a warning
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:10/v1"}
    result = run_bytes("stats", "--store", store, "--json", cwd=tmp_path, env=env)
    assert "endpoint from .env" not in result.stderr.decode()
    assert json.loads(result.stdout)["llm_endpoint_source"] == "environment"
