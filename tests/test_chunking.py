"""Chunks sized by the embedding model: never past its window, budget follows the model,
bounded work on enormous input, sections for plain text in citations."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from core.settings import Settings
from ingest.chunking import CHUNKER_VERSION, chunk_document, chunk_limit, file_fingerprint
from ingest.embeddings import load_token_budget
from ingest.pipeline import ingest_paths
from ingest.store import open_store
from tools.search import Retriever

MODEL = Settings().embed_model
WORDS = ["model", "feature", "drift", "latency", "ranking", "label", "embedding", "serving"]
WORDS += ["shard", "cache"]


def _prose(n_sentences: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    sentences = []
    for _ in range(n_sentences):
        words = [rng.choice(WORDS) for _ in range(rng.randint(6, 18))]
        sentences.append(" ".join(words).capitalize() + ".")
    return " ".join(sentences)


def _stored(settings: Settings) -> tuple[list[str], list[dict]]:
    store = open_store(settings.store_dir, settings.collection)
    got = store.collection.get(include=["documents", "metadatas"])
    return got["documents"], got["metadatas"]


def _assert_within_window(documents: list[str], metadatas: list[dict]) -> None:
    budget = load_token_budget(MODEL)
    assert budget.max_seq_length == 256  # the shipped model's window
    sizes = [
        budget.embedded_count(f"{meta['section']}\n{doc}")
        for doc, meta in zip(documents, metadatas)
    ]
    assert sizes and max(sizes) <= budget.max_seq_length, max(sizes)


def test_budget_reads_the_model_tokenizer_and_window():
    budget = load_token_budget(MODEL)
    assert (budget.max_seq_length, budget.special_tokens, budget.window) == (256, 2, 254)
    # word pieces, not words: a rare word splits into several pieces
    assert budget.count("tokenization") > 1 == budget.count("model")
    assert chunk_limit(0, MODEL) == 254 and chunk_limit(100, MODEL) == 100
    assert chunk_limit(10_000, MODEL) == 254  # a cap never lifts the window


def test_long_section_chunks_fit_the_window_with_overlap_and_heading_path():
    section = "A rather long heading that names the part > And its sub-heading"
    text = "# A rather long heading that names the part\n\n## And its sub-heading\n\n" + _prose(300)
    chunks = chunk_document(text, "long.md", {}, "h", 0, 40, model=MODEL)
    budget = load_token_budget(MODEL)
    assert len(chunks) > 5
    assert {c.metadata["section"] for c in chunks} == {section}
    sizes = [budget.embedded_count(c.embed_text) for c in chunks]
    assert max(sizes) <= 256
    assert min(sizes[:-1]) > 256 * 0.7  # filled, not fragmented
    # overlap: a chunk starts with words that ended the previous one (the splitter drops the
    # overlap when the next sentence would not fit beside it)
    pairs = list(zip(chunks, chunks[1:]))
    overlapping = [" ".join(b.text.split()[:4]) in a.text for a, b in pairs]
    assert sum(overlapping) >= 0.8 * len(pairs)


def test_chunk_size_caps_below_the_window():
    chunks = chunk_document("# T\n\n" + _prose(120), "t.md", {}, "h", 96, 16, model=MODEL)
    budget = load_token_budget(MODEL)
    assert len(chunks) > 5
    assert max(budget.count(c.embed_text) for c in chunks) <= 96


def _small_window_model(tmp_path: Path, window: int) -> str:
    """A model folder with the shipped tokenizer and a smaller max_seq_length."""
    source = Path(MODEL)
    folder = tmp_path / "small-model"
    folder.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "config.json", "modules.json"):
        shutil.copy(source / name, folder / name)
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": window, "do_lower_case": False})
    )
    return str(folder)


def test_budget_follows_the_embedding_model(tmp_path):
    small = _small_window_model(tmp_path, 64)
    text = "# Notes\n\n" + _prose(60)
    default = chunk_document(text, "n.md", {}, "h", 0, 10, model=MODEL)
    smaller = chunk_document(text, "n.md", {}, "h", 0, 10, model=small)
    budget = load_token_budget(small)
    assert budget.window == 62
    assert len(smaller) > 2 * len(default)
    assert max(budget.embedded_count(c.embed_text) for c in smaller) <= 64
    # the stored chunks depend on the model's tokenizer and window: so does the fingerprint
    raw = text.encode()
    assert file_fingerprint(raw, 0, 10, MODEL) != file_fingerprint(raw, 0, 10, small)
    assert file_fingerprint(raw, 0, 10, MODEL) == file_fingerprint(raw, 0, 10, MODEL)
    assert CHUNKER_VERSION >= 3


@pytest.mark.slow
def test_multi_megabyte_single_line_is_bounded_before_the_sentence_splitter(monkeypatch):
    # nltk runs its sentence regexes under a wall-clock timeout; a whole-file call on this
    # ~1.5 MB line exceeds a 0.5 s limit, pieces of a few KB never do.
    import nltk.redos

    monkeypatch.setattr(nltk.redos, "DEFAULT_TIMEOUT", 0.5)
    rng = random.Random(3)
    line = " ".join(rng.choice(WORDS) + ("." if i % 15 == 14 else "") for i in range(200_000))
    assert "\n" not in line and len(line) > 1_400_000
    chunks = chunk_document(line, "huge.md", {}, "h", 0, 50, model=MODEL)
    budget = load_token_budget(MODEL)
    assert len(chunks) > 500
    assert max(budget.embedded_count(c.embed_text) for c in chunks[::25]) <= 256


def test_unbroken_run_without_spaces_is_cut_by_tokens():
    rng = random.Random(5)
    blob = "".join(rng.choice("abcdefghij0123456789") for _ in range(300_000))
    chunks = chunk_document(f"{blob}", "blob.txt", {}, "h", 0, 20, model=MODEL)
    budget = load_token_budget(MODEL)
    assert len(chunks) > 10
    assert max(budget.embedded_count(c.embed_text) for c in chunks) <= 256


def test_heading_only_section_merges_with_the_next_one():
    text = "# Guide\n\n## Evaluation\n\n### Offline metrics\n\n" + _prose(3)
    (chunk,) = chunk_document(text, "g.md", {}, "h", 0, 40, model=MODEL)
    assert chunk.metadata["section"] == "Guide > Evaluation > Offline metrics"
    assert "Offline metrics" in chunk.text


def test_seed_articles_chunks_fit_the_window():
    """Dev-only check on outside material (skipped when the folder is absent)."""
    seeds = Path(__file__).resolve().parents[2] / "shared" / "seeds"
    if not seeds.is_dir():
        pytest.skip(f"{seeds} absent (outside material, dev only)")
    budget = load_token_budget(MODEL)
    for path in sorted(seeds.glob("*.txt")):
        chunks = chunk_document(path.read_text(encoding="utf-8"), path.name, {}, "h", 0, 50)
        assert max(budget.embedded_count(c.embed_text) for c in chunks) <= 256, path.name


def test_stored_corpus_chunks_fit_the_window(corpus_settings):
    _assert_within_window(*_stored(corpus_settings))


PLAIN_TEXT = """Serving Guide For Ranking Models

