"""Headings detected in text without markdown headings: each pattern, and lines that only
look like headings (list items, short sentences, table rows, wrapped paragraphs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.chunking import chunk_document
from ingest.sections import has_markdown_headings, humanised_name, structure

PARA = (
    "Offline metrics rarely move in step with the business metric, so the design names both "
    "and explains how one predicts the other before any model is trained."
)
PARA2 = (
    "Latency budgets decide how many candidates the ranker may score, which in turn bounds "
    "the size of the model and the number of features fetched per request."
)


def headings(text: str) -> list[str]:
    return [line for line in structure(text).text.splitlines() if line.startswith("#")]


def names(text: str) -> list[str]:
    return [line.lstrip("#").strip() for line in headings(text)]


@pytest.mark.parametrize(
    "line",
    [
        "Step 3: Choose the offline metric",
        "Stage 2: High-level design",
        "Phase IV - Rollout",
        "3. Data preparation",
        "4) Serving and latency",
        "2.1 Negative sampling",
        "Problem framing (5 min)",
        "Modeling choices (~10-12 minutes)",
        "Wrap-up questions (remaining time)",
        "FEATURE ENGINEERING",
        "**Ranking stage**",
    ],
)
def test_strong_patterns_become_headings(line):
    text = f"{PARA}\n\n{line}\n\n{PARA2}\n"
    assert names(text) == [line.strip("*")]


@pytest.mark.parametrize(
    "line", ["Candidate Generation", "Why Offline Metrics Mislead", "Cold start", "Which loss?"]
)
def test_short_standalone_lines_become_headings(line):
    assert names(f"{PARA}\n\n{line}\n\n{PARA2}\n") == [line]
    # paragraphs one per line, no blank lines (as copied from a web page)
    assert names(f"{PARA}\n{line}\n{PARA2}\n") == [line]


def test_underlined_lines_become_headings_and_lose_the_underline():
    text = f"Serving\n=======\n\n{PARA}\n\nCaching layer\n-------------\n\n{PARA2}\n"
    marked = structure(text).text
    assert names(text) == ["Serving", "Caching layer"]
    assert "====" not in marked and "----" not in marked


def test_levels_weak_under_strong_and_title_first():
    text = (
        f"Designing A Feed Ranker\n\n{PARA}\n\nStep 1: Framing (5 min)\n\n{PARA2}\n\n"
        f"Clarifying Questions\n\n{PARA}\n\nStep 2: Data\n\n{PARA2}\n"
    )
    result = structure(text)
    assert result.title == "Designing A Feed Ranker" and result.detected
    assert headings(text) == [
        "# Designing A Feed Ranker",
        "## Step 1: Framing (5 min)",
        "### Clarifying Questions",
        "## Step 2: Data",
    ]


@pytest.mark.parametrize(
    "text",
    [
        # bullets and numbered list items that are sentences
        f"{PARA}\n\n- Precision at k\n- Recall at k\n\n1. We log every impression.\n\n{PARA2}",
        # items of a list announced by a colon, one per line
        f"The three families are:\nRetrieval Models\nRanking Models\nRe-ranking Rules\n{PARA2}",
        # a short sentence in prose, a clause ending with a comma
        f"{PARA}\n\nThat is all.\n\nIn short,\n{PARA2}",
        # table rows
        f"{PARA}\n\nMetric | Offline | Online\nRecall | 0.41 | n/a\n\n{PARA2}",
        f"{PARA}\n\nMetric     Offline     Online\n\n{PARA2}",
        # a wrapped paragraph: short last line after a line that ends mid-sentence
        "Embeddings from the two towers are compared with a dot product and the nearest\n"
        "Items Retrieved\nAre then passed to the ranker for scoring.\n",
        # a line continued by the next one (it starts in lower case)
        f"{PARA}\n\nRanking Features\nare computed offline and served from a cache.\n",
        # a menu: a run of short lines with no text between
        f"{PARA}\n\nHome\nPricing\nBlog\nContact\n\n{PARA2}",
        # nothing after it
        f"{PARA}\n\nFurther Reading",
    ],
)
def test_non_headings_stay_text(text):
    result = structure(text)
    assert headings(text) == [] and not result.detected and result.text == text


def test_hard_wrapped_text_keeps_full_width_lines_in_their_paragraph():
    """PDF text: every paragraph wrapped at one width; a wrapped line that happens to be in
    Title Case runs on into the next line and is no heading."""
    import textwrap

    runs_on = (  # Title Case, ten words, near the wrap width, and continued by the next line
        "Use Feature Stores So Online Serving Reads Identical Feature Values\n"
        "Everywhere, which keeps training and serving in agreement for all models."
    )
    wrapped = ["\n".join(textwrap.wrap(p, 72)) for p in (PARA, PARA2, PARA + " " + PARA2)]
    text = (
        f"{wrapped[0]}\n{runs_on}\n{wrapped[1]}\nServing Path\n{wrapped[2]}\n"
        f"Caching\n{wrapped[0]}\n"
    )
    assert names(text) == ["Serving Path", "Caching"]
    # without the wrapping around it, the same line is a heading
    assert names(f"{PARA}\n{runs_on}\n") == [runs_on.splitlines()[0]]
    # a long title wrapped inside its parentheses: the tail line is not a heading of its own
    tail = f"{PARA}\n\nStage 5: Productionization and the rollout plan (the\nlast step) (5 min)\n"
    assert "last step) (5 min)" not in names(tail + PARA2)


def test_menu_at_the_top_keeps_only_the_line_before_the_text():
    menu = "Home\nCourses\nPricing\nLog in\n"
    text = f"{menu}Shipping Models Safely\n{PARA}\nCanary Releases\n{PARA2}"
    result = structure(text)
    assert result.title == "Shipping Models Safely"
    assert names(text) == ["Shipping Models Safely", "Canary Releases"]


def test_generic_first_heading_is_not_the_title():
    text = f"Introduction\n\n{PARA}\n\nRetrieval Stage\n\n{PARA2}\n"
    result = structure(text)
    assert result.title is None and names(text) == ["Introduction", "Retrieval Stage"]


def test_markdown_headings_are_left_alone():
    text = f"# Own title\n\nStep 1: Framing\n\n{PARA}\n"
    assert has_markdown_headings(text)
    assert structure(text).text == text and not structure(text).detected
    fenced = f"```\n# a shell comment\n```\n\nStep 1: Framing\n\n{PARA}\n"
    assert not has_markdown_headings(fenced)
    assert not has_markdown_headings("#hashtag #another\n\ntext")


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("notes/feature-store_basics.txt", "Feature store basics"),
        ("007_3fa9c2d81b7e4410.txt", "007 3fa9c2d81b7e4410"),
        ("Ranking_Notes_4f3a9c2d81b7e4410.pdf", "Ranking Notes"),
    ],
)
def test_humanised_file_names(source, name):
    assert humanised_name(source) == name


def test_plain_text_chunks_name_detected_sections_and_title():
    text = (
        f"Designing A Feed Ranker\n\n{PARA}\n\nStep 1: Framing (5 min)\n\n{PARA2}\n\n"
        f"Clarifying Questions\n\n{PARA}\n"
    )
    chunks = chunk_document(text, "feed_ranker_3fa9c2d81b7e4410.txt", {}, "h", 0, 40)
    sections = [c.metadata["section"] for c in chunks]
    assert {c.metadata["title"] for c in chunks} == {"Designing A Feed Ranker"}
    assert sections == [
        "Designing A Feed Ranker",
        "Designing A Feed Ranker > Step 1: Framing (5 min)",
        "Designing A Feed Ranker > Step 1: Framing (5 min) > Clarifying Questions",
    ]
    untitled = chunk_document(f"{PARA}\n\nRetrieval Stage\n\n{PARA2}", "x_notes.txt", {}, "h", 0, 0)
    assert untitled[0].metadata["title"] == "X notes"
    assert [c.metadata["section"] for c in untitled] == ["X notes", "Retrieval Stage"]


def test_html_without_heading_tags_gets_sections(tmp_path):
    from ingest.readers import read_file

    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>Ranking Notes</title></head><body>"
        f"<p><b>Candidate Generation</b></p><p>{PARA}</p>"
        f"<p><b>Stage 2: Ranking (10 min)</b></p><p>{PARA2}</p></body></html>"
    )
    doc = read_file(page, "page.html", 10**6)
    chunks = chunk_document(doc.text, "page.html", doc.metadata, "h", 0, 40)
    assert {c.metadata["title"] for c in chunks} == {"Ranking Notes"}
    assert [c.metadata["section"].split(" > ")[-1] for c in chunks] == [
        "Candidate Generation",
        "Stage 2: Ranking (10 min)",
    ]


SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"


def test_seed_articles_get_sections_that_are_not_the_file_name():
    """Dev-only check on outside material (skipped when the folder is absent)."""
    if not SEEDS.is_dir():
        pytest.skip(f"{SEEDS} absent (outside material, dev only)")
    for path in sorted(SEEDS.glob("*.txt")):
        chunks = chunk_document(path.read_text(encoding="utf-8"), path.name, {}, "h", 0, 50)
        named = [c for c in chunks if c.metadata["section"] != humanised_name(path.name)]
        assert len(named) >= 0.8 * len(chunks), path.name
        assert len({c.metadata["section"] for c in chunks}) >= 3, path.name
