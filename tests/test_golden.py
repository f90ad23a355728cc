"""Checks on the golden question set (eval/datasets/golden.jsonl). Fast and model-free.

Each row's `reference_contexts[i]` must be a passage of the section named by `sources[i]`
(`file#Heading`, file relative to corpus/), compared modulo whitespace because the corpus is
hard-wrapped. Questions must paraphrase their passages, or retrieval scores are inflated.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
from test_corpus import CORPUS, ROOT, STAGE_IDS, markdown_sections, normalize

from scripts.check_originality import ngrams, words

GOLDEN = ROOT / "eval" / "datasets" / "golden.jsonl"
KINDS = {"fact", "how-to", "comparison", "multi-hop", "out-of-scope"}
MIN_ROWS = 80
MIN_OUT_OF_SCOPE = 8
MIN_MULTI_HOP = 10
MAX_SHARED_RUN = 5  # a question may share at most 5 consecutive words with its passages
REQUIRED = {
    "id": str,
    "question": str,
    "reference": str,
    "reference_contexts": list,
    "sources": list,
    "stage": str,
    "kind": str,
}


def load_rows() -> list[dict]:
    lines = GOLDEN.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


ROWS = load_rows()


def row_id(row: dict) -> str:
    return str(row.get("id"))


@cache
def sections_of(relative: str) -> dict[str, str]:
    return markdown_sections(CORPUS / relative)


def test_enough_rows():
    assert len(ROWS) >= MIN_ROWS


@pytest.mark.parametrize("row", ROWS, ids=row_id)
def test_row_fields_and_types(row: dict):
    for field, kind in REQUIRED.items():
        assert isinstance(row.get(field), kind), f"{field} must be {kind.__name__}"
    for field in ("id", "question", "reference"):
        assert row[field].strip(), f"{field} is blank"
    assert all(isinstance(c, str) and c.strip() for c in row["reference_contexts"])
    assert all(isinstance(s, str) and s.strip() for s in row["sources"])
    assert row["stage"] in STAGE_IDS
    assert row["kind"] in KINDS


def test_ids_are_unique():
    counts = Counter(row_id(r) for r in ROWS)
    assert not [i for i, n in counts.items() if n > 1]


@pytest.mark.parametrize("row", ROWS, ids=row_id)
def test_targets_match_kind(row: dict):
    contexts, sources = row["reference_contexts"], row["sources"]
    if row["kind"] == "out-of-scope":
        assert contexts == [] and sources == []
        return
    assert contexts, "an in-scope row needs at least one reference context"
    assert len(contexts) == len(sources), "reference_contexts[i] comes from sources[i]"
    if row["kind"] == "multi-hop":
        assert len(contexts) >= 2


@pytest.mark.parametrize("row", [r for r in ROWS if r["sources"]], ids=row_id)
def test_sources_resolve_and_contain_their_contexts(row: dict):
    for source, context in zip(row["sources"], row["reference_contexts"], strict=False):
        relative, _, heading = source.partition("#")
        path = CORPUS / relative
        assert path.is_file(), f"{relative} is not a corpus file"
        if not heading:
            assert normalize(context) in normalize(path.read_text(encoding="utf-8"))
            continue
        sections = sections_of(relative)
        assert heading in sections, f"no heading {heading!r} in {relative}"
        assert normalize(context) in sections[heading], f"context not in {source}"


@pytest.mark.parametrize("row", [r for r in ROWS if r["reference_contexts"]], ids=row_id)
def test_question_paraphrases_its_contexts(row: dict):
    n = MAX_SHARED_RUN + 1
    question = ngrams(words(row["question"]), n)
    for context in row["reference_contexts"]:
        shared = question & ngrams(words(context), n)
        assert not shared, f"question copies {[' '.join(g) for g in shared]}"


def test_kind_counts():
    kinds = Counter(r["kind"] for r in ROWS)
    assert kinds["out-of-scope"] >= MIN_OUT_OF_SCOPE
    assert kinds["multi-hop"] >= MIN_MULTI_HOP
    assert {"fact", "how-to", "comparison"} <= set(kinds)


def test_every_stage_is_covered():
    assert {r["stage"] for r in ROWS} == STAGE_IDS


def test_all_document_types_are_cited():
    folders = {s.split("/", 1)[0] for r in ROWS for s in r["sources"]}
    assert {"framework", "concepts", "solutions"} <= folders


def test_multi_hop_rows_span_documents():
    for row in (r for r in ROWS if r["kind"] == "multi-hop"):
        files = {s.partition("#")[0] for s in row["sources"]}
        assert len(files) >= 2, f"{row_id(row)} draws on a single document"


@pytest.mark.parametrize("path", [GOLDEN], ids=["golden"])
def test_file_is_utf8_json_lines(path: Path):
    for number, line in enumerate(path.read_bytes().decode("utf-8").splitlines(), start=1):
        if line.strip():
            assert isinstance(json.loads(line), dict), f"line {number} is not a JSON object"