{intro}

Stage 1: Candidate generation (10 min)

{p1}

Stage 2: Feature freshness

{p2}

Monitoring checklist

{p3}
"""


def test_plain_text_file_chunks_fit_and_citations_name_sections(make_settings, embedder):
    settings = make_settings()
    docs = settings.store_dir.parent / "plain"
    docs.mkdir(parents=True)
    body = PLAIN_TEXT.format(
        intro=_prose(4, 1),
        p1=_prose(80, 2) + " Two-tower retrieval narrows millions of items to a few hundred.",
        p2=_prose(30, 3) + " Stale features from the online store hurt click-through rate.",
        p3=_prose(8, 4) + " Page the on-call engineer when the null rate of a feature doubles.",
    )
    (docs / "serving_notes.txt").write_text(body)
    report = ingest_paths([docs], settings, embedder=embedder)
    assert report.ingested == 1 and not report.failed
    documents, metadatas = _stored(settings)
    _assert_within_window(documents, metadatas)
    assert {m["title"] for m in metadatas} == {"Serving Guide For Ranking Models"}

    retriever = Retriever(settings, embedder=embedder)
    expected = {
        "two-tower retrieval narrows millions of items": "Stage 1: Candidate generation (10 min)",
        "stale features from the online store": "Stage 2: Feature freshness",
        "page the on-call engineer when the null rate doubles": "Monitoring checklist",
    }
    for query, heading in expected.items():
        top = retriever.search(query, k=1, mode="bm25")[0]
        assert top.source == "serving_notes.txt"
        assert top.section.split(" > ")[-1] == heading, (query, top.section)
        assert "serving_notes" not in top.section.lower()


def test_sentence_splitter_failure_falls_back_to_token_windows(monkeypatch):
    import ingest.chunking as chunking

    class Failing:
        def split_text(self, text):
            raise TimeoutError("regular-expression match exceeded its time limit")

    monkeypatch.setattr(chunking, "_splitter", lambda *args: Failing())
    chunks = chunk_document("# Notes\n\n" + _prose(80), "n.md", {}, "h", 0, 30, model=MODEL)
    budget = load_token_budget(MODEL)
    assert len(chunks) > 2
    assert max(budget.embedded_count(c.embed_text) for c in chunks) <= 256
    assert all(c.metadata["section"] == "Notes" for c in chunks)
