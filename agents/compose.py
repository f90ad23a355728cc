"""Extractive answers built from whole units of the retrieved passages, answer first.

Units (see `agents.units`) are paragraph sentences, whole list items, whole tables and
formulas with their definitions; headings and fragments are never quoted. Each unit is scored
by meaning (cosine with the question, or with the new ask of a follow-up) plus how many of
the question's key terms (IDF-weighted) it or its section heading holds, minus how far its
passage trails the best one. The answer leads with the best unit and its close neighbours
from the same document, in document order; then at most `MAX_OTHER_SOURCES` other documents
whose best unit adds something new ("Also relevant:"). Every unit ends with `[n]`, n
numbering the passage (chunk) it is quoted from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from agents.answer_render import Candidate, Composed, render, with_paragraph
from agents.passages import normalize
from agents.sentence_vectors import SentenceVectors
from agents.units import quotable_units
from tools.bm25 import tokenize
from tools.search import Hit

__all__ = ["Composed", "SentenceVectors", "chunk_edges", "compose"]

RANK_WEIGHT = 0.2  # passage bonus for the search's first hit (halved for the second, ...)
MAX_GAP = 0.3  # passages trailing the best by more than this are not quoted
MAX_PASSAGES = 5
MAX_CANDIDATES = 10  # units embedded per answer: the main cost of an offline answer
KEY_TERM_WEIGHT = 0.4  # relevance bonus for holding all of the question's key terms
LEAD_MAX_UNITS = 3  # units quoted from the leading document
LEAD_MAX_WORDS = 140
LEAD_DROP = 0.1  # a lead unit may trail the best unit by this much
MAX_OTHER_SOURCES = 2
OTHER_DROP = 0.2  # another document's best unit may trail the best unit by this much
QUESTIONS_PENALTY = 0.15  # relevance taken from a unit made only of questions
NEW_INFO_MAX_SIM = 0.8  # a unit this similar to one already quoted says nothing new

Idf = Callable[[str], float]
Edges = Mapping[str, tuple[bool, bool]]  # chunk id -> (cut at its start, cut at its end)


def chunk_edges(ids: list[str], metas: list[dict]) -> dict[str, tuple[bool, bool]]:
    """For every chunk, whether the chunker cut it out of a longer section at its start and
    at its end: the neighbouring chunk of the same document has the same section. Chunk ids
    are `source::index::hash` (see `ingest.chunking.chunk_id`)."""
    by_doc: dict[str, list[tuple[int, str, str]]] = {}
    for cid, meta in zip(ids, metas):
        source, _, rest = cid.rpartition("::")[0].rpartition("::")
        if source and rest.isdigit():
            by_doc.setdefault(source, []).append((int(rest), str(meta.get("section", "")), cid))
    edges: dict[str, tuple[bool, bool]] = {}
    for chunks in by_doc.values():
        chunks.sort()
        for n, (index, section, cid) in enumerate(chunks):
            before = n > 0 and chunks[n - 1][0] == index - 1 and chunks[n - 1][1] == section
            after = (
                n + 1 < len(chunks)
                and chunks[n + 1][0] == index + 1
                and chunks[n + 1][1] == section
            )
            edges[cid] = (before, after)
    return edges


def _leaf(section: str) -> str:
    return section.rsplit(" > ", 1)[-1]


def candidates(
    hits: list[Hit], keep: list[int] | None = None, edges: Edges | None = None
) -> list[Candidate]:
    """Every quotable unit of the hits (or of the `keep` indices); a unit repeated by chunk
    overlap is kept once. `edges` says which passages the chunker cut mid-section (unknown
    passages are judged from their text)."""
    seen: set[str] = set()
    out = []
    for i in keep if keep is not None else range(len(hits)):
        cut_start, cut_end = (edges or {}).get(hits[i].chunk_id, (None, None))
        for unit in quotable_units(hits[i].text, cut_start, cut_end):
            key = normalize(unit.plain)
            if key and key not in seen:
                seen.add(key)
                out.append(Candidate(unit, i))
    return out


def passage_gaps(
    terms: dict[str, float], hits: list[Hit], heading_weight: float = 0.5
) -> np.ndarray:
    """How far each passage trails the best one. A passage scores by its dense cosine plus
    the share of the question's key terms its heading holds: "how do I monitor X" is answered
    by X's Monitoring section, whose list items on their own look less like the question than
    X's general sentences do. Words, not meaning: embedding every heading cost 8 model runs
    per answer for the same choices on the dev sets. (No dense score, as in BM25 mode: the rank
    stands in.)
    """
    known = [h.dense_score for h in hits if h.dense_score is not None]
    floor = min(known) if known else 0.5
    passage = np.zeros(len(hits), dtype=np.float32)
    for i, hit in enumerate(hits):
        dense = hit.dense_score if hit.dense_score is not None else floor - 0.02 * i
        passage[i] = dense + heading_weight * coverage(terms, stems(_leaf(hit.section)))
        passage[i] += RANK_WEIGHT / (1 + i)  # the search's own order (BM25 sees rare words)
    return passage.max() - passage


def stems(text: str) -> set[str]:
    return {t[:5] for t in tokenize(text)}  # a 5-letter prefix joins monitor/monitoring


def key_terms(text: str, idf: Idf | None = None) -> dict[str, float]:
    """The question's content words (5-letter stems) weighted by IDF: rare words matter."""
    weights: dict[str, float] = {}
    for token in tokenize(text):
        weights[token[:5]] = max(weights.get(token[:5], 0.0), idf(token) if idf else 1.0)
    return weights


