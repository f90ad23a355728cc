"""Evidence matching for the design grader: criteria, stages of passages and red flags.

A criterion is judged from two signals on each sentence of the design: the cosine similarity
between the sentence and the criterion's description (shared embedding model), and the
criterion's concept phrases found in the sentence. A phrase found in a sentence that is also
on topic is the strongest evidence; high similarity alone counts as partial evidence, and only
very high similarity counts as met. Thresholds were tuned on tests/designs/ (see test_grader).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tools.grader.negation import affirmed_phrases, first_affirmed, negation_spans
from tools.grader.text import Passage, find_phrases, normalize
from tools.rubric import Criterion, RedFlag, Rubric

log = logging.getLogger(__name__)

# Two similarities per (sentence, criterion), all-MiniLM-L6-v2 unit vectors:
#   desc: cosine with the criterion description (independent of the phrases);
#   sim:  the larger of desc and the cosine with the closest concept phrase.
# A concept phrase found in a sentence is the main evidence. One phrase makes the criterion met
# only when the sentence is also about the criterion (desc; `sim` would be inflated by the very
# phrase it contains); two distinct phrases need less. Without a phrase, similarity alone gives
# partial credit, and met only when very high. Unrelated design sentences reach about 0.45.
# Tuned on tests/designs/ (see tests/test_grader.py).
MET_TWO_PHRASES = 0.30  # sim, with two or more distinct concept phrases in the sentence
MET_ONE_PHRASE = 0.48  # desc, with one concept phrase ...
MET_ONE_PHRASE_TOP = 0.35  # ... or this, when the criterion is among the sentence's 2 closest
SEMANTIC_MET = 0.66  # sim, no phrase, and the criterion is the sentence's closest
SEMANTIC_PARTIAL = 0.55  # sim, no phrase, and the criterion among the sentence's 3 closest
SAME_STAGE_BONUS = 0.03  # evidence under the criterion's own stage heading is slightly favored
STAGE_MIN_SIMILARITY = 0.35  # below this a paragraph without a stage heading stays unattributed
PHRASE_STAGE_BONUS = 0.10  # a concept phrase pulls a sentence toward its criterion's stage


@dataclass
class CriterionIndex:
    """Criterion embeddings for one rubric and one model (computed once, then cached)."""

    criteria: list[tuple[str, Criterion]]  # (stage id, criterion), rubric order
    descriptions: np.ndarray  # one row per criterion
    phrases: np.ndarray  # one row per concept phrase, criteria in order
    phrase_starts: np.ndarray  # first phrase row of each criterion (for reduceat)

    def similarity(self, sentences: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(desc, sim), each (sentences x criteria); rounded so that tiny float differences
        between runs or batch shapes cannot flip a threshold."""
        if not len(sentences):
            empty = np.zeros((0, len(self.criteria)), dtype=np.float32)
            return empty, empty
        desc = sentences @ self.descriptions.T
        phrase = np.maximum.reduceat(sentences @ self.phrases.T, self.phrase_starts, axis=1)
        return np.round(desc, 3), np.round(np.maximum(desc, phrase), 3)


_index_cache: dict[tuple[str, str, str, str], CriterionIndex] = {}
_index_lock = threading.Lock()


def criterion_index(rubric: Rubric, embedder, cache_dir: Path | None = None) -> CriterionIndex:
    """The rubric's criterion embeddings: kept in memory per (rubric, model) and, with a
    `cache_dir`, on disk too, so a new process (each `mlsd critique`) skips re-embedding."""
    model = str(getattr(embedder, "model_name", type(embedder).__name__))
    backend = str(getattr(embedder, "backend", ""))
    key = (rubric.source_path, rubric.fingerprint, model, backend)
    with _index_lock:
        hit = _index_cache.get(key)
    if hit is not None:
        return hit
    criteria = [(s.id, c) for s in rubric.stages for c in s.criteria]
    texts = [c.description for _, c in criteria]
    starts, phrases = [], []
    for _, c in criteria:
        starts.append(len(phrases))
        phrases.extend(c.phrases)
    path = None
    if cache_dir is not None:
        label = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{model}-{backend}")[:80]
        path = Path(cache_dir) / "rubric" / f"criteria-{rubric.fingerprint}-{label}.npy"
    vectors = _load_vectors(path, len(texts) + len(phrases))
    if vectors is None:
        vectors = np.asarray(embedder.encode(texts + phrases), dtype=np.float32)
        _save_vectors(path, vectors)
    index = CriterionIndex(
        criteria, vectors[: len(texts)], vectors[len(texts) :], np.asarray(starts, dtype=np.intp)
    )
    with _index_lock:
        _index_cache[key] = index
    return index


