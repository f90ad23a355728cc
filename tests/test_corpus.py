"""Checks on the shipped corpus: front matter, document shape, size and originality.

Fast and model-free. `markdown_sections` is also used by test_golden.py to resolve
`file#Heading` sources.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ingest.readers import split_front_matter
from scripts.check_originality import shared_runs

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
SEEDS = ROOT.parent / "shared" / "seeds"  # reference articles; not shipped with the product

STAGE_IDS = {
    "problem_framing",
    "high_level_design",
    "data_features",
    "modeling",
    "evaluation",
    "deployment_serving",
    "monitoring",
    "tradeoffs_deep_dives",
}
DOC_TYPES = {"framework", "concept", "solution"}
FAMILIES = {"search_recommendation", "supervised_prediction", "generative_ai"}
FOLDER_TYPE = {"framework": "framework", "concepts": "concept", "solutions": "solution"}
SOLUTION_HEADINGS = [
    "Problem framing",
    "High-level design",
    "Data and features",
    "Modeling",
    "Evaluation",
    "Deployment and serving",
    "Monitoring",
    "Trade-offs and deep dives",
    "Summary",
]
MIN_CONCEPTS = 15
MIN_SOLUTIONS = 12
MIN_WORDS = 40_000

HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
DOCS = sorted(CORPUS.glob("*/*.md"))


def doc_id(path: Path) -> str:
    return path.relative_to(CORPUS).as_posix()


def normalize(text: str) -> str:
    """Collapse whitespace: the corpus is hard-wrapped, passages are compared modulo wrapping."""
    return " ".join(text.split())


def headings(body: str) -> list[tuple[int, str, int]]:
    """(level, text, line index) for each markdown heading outside code fences."""
    found, in_fence = [], False
    for index, line in enumerate(body.splitlines()):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        match = None if in_fence else HEADING.match(line)
        if match:
            found.append((len(match.group(1)), match.group(2), index))
    return found


def markdown_sections(path: Path) -> dict[str, str]:
    """Heading text -> normalized text of its section (subsections included, heading excluded)."""
    _, body = split_front_matter(path.read_text(encoding="utf-8"))
    lines = body.splitlines()
    marks = headings(body)
    sections: dict[str, str] = {}
    for n, (level, title, start) in enumerate(marks):
        end = next((i for lv, _, i in marks[n + 1 :] if lv <= level), len(lines))
        sections.setdefault(title, normalize("\n".join(lines[start + 1 : end])))
    return sections


def front_matter(path: Path) -> dict:
    return split_front_matter(path.read_text(encoding="utf-8"))[0]


def test_corpus_folders_exist():
    assert DOCS, f"no markdown documents under {CORPUS}"
    assert {p.parent.name for p in DOCS} <= set(FOLDER_TYPE), "unexpected corpus folder"


@pytest.mark.parametrize("path", DOCS, ids=doc_id)
def test_front_matter_is_valid(path: Path):
    meta = front_matter(path)
    assert meta, "missing or unparsable YAML front matter"
    assert isinstance(meta.get("title"), str) and meta["title"].strip(), "title"
    assert meta.get("type") in DOC_TYPES, f"type {meta.get('type')!r}"
    assert meta["type"] == FOLDER_TYPE[path.parent.name], "type does not match its folder"
    stages = meta.get("stages")
    assert isinstance(stages, list) and stages, "stages must be a non-empty list"
    assert set(stages) <= STAGE_IDS, f"unknown stages {set(stages) - STAGE_IDS}"
    tags = meta.get("tags")
    assert isinstance(tags, list) and tags, "tags must be a non-empty list"
    assert all(isinstance(t, str) and t.strip() for t in tags), "tags must be strings"
    if meta["type"] == "solution":
        assert isinstance(meta.get("question"), str) and meta["question"].strip(), "question"
        assert meta.get("family") in FAMILIES, f"family {meta.get('family')!r}"


@pytest.mark.parametrize("path", DOCS, ids=doc_id)
def test_single_title_heading_matches_front_matter(path: Path):
    # The chunker swaps the first `#` heading for the front-matter title in section paths.
    _, body = split_front_matter(path.read_text(encoding="utf-8"))
    h1 = [title for level, title, _ in headings(body) if level == 1]
    assert h1 == [front_matter(path)["title"]]


@pytest.mark.parametrize("path", [p for p in DOCS if p.parent.name == "solutions"], ids=doc_id)
def test_solution_has_the_nine_sections_in_order(path: Path):
    _, body = split_front_matter(path.read_text(encoding="utf-8"))
    h2 = [title for level, title, _ in headings(body) if level == 2]
    assert h2 == SOLUTION_HEADINGS


@pytest.mark.parametrize("path", DOCS, ids=doc_id)
def test_every_section_has_text(path: Path):
    for title, text in markdown_sections(path).items():
        assert text, f"heading {title!r} has nothing under it"


def test_enough_concepts_and_solutions():
    types = [front_matter(p).get("type") for p in DOCS]
    assert types.count("concept") >= MIN_CONCEPTS
    assert types.count("solution") >= MIN_SOLUTIONS


def test_corpus_is_large_enough():
    # Same count as `cat corpus/*/*.md | wc -w` (whitespace-separated tokens).
    total = sum(len(p.read_text(encoding="utf-8").split()) for p in DOCS)
    assert total >= MIN_WORDS, f"{total} words, need {MIN_WORDS}"


@pytest.mark.skipif(
    not SEEDS.is_dir(), reason=f"seed articles not available at {SEEDS} (dev-only check)"
)
def test_no_twelve_word_run_copied_from_seeds():
    found = shared_runs(SEEDS, CORPUS, 12)
    assert not found, "\n".join(f"{doc}: {run}" for doc, runs in found.items() for run in runs)
