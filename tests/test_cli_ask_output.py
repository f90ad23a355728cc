"""`mlsd ask` as a person reads it in a terminal: the answer, one blank line, the sources."""

from __future__ import annotations

import re

from conftest import run_cli


def test_ask_prints_answer_then_sources_after_one_blank_line(corpus_settings):
    result = run_cli(
        "ask", "How do I detect drift?", "--offline", "--store", str(corpus_settings.store_dir)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    answer, sources = out.split("\nSources:\n")
    assert re.search(r"\[1\]", answer)  # cited sentences came first
    assert answer.endswith("\n") and not answer.endswith("\n\n")  # exactly one blank line
    assert "\n\n\n" not in out
    assert sources.splitlines()[0].startswith("[1] ")
    assert "(offline," in result.stderr