def _load_vectors(path: Path | None, rows: int) -> np.ndarray | None:
    if path is None:
        return None
    try:
        vectors = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return vectors if vectors.ndim == 2 and vectors.shape[0] == rows else None


def _save_vectors(path: Path | None, vectors: np.ndarray) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        with tmp.open("wb") as fh:
            np.save(fh, vectors, allow_pickle=False)
        tmp.replace(path)
    except OSError as exc:  # a read-only cache only costs time
        log.debug("criterion embeddings not cached: %s", exc)


@dataclass
class Judgement:
    status: str  # met | partial | missing
    evidence: str  # verbatim sentence ("" when missing)
    similarity: float
    phrases: list[str]


def _ranks(scores: np.ndarray) -> np.ndarray:
    """rank[i, j] = position of criterion j among sentence i's closest criteria (1 = closest)."""
    order = np.argsort(-scores, axis=1, kind="stable")
    rank = np.empty_like(order)
    rank[np.arange(scores.shape[0])[:, None], order] = np.arange(1, scores.shape[1] + 1)
    return rank


def phrase_hits(passages: list[Passage], index: CriterionIndex) -> list[list[list[str]]]:
    """hits[i][j]: the concept phrases of criterion j found in passage i or in the heading it
    sits under (a section titled "Labels" or "Summary" names its concept once for each of
    its sentences; a heading alone is never evidence, it has no sentence to quote). Negated
    occurrences ("we won't retrain") are not hits (`negation`)."""
    by_heading: dict[str, list[list[str]]] = {}
    out = []
    for p in passages:
        if p.heading not in by_heading:
            norm, spans = normalize(p.heading), negation_spans(p.heading)
            by_heading[p.heading] = [
                affirmed_phrases(norm, c.phrases, spans) for _, c in index.criteria
            ]
        titled = by_heading[p.heading]
        spans = negation_spans(p.text)
        row, own_counts = [], []
        for j, (_, c) in enumerate(index.criteria):
            own = affirmed_phrases(p.norm, c.phrases, spans)
            own_counts.append(len(own))
            row.append(own + [x for x in titled[j] if x not in own])
        # the evidence model was trained on sentences without headings: it sees only these
        p.extra["own_phrase_counts"] = own_counts
        out.append(row)
    return out


def _status(n_phrases: int, sim: float, about: float, rank: int, desc_rank: int) -> str | None:
    """The verdict one sentence supports for one criterion (None: no evidence)."""
    if n_phrases >= 2 and sim >= MET_TWO_PHRASES:
        return "met"
    if n_phrases and (about >= MET_ONE_PHRASE or (desc_rank <= 2 and about >= MET_ONE_PHRASE_TOP)):
        return "met"
    if not n_phrases and rank == 1 and sim >= SEMANTIC_MET:
        return "met"
    if n_phrases or (rank <= 3 and sim >= SEMANTIC_PARTIAL):
        return "partial"
    return None


def judge_criteria(
    passages: list[Passage],
    hits: list[list[list[str]]],
    desc: np.ndarray,
    sims: np.ndarray,
    index: CriterionIndex,
) -> dict[str, Judgement]:
    """Met / partial / missing for every criterion, with the best evidence sentence.

    `passages` are the evidence sentences (no headings, nothing addressed to the grader),
    `hits` their concept phrases (`phrase_hits`), `desc` and `sims` their similarities
    (`CriterionIndex.similarity`).
    """
    rank, desc_rank = _ranks(sims), _ranks(desc)
    out: dict[str, Judgement] = {}
    for j, (stage_id, criterion) in enumerate(index.criteria):
        best: tuple[float, int, str, list[str]] | None = None  # (strength, i, status, phrases)
        for i, passage in enumerate(passages):
            sim = float(sims[i, j])
            phrases = hits[i][j]
            status = _status(len(phrases), sim, float(desc[i, j]), rank[i, j], desc_rank[i, j])
            if status is None:
                continue
            strength = (
                (2.0 if status == "met" else 1.0)
                + sim
                + 0.02 * min(len(phrases), 3)
                + (SAME_STAGE_BONUS if passage.stage == stage_id else 0.0)
            )
            # ties keep the earlier sentence, so the result never depends on iteration order
            if best is None or strength > best[0] + 1e-9:
                best = (strength, i, status, phrases)
        if best is None:
            top = float(sims[:, j].max()) if len(passages) else 0.0
            out[criterion.id] = Judgement("missing", "", round(top, 3), [])
        else:
            _, i, status, phrases = best
            similarity = round(float(sims[i, j]), 3)
            out[criterion.id] = Judgement(status, passages[i].text, similarity, phrases)
    return out


