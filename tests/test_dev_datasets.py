"""Checks on the dev question sets over outside material and on the follow-up set.

`eval/datasets/dev_seeds.jsonl` (questions over ../shared/seeds) and `dev_notes.jsonl` (over
../shared/dev-corpus/notes) hold learner-style questions with verbatim `reference_contexts` and
`answer_spans`. The row checks run everywhere; the checks against the outside text skip with a
reason when ../shared is absent (the product never needs it).

`eval/datasets/followups.jsonl` holds two-turn conversations over our own corpus: turn 2 changes
the aspect and points back with it/that/there; `expected_sources_any` name corpus files (or
`file#Heading`) that answer the new aspect, `aspect_terms_any` words an on-aspect answer contains.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from test_corpus import CORPUS, markdown_sections

from eval.dataset import parse_lines
from scripts.check_originality import ngrams, words

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT / "eval" / "datasets"
SHARED = Path(__file__).resolve().parents[2] / "shared"  # outside material; not shipped

# name -> (file, id prefix, folder of the outside text, whether its first line is a comment header)
DEV_SETS = {
    "seeds": (DATASETS / "dev_seeds.jsonl", "seeds", SHARED / "seeds", False),
    "notes": (DATASETS / "dev_notes.jsonl", "notes", SHARED / "dev-corpus" / "notes", True),
}
MIN_IN_SCOPE = 36
MIN_OUT_OF_SCOPE = 6
MIN_SOURCES = {"seeds": 5, "notes": 8}
SPAN_WORDS = (4, 25)
MAX_REFERENCE_RUN = 6  # a reference answer may not repeat 6 consecutive words of its source
REQUIRED = {
    "id": str,
    "question": str,
    "reference": str,
    "reference_contexts": list,
    "answer_spans": list,
    "sources": list,
    "kind": str,
    "split": str,
}


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def load_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def expected_split(position: int) -> str:
    """Every third row (1-based, in id order) is held out for judging; the rest is for tuning."""
    return "test" if position % 3 == 0 else "tune"


def source_texts(name: str) -> dict[str, str]:
    _, _, folder, has_header = DEV_SETS[name]
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent: the outside material is only available in development")
    texts = {}
    for path in folder.iterdir():
        text = path.read_text(encoding="utf-8")
        if has_header:  # the HTML comment naming the source is not part of the document
            text = text.split("\n", 1)[1]
        texts[path.name] = text
    return texts


@pytest.fixture(params=sorted(DEV_SETS))
def dev_set(request) -> tuple[str, list[dict]]:
    return request.param, load_rows(DEV_SETS[request.param][0])


def test_rows_have_required_fields_and_kinds(dev_set):
    name, rows = dev_set
    for row in rows:
        for field, kind in REQUIRED.items():
            assert isinstance(row.get(field), kind), f"{row.get('id')}: {field} must be {kind}"
        assert row["question"].strip() and row["reference"].strip(), row["id"]
        assert row["kind"] in {"in-scope", "out-of-scope"}, row["id"]
        if row["kind"] == "in-scope":
            assert row["reference_contexts"] and row["answer_spans"] and row["sources"], row["id"]
            assert all("#" not in s and "/" not in s for s in row["sources"]), row["id"]
        else:
            assert not row["sources"] and not row["answer_spans"], row["id"]
    kinds = Counter(row["kind"] for row in rows)
    assert kinds["in-scope"] >= MIN_IN_SCOPE and kinds["out-of-scope"] >= MIN_OUT_OF_SCOPE
    assert len({s for row in rows for s in row["sources"]}) >= MIN_SOURCES[name]


def test_ids_are_unique_ordered_and_splits_deterministic(dev_set):
    name, rows = dev_set
    prefix = DEV_SETS[name][1]
    ids = [row["id"] for row in rows]
    assert ids == [f"{prefix}-{n:02d}" for n in range(1, len(rows) + 1)]
    assert [row["split"] for row in rows] == [expected_split(n) for n in range(1, len(rows) + 1)]


def test_answer_spans_are_short_and_inside_a_reference_context(dev_set):
    _, rows = dev_set
    for row in rows:
        contexts = [normalize(c) for c in row["reference_contexts"]]
        for span in row["answer_spans"]:
            assert SPAN_WORDS[0] <= len(span.split()) <= SPAN_WORDS[1], (row["id"], span)
            assert any(normalize(span) in c for c in contexts), (row["id"], span)


def test_rows_load_with_the_eval_loader(dev_set):
    name, rows = dev_set
    path = DEV_SETS[name][0]
    dataset = parse_lines(path.read_text(encoding="utf-8").splitlines(), str(path))
    assert not dataset.bad_lines
    assert [r.id for r in dataset.rows] == [row["id"] for row in rows]
    assert [r.out_of_scope for r in dataset.rows] == [row["kind"] == "out-of-scope" for row in rows]


def test_reference_contexts_are_verbatim_in_their_sources(dev_set):
    name, rows = dev_set
    texts = {file: normalize(text) for file, text in source_texts(name).items()}
    for row in rows:
        for source in row["sources"]:
            assert source in texts, f"{row['id']}: unknown source {source}"
        for context in row["reference_contexts"]:
            found = any(normalize(context) in texts[s] for s in row["sources"])
            assert found, f"{row['id']}: context not verbatim in {row['sources']}: {context[:60]}"


def test_answer_spans_stay_within_one_source_line(dev_set):
    """Answers re-render lines as list items or paragraphs: a span across a line break breaks."""
    name, rows = dev_set
    texts = source_texts(name)
    lines = {file: [normalize(line) for line in text.splitlines()] for file, text in texts.items()}
    for row in rows:
        for span in row["answer_spans"]:
            found = any(normalize(span) in line for s in row["sources"] for line in lines[s])
            assert found, f"{row['id']}: span crosses a line break: {span!r}"


def test_questions_cover_each_file_from_start_to_end(dev_set):
    """Every source gets a question in its first, middle and last third (no clustering)."""
    name, rows = dev_set
    texts = {file: normalize(text) for file, text in source_texts(name).items()}
    thirds: dict[str, set[int]] = {file: set() for file in texts}
    for row in rows:
        for context in row["reference_contexts"]:
            for source in row["sources"]:
                at = texts[source].find(normalize(context))
                if at >= 0:
                    thirds[source].add(min(2, 3 * at // len(texts[source])))
    assert {file: seen for file, seen in thirds.items() if seen != {0, 1, 2}} == {}


def test_references_are_written_in_own_words(dev_set):
    name, rows = dev_set
    texts = source_texts(name)
    for row in rows:
        runs = ngrams(words(row["reference"]), MAX_REFERENCE_RUN)
        for source in row["sources"]:
            shared = runs & ngrams(words(texts[source]), MAX_REFERENCE_RUN)
            assert not shared, f"{row['id']} copies {' '.join(sorted(shared)[0])!r} from {source}"


FOLLOWUPS = DATASETS / "followups.jsonl"
MIN_FOLLOWUPS = 30
ASPECTS = {
    "monitoring",
    "metrics",
    "time_budget",
    "leakage",
    "cost",
    "latency",
    "data",
    "labels",
    "deployment",
    "tradeoffs",
    "failure_modes",
    "retraining",
}
BACK_REFERENCE = re.compile(r"\b(it|that|there|this|them|those)\b", re.IGNORECASE)
MAX_FOLLOWUP_WORDS = 12


def followup_rows() -> list[dict]:
    return load_rows(FOLLOWUPS)


def test_followups_have_fields_ids_and_aspects():
    rows = followup_rows()
    assert len(rows) >= MIN_FOLLOWUPS
    assert [r["id"] for r in rows] == [f"fu-{n:02d}" for n in range(1, len(rows) + 1)]
    for row in rows:
        assert isinstance(row["turns"], list) and len(row["turns"]) == 2, row["id"]
        assert all(isinstance(t, str) and t.strip() for t in row["turns"]), row["id"]
        assert isinstance(row["topic"], str) and row["topic"].strip(), row["id"]
        assert row["aspect"] in ASPECTS, row["id"]
        terms = row["aspect_terms_any"]
        assert 3 <= len(terms) <= 8 and all(t == t.lower().strip() and t for t in terms), row["id"]
        assert row["expected_sources_any"], row["id"]
        assert row["split"] == expected_split(int(row["id"].split("-")[1])), row["id"]
    assert len({r["aspect"] for r in rows}) >= 8, "follow-ups should vary the aspect"
    assert len({r["topic"] for r in rows}) == len(rows), "each conversation has its own topic"


def test_followup_second_turn_is_short_and_refers_back():
    for row in followup_rows():
        follow = row["turns"][1]
        assert len(follow.split()) <= MAX_FOLLOWUP_WORDS, row["id"]
        assert BACK_REFERENCE.search(follow), f"{row['id']}: turn 2 must point back: {follow!r}"


def test_followup_sources_exist_and_are_about_the_aspect():
    """Each expected source exists under corpus/ and holds at least one of the aspect terms."""
    for row in followup_rows():
        for source in row["expected_sources_any"]:
            file, _, heading = source.partition("#")
            path = CORPUS / file
            assert path.is_file(), f"{row['id']}: {file} is not a corpus file"
            if heading:
                sections = markdown_sections(path)
                assert heading in sections, f"{row['id']}: no heading {heading!r} in {file}"
                text = sections[heading].lower()
            else:
                text = path.read_text(encoding="utf-8").lower()
            found = [t for t in row["aspect_terms_any"] if t in text]
            assert found, f"{row['id']}: {source} mentions none of {row['aspect_terms_any']}"


def test_followups_spread_over_the_corpus():
    folders = Counter(
        s.split("/")[0] for row in followup_rows() for s in row["expected_sources_any"]
    )
    assert set(folders) == {"framework", "concepts", "solutions"}


GRADER_DEV = DATASETS / "grader_dev"
STATUSES = {"met", "partial", "missing", "n/a"}
PROBLEM_TYPES = {"ranking", "classification", "regression", "generative"}
MIN_DESIGNS, MIN_NONDESIGNS = 14, 8
CREDIT = {"met": 1.0, "partial": 0.5, "missing": 0.0}


def grader_labels() -> list[dict]:
    return load_rows(GRADER_DEV / "labels.jsonl")


def rubric_criterion_ids() -> list[str]:
    from tools.rubric import load_rubric

    rubric = load_rubric(ROOT / "corpus" / "rubric.yaml")
    return [c.id for stage in rubric.stages for c in stage.criteria]


def test_grader_dev_labels_cover_every_file_once():
    labels = grader_labels()
    files = sorted(str(p.relative_to(GRADER_DEV)) for p in GRADER_DEV.glob("*designs/*.md"))
    assert sorted(row["file"] for row in labels) == files
    designs = [row for row in labels if row["file"].startswith("designs/")]
    nondesigns = [row for row in labels if row["file"].startswith("nondesigns/")]
    assert len(designs) >= MIN_DESIGNS and len(nondesigns) >= MIN_NONDESIGNS
    assert all(row["is_design"] for row in designs)
    assert not any(row["is_design"] for row in nondesigns)
    assert {row["problem_type"] for row in designs} == PROBLEM_TYPES
    assert {row["problem_type"] for row in nondesigns} == {"none"}


def shared_grader_labels() -> list[dict]:
    return load_rows(GRADER_DEV / "labels_shared.jsonl")


def test_grader_dev_labels_judge_every_rubric_criterion():
    """Every label names exactly the rubric's criteria; a rubric change means relabelling."""
    ids = rubric_criterion_ids()
    for row in grader_labels() + shared_grader_labels():
        assert sorted(row["criteria"]) == sorted(ids), row["file"]
        assert set(row["criteria"].values()) <= STATUSES, row["file"]
        assert isinstance(row["reader_overall"], int) and 0 <= row["reader_overall"] <= 100
        if not row["is_design"]:
            assert row["reader_overall"] == 0, row["file"]
            assert set(row["criteria"].values()) == {"missing"}, row["file"]


def test_shared_grader_labels_name_outside_files():
    """Labels for ../shared texts: paths relative to ../shared, never copies of the texts."""
    rows = shared_grader_labels()
    assert all(not row["file"].startswith(("/", "..")) for row in rows)
    assert {row["is_design"] for row in rows} == {True, False}
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: the outside material is only available in development")
    for row in rows:
        assert (SHARED / row["file"]).is_file(), row["file"]


def test_grader_dev_reader_scores_agree_with_the_criterion_labels():
    """The reader's overall score ranks designs like the share of credit in their own labels."""
    from scipy.stats import spearmanr

    shares, overall = [], []
    for row in grader_labels() + shared_grader_labels():
        if not row["is_design"]:
            continue
        judged = [CREDIT[s] for s in row["criteria"].values() if s != "n/a"]
        shares.append(sum(judged) / len(judged))
        overall.append(row["reader_overall"])
    assert spearmanr(shares, overall).statistic >= 0.9
