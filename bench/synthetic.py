"""Synthetic corpora for scale benchmarks: sentences of the shipped corpus, reshuffled.

Generated into a temp folder at run time (never committed). Each document has `sections`
headed sections of about `words` words, so one section becomes one chunk.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def corpus_sentences() -> list[str]:
    text = " ".join(p.read_text() for p in sorted((ROOT / "corpus").rglob("*.md")))
    text = re.sub(r"^---.*?^---", "", text, flags=re.S | re.M)
    sentences = re.split(r"(?<=[.!?])\s+", re.sub(r"[#*|`>-]+", " ", text))
    return [" ".join(s.split()) for s in sentences if 6 <= len(s.split()) <= 40]


def write_synthetic(
    target: Path, chunks: int, sections: int = 10, words: int = 70, seed: int = 7
) -> int:
    """Write documents totalling about `chunks` sections; returns the number of documents."""
    rng = random.Random(seed)
    pool = corpus_sentences()
    target.mkdir(parents=True, exist_ok=True)
    n_docs = max(1, chunks // sections)
    for d in range(n_docs):
        parts = [f"# Synthetic document {d}\n"]
        for s in range(sections):
            body, count = [], 0
            while count < words:
                sentence = rng.choice(pool)
                body.append(sentence)
                count += len(sentence.split())
            heading = " ".join(rng.choice(pool).split()[:4]).strip(".,:;")
            parts.append(f"## Section {s}: {heading}\n\n{' '.join(body)}\n")
        (target / f"doc{d:05d}.md").write_text("\n".join(parts))
    return n_docs