def heading_stage(heading: str, rubric: Rubric) -> str | None:
    """The stage a heading names, from the rubric's heading keywords (last keyword wins ties,
    since the head noun of a heading usually comes last: "Model deployment")."""
    norm = normalize(heading)
    best: tuple[int, int, str] | None = None
    for stage in rubric.stages:
        positions = [m.start() for kw in stage.heading_keywords if (m := _prefix(kw).search(norm))]
        if positions:
            cand = (len(positions), max(positions), stage.id)
            if best is None or cand[:2] > best[:2]:
                best = cand
    return best[2] if best else None


def _prefix(keyword: str) -> re.Pattern[str]:
    """Keywords match as word prefixes ("monitor" in "monitoring", "clarif" in "clarify")."""
    return re.compile(r"(?<![a-z0-9])" + re.escape(normalize(keyword).strip()))


def attribute_stages(
    passages: list[Passage],
    hits: list[list[list[str]]],
    sims: np.ndarray,
    index: CriterionIndex,
    rubric: Rubric,
) -> None:
    """Set `passage.stage`: from its heading when the heading names a stage; otherwise the
    stage its paragraph (or list) is closest to, so a plain-text design is attributed by
    paragraphs; None when a paragraph is close to no stage."""
    stage_ids = rubric.stage_ids
    columns = {sid: [j for j, (s, _) in enumerate(index.criteria) if s == sid] for sid in stage_ids}
    by_heading: dict[str, str | None] = {}
    group_scores: dict[int, np.ndarray] = {}
    group_words: dict[int, int] = {}
    own_scores: list[np.ndarray] = []
    for i, passage in enumerate(passages):
        scores = np.zeros(len(stage_ids))
        for k, sid in enumerate(stage_ids):
            cols = columns[sid]
            bonus = np.asarray([PHRASE_STAGE_BONUS if hits[i][j] else 0.0 for j in cols])
            scores[k] = float(np.max(sims[i, cols] + bonus))
        own_scores.append(scores)
        # weight each sentence by its length so a paragraph's topic follows most of its words
        group_scores[passage.group] = group_scores.get(passage.group, 0) + scores * passage.words
        group_words[passage.group] = group_words.get(passage.group, 0) + passage.words
    for passage, own in zip(passages, own_scores):
        if passage.heading not in by_heading:
            by_heading[passage.heading] = (
                heading_stage(passage.heading, rubric) if passage.heading else None
            )
        stage = by_heading[passage.heading]
        if stage is None:
            # half the sentence itself, half its paragraph: a paragraph keeps one topic unless
            # a sentence is clearly about another stage
            mean = group_scores[passage.group] / max(group_words[passage.group], 1)
            blended = 0.5 * own + 0.5 * mean
            top = int(np.argmax(blended))
            stage = stage_ids[top] if blended[top] >= STAGE_MIN_SIMILARITY else None
        passage.stage = stage


@dataclass
class FlagHit:
    flag: RedFlag
    evidence: str  # the sentence that triggered it ("" for absence flags)


def detect_red_flags(passages: list[Passage], flags: list[RedFlag]) -> list[FlagHit]:
    """Evaluate each red flag's detect spec on the evidence sentences, in design order.
    Negated mentions do not count: "we won't monitor it" leaves `no_monitoring` firing."""
    norms = [p.norm for p in passages]
    joined = "".join(norms)  # each norm starts and ends with a space: offsets stay ordered
    starts, spans, offset = [], [], 0
    for p, norm in zip(passages, norms):
        starts.append(offset)
        spans.extend((offset + a, offset + b) for a, b in negation_spans(p.text))
        offset += len(norm)
    negated = tuple(spans)

    def found(phrases: list[str]) -> bool:
        return first_affirmed(joined, phrases, negated) is not None

    def sentence_at(pos: int | None) -> str:
        if pos is None or not passages:
            return ""
        i = max(k for k, s in enumerate(starts) if s <= pos)
        return passages[i].text

    hits: list[FlagHit] = []
    for flag in flags:
        spec = flag.detect
        if spec.kind == "absent":
            if not found(spec.phrases):
                hits.append(FlagHit(flag, ""))
        elif spec.kind == "before":
            first = first_affirmed(joined, spec.first, negated)
            then = first_affirmed(joined, spec.then, negated)
            if then is None or (first is not None and first < then):
                hits.append(FlagHit(flag, sentence_at(first)))
        elif spec.kind == "present_without":
            where = first_affirmed(joined, spec.phrases, negated)
            context_ok = all(find_phrases(joined, group) for group in spec.context)
            if where is not None and context_ok and not found(spec.unless):
                hits.append(FlagHit(flag, sentence_at(where)))
    return hits