def coverage(terms: dict[str, float], words: set[str]) -> float:
    total = sum(terms.values())
    return sum(w for t, w in terms.items() if t in words) / total if total > 0 else 0.0


def shortlist(cands: list[Candidate], scores: np.ndarray, limit: int) -> list[int]:
    """Indices of the candidates worth embedding, best lexical prescores first."""
    order = sorted(range(len(cands)), key=lambda i: (-scores[i], i))
    return sorted(order[:limit])


def select(
    cands: list[Candidate], relevance: np.ndarray, vecs: np.ndarray, hits: list[Hit]
) -> tuple[list[int], list[int]]:
    """(lead units, other units): the best unit and its close neighbours from its document,
    then the best unit of up to MAX_OTHER_SOURCES other documents, each adding something new."""
    best = int(np.argmax(relevance))
    lead_source = hits[cands[best].hit_index].source
    lead = [best]
    words = len(cands[best].unit.plain.split())
    for i in np.argsort(-relevance, kind="stable"):
        i = int(i)
        c = cands[i]
        if i == best or hits[c.hit_index].source != lead_source:
            continue
        if len(lead) >= LEAD_MAX_UNITS or relevance[i] < relevance[best] - LEAD_DROP:
            break
        size = len(c.unit.plain.split())
        if words + size > LEAD_MAX_WORDS or float(np.max(vecs[lead] @ vecs[i])) >= 0.9:
            continue
        lead.append(i)
        words += size
    others: list[int] = []
    used_sources = {lead_source}
    for i in np.argsort(-relevance, kind="stable"):
        i = int(i)
        source = hits[cands[i].hit_index].source
        if len(others) >= MAX_OTHER_SOURCES or relevance[i] < relevance[best] - OTHER_DROP:
            break
        if source in used_sources:
            continue
        if float(np.max(vecs[lead + others] @ vecs[i])) >= NEW_INFO_MAX_SIM:
            continue
        others.append(i)
        used_sources.add(source)
    return lead, others


def compose(
    question: str,
    question_vec: np.ndarray,
    hits: list[Hit],
    vectors: SentenceVectors,
    max_sentences: int = 6,
    idf: Idf | None = None,
    terms_text: str | None = None,
    edges: Edges | None = None,
) -> Composed:
    """The cited extractive answer to a question from its retrieved hits. `terms_text` (the
    new ask of a follow-up) supplies the key terms when it is not the question itself."""
    if not hits:
        return Composed("", [], [])
    terms = key_terms(terms_text or question, idf)
    gaps = passage_gaps(terms, hits)
    # Units of a passage far behind the best would lose to the best passage's anyway:
    # not embedding them keeps an answer within its latency budget.
    keep = [i for i in np.argsort(gaps, kind="stable")[:MAX_PASSAGES] if gaps[i] <= MAX_GAP]
    cands = every = candidates(hits, sorted(int(i) for i in keep), edges)
    if not cands:
        return Composed("", [], [])
    cover = np.array(
        [
            coverage(terms, stems(f"{c.unit.plain} {_leaf(hits[c.hit_index].section)}"))
            for c in cands
        ]
    )
    gap = np.array([gaps[c.hit_index] for c in cands])
    prescore = cover - 2.0 * gap - 0.002 * np.array([c.unit.position for c in cands])
    short = shortlist(cands, prescore, MAX_CANDIDATES)
    cands = [cands[i] for i in short]
    cover, gap = cover[short], gap[short]
    vecs = vectors.encode([c.unit.plain for c in cands])
    asks = np.array([_share_of_questions(c.unit.text) for c in cands])
    relevance = vecs @ question_vec + KEY_TERM_WEIGHT * cover - gap - QUESTIONS_PENALTY * asks
    relevance = relevance.astype(np.float32)
    lead, others = select(cands, relevance, vecs, hits)
    lead_units = with_paragraph([cands[i] for i in lead], every)
    others = others[: max(0, max_sentences - len(lead))]
    composed = render(hits, lead_units, [cands[i] for i in others])
    composed.considered = [c.unit.plain for c in cands]
    composed.headings = list(dict.fromkeys(_leaf(hits[c.hit_index].section) for c in cands))
    return composed


def _share_of_questions(text: str) -> float:
    """The share of a unit's lines that are questions (a list of clarifying questions asks
    what the learner asked; it does not answer it)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return sum(ln.rstrip().endswith("?") for ln in lines) / max(len(lines), 1)
