"""Extractive answers: pick the passage sentences that answer a question, cite each one.

Selection is maximal marginal relevance (MMR) over sentence embeddings: relevance to the
question, minus redundancy with what is already picked. The answer keeps the picked
sentences in reading order, grouped by source document, each followed by `[n]`, where n
numbers the passage (chunk) it was quoted from.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from agents.events import Citation
from agents.passages import normalize, passage_sentences
from ingest.embeddings import Embedder
from tools.bm25 import tokenize
from tools.search import Hit

MAX_GAP = 0.3  # passages trailing the best by more than this are not quoted
MAX_PASSAGES = 5
MAX_CANDIDATES = 16  # sentences embedded per answer: the main cost of an offline answer


@dataclass(frozen=True)
class Candidate:
    text: str
    hit_index: int  # index into the retrieved hits (0 = best)
    position: int  # sentence order inside its passage
    before: str = ""  # the passage's previous quotable sentence ("" for its first)


@dataclass
class Composed:
    answer: str
    citations: list[Citation]
    sentences: list[tuple[str, int]]  # (sentence, citation n), in answer order


class SentenceVectors:
    """Embeds sentences with a bounded cache: passages recur across questions."""

    def __init__(self, embedder: Embedder, capacity: int = 20000) -> None:
        self.embedder = embedder
        self.capacity = capacity
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            # One sentence per run: the int8 scorer quantizes activations per batch, so a
            # sentence's vector would depend on its batch mates (cosine ~0.99), and an answer
            # on what was asked before. 40 words carry a sentence's topic.
            clipped = [" ".join(t.split()[:40]) for t in missing]
            vectors = self.embedder.encode(clipped, batch_size=1)
            with self._lock:
                for text, vector in zip(missing, vectors):
                    self._cache[text] = vector
                while len(self._cache) > self.capacity:
                    self._cache.popitem(last=False)
        with self._lock:
            for t in texts:
                self._cache.move_to_end(t)
            return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 1))


def _leaf(section: str) -> str:
    return section.rsplit(" > ", 1)[-1]


def candidates(hits: list[Hit], keep: list[int] | None = None) -> list[Candidate]:
    """Every quotable sentence of the hits (or of the `keep` indices), duplicates (chunk
    overlap) kept once."""
    seen: set[str] = set()
    out = []
    for i in keep if keep is not None else range(len(hits)):
        sentences = passage_sentences(hits[i].text)
        for pos, sentence in enumerate(sentences):
            key = normalize(sentence)
            if key and key not in seen:
                seen.add(key)
                out.append(Candidate(sentence, i, pos, sentences[pos - 1] if pos else ""))
    return out


def passage_gaps(
    question_vec: np.ndarray,
    hits: list[Hit],
    vectors: SentenceVectors,
    heading_weight: float = 0.5,
) -> np.ndarray:
    """How far each passage trails the best one. A passage scores by its dense cosine plus
    how well its heading matches the question: "how do I monitor X" is answered by X's
    Monitoring section, whose list items on their own look less like the question than
    X's general sentences do. (No dense score, as in BM25 mode: the rank stands in.)
    """
    leaves = [_leaf(h.section) for h in hits]
    unique = list(dict.fromkeys(leaves))
    leaf_sim = dict(zip(unique, vectors.encode(unique) @ question_vec))
    known = [h.dense_score for h in hits if h.dense_score is not None]
    floor = min(known) if known else 0.5
    passage = np.zeros(len(hits), dtype=np.float32)
    for i, hit in enumerate(hits):
        dense = hit.dense_score if hit.dense_score is not None else floor - 0.02 * i
        passage[i] = dense + heading_weight * max(float(leaf_sim[leaves[i]]), 0.0)
    return passage.max() - passage


def _stems(text: str) -> set[str]:
    return {t[:5] for t in tokenize(text)}  # a 5-letter prefix joins monitor/monitoring


def shortlist(question: str, cands: list[Candidate], gaps: np.ndarray, limit: int):
    """The candidates worth embedding, in their original order: the best passage's sentences
    first (gap 0), then others by shared words with the question minus their passage's gap."""
    if len(cands) <= limit:
        return cands
    wanted = _stems(question)

    def prescore(c: Candidate) -> float:
        overlap = len(wanted & _stems(c.text)) / max(len(wanted), 1)
        return overlap - 2.0 * float(gaps[c.hit_index]) - 0.01 * c.position

    best = sorted(range(len(cands)), key=lambda i: -prescore(cands[i]))[:limit]
    return [cands[i] for i in sorted(best)]


def mmr(
    vectors: np.ndarray,
    relevance: np.ndarray,
    limit: int,
    diversity: float = 0.3,
    floor: float = 0.12,
    drop_from_best: float = 0.45,
) -> list[int]:
    """Indices picked by MMR; stops at `limit` or when relevance falls below the floors."""
    if len(vectors) == 0:
        return []
    cutoff = max(floor, float(relevance.max()) - drop_from_best)
    picked: list[int] = []
    redundancy = np.full(len(vectors), -1.0, dtype=np.float32)
    available = relevance >= cutoff
    while len(picked) < limit and available.any():
        score = (1 - diversity) * relevance - diversity * np.maximum(redundancy, 0.0)
        score[~available] = -np.inf
        best = int(np.argmax(score))
        picked.append(best)
        available[best] = False
        sims = vectors @ vectors[best]
        available &= sims < 0.92  # a near-duplicate says nothing new
        redundancy = np.maximum(redundancy, sims)
    return picked


# A sentence opening with one of these leans on the one before it ("This lets the interviewer
# redirect early."): quoted alone it reads as a non sequitur.
_LEANS_BACK = re.compile(
    r"^(?:this|these|that|those|it|its|they|their|them|such|both|then|also|however|instead|"
    r"otherwise|so|thus|therefore|hence)\b",
    re.IGNORECASE,
)
MAX_CONTEXT_SENTENCES = 2  # sentences an answer may grow by to give such openers context


def with_antecedents(
    picked: list[Candidate], max_added: int = MAX_CONTEXT_SENTENCES
) -> list[Candidate]:
    """The picked sentences plus, for each one that leans on the sentence before it in its
    passage, that sentence (quoted from the same passage, so the answer stays grounded). Past
    `max_added` such additions, a leaning sentence is left out rather than quoted bare."""
    have = {normalize(c.text) for c in picked}
    out: list[Candidate] = []
    added = 0
    for c in picked:
        if not c.before or not _LEANS_BACK.match(c.text):
            out.append(c)  # a passage's first sentence leans on its heading, which is cited
            continue
        if normalize(c.before) in have:
            out.append(c)
        elif added < max_added:
            out += [Candidate(c.before, c.hit_index, c.position - 1), c]
            have.add(normalize(c.before))
            added += 1
    return out


def _chunk_order(hit: Hit) -> int:
    parts = hit.chunk_id.split("::")
    return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0


def compose(
    question: str,
    question_vec: np.ndarray,
    hits: list[Hit],
    vectors: SentenceVectors,
    max_sentences: int = 6,
) -> Composed:
    """The cited extractive answer to a question from its retrieved hits."""
    if not hits:
        return Composed("", [], [])
    gaps = passage_gaps(question_vec, hits, vectors)
    # Sentences of a passage far behind the best would lose to the best passage's anyway:
    # not embedding them keeps an answer within its latency budget.
    keep = [i for i in np.argsort(gaps, kind="stable")[:MAX_PASSAGES] if gaps[i] <= MAX_GAP]
    cands = candidates(hits, sorted(int(i) for i in keep))
    cands = shortlist(question, cands, gaps, MAX_CANDIDATES)
    if not cands:
        return Composed("", [], [])
    vecs = vectors.encode([c.text for c in cands])
    relevance = vecs @ question_vec - np.array([gaps[c.hit_index] for c in cands])
    picked = [cands[i] for i in mmr(vecs, relevance.astype(np.float32), max_sentences)]
    picked = with_antecedents(picked)

    # Reading order: documents by their best hit, then passage order, then sentence order.
    first_rank: dict[str, int] = {}
    for c in sorted(picked, key=lambda c: c.hit_index):
        first_rank.setdefault(hits[c.hit_index].source, c.hit_index)
    picked.sort(
        key=lambda c: (
            first_rank[hits[c.hit_index].source],
            _chunk_order(hits[c.hit_index]),
            c.hit_index,
            c.position,
        )
    )
    numbers: dict[int, int] = {}
    citations: list[Citation] = []
    sentences: list[tuple[str, int]] = []
    paragraphs: list[list[str]] = []
    last_source = None
    for c in picked:
        hit = hits[c.hit_index]
        if c.hit_index not in numbers:
            numbers[c.hit_index] = len(numbers) + 1
            citations.append(
                Citation(
                    n=numbers[c.hit_index],
                    source=hit.source,
                    section=hit.section,
                    chunk_id=hit.chunk_id,
                    text=hit.text,
                )
            )
        n = numbers[c.hit_index]
        if hit.source != last_source:
            paragraphs.append([])
            last_source = hit.source
        paragraphs[-1].append(f"{c.text} [{n}]")
        sentences.append((c.text, n))
    answer = "\n\n".join(" ".join(p) for p in paragraphs)
    return Composed(answer, citations, sentences)
