"""Evidence by meaning: how strongly a sentence evidences each criterion, and design voice.

A sentence earns credit for a criterion when what it *says* is close to sentences labelled as
evidence for that criterion and far from its hard negatives ("cut fraud losses" is not a loss
function). The model is trained by `scripts/train_grader.py` on the labelled sentences in
`eval/datasets/grader_train/` and shipped as `evidence_model.npz` next to this file: the
exemplar sentences' embeddings (shipped model, float16), their labels, and two small logistic
regressions over a handful of features each:

- criterion evidence, per (sentence, criterion): nearest positive exemplar, mean of the three
  nearest, nearest negative exemplar, similarity to the criterion's description and to its
  closest concept phrase, and the concept phrases found (a cue, never the decision alone);
  one weight vector shared by all criteria plus a calibrated intercept per criterion;
- substance, per sentence and shared by its criteria: how many words it has, whether it is a
  list of short items ("Metrics: AUC, F1, NDCG, MRR, ...": name-dropping, not a plan) and over
  how many criteria its concept phrases spread (keyword soup touches many at once);
- design voice, per sentence: whether it reads like part of a proposed system (nearest design
  exemplar versus nearest changelog / tutorial / abstract / explainer exemplar, first-person
  plan wording).

A short passage is read in its context: note-form designs put bullets under a heading or a
lead-in line ("Metrics" then "- offline: recall@k, MAP"), and the bullet alone does not say
what it is about. The model embeds such a passage as "heading: lead-in: bullet"
(`in_context`), at training time (labelled bullets under `> Heading` lines) and at grading
time alike; substance features and phrase counts still come from the passage itself, and the
quote stays the passage's own verbatim text.

Pure numpy, deterministic; loading takes milliseconds.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MODEL_PATH = Path(__file__).with_name("evidence_model.npz")
FORMAT = 4
TOP_K = 3
N_CELL_FEATURES = 10
N_SENTENCE_FEATURES = 3
N_FEATURES = N_CELL_FEATURES + N_SENTENCE_FEATURES
SUBSTANCE_WORDS = 20  # a sentence this long or longer has room to say what and how
SHORT_ITEM_WORDS = 3  # a comma-separated item this short is a name, not a clause
# A passage shorter than this is read after its heading and list lead-in: a short bullet needs
# them to say what it is about; a full sentence already does (longer context would also bury
# the sentence under the heading's words).
CONTEXT_MAX_WORDS = 12
CONTEXT_MAX_PREFIX_WORDS = 16  # a lead-in longer than this is a sentence of its own, not a label

# "we", "I'd", "our": a candidate proposing a system speaks in the first person or about "the
# system"; explainers and changelogs rarely do.
_PLAN_VOICE = re.compile(
    r"\b(we|we'll|we'd|i|i'd|i'll|i'm|our|us|let me|the system|the service|the model will)\b",
    re.IGNORECASE,
)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


_ITEM_SPLIT = re.compile(r"[,;]|\s(?:and|or)\s")
_WORDS = re.compile(r"[A-Za-z0-9@%+#.-]+")


def in_context(text: str, heading: str = "", lead: str = "") -> str:
    """What the evidence model reads for a passage: a short one after its section heading and
    the line that introduces its list ("Metrics: offline: recall@k, MAP"), else itself."""
    from tools.grader.text import count_words

    if count_words(text) >= CONTEXT_MAX_WORDS:
        return text
    parts = [
        x.strip().rstrip(":").strip()
        for x in (heading, lead)
        if x and x.strip() and count_words(x) <= CONTEXT_MAX_PREFIX_WORDS
    ]
    parts = [x for x in parts if x]
    return ": ".join([*parts, text]) if parts else text


def context_strings(passages, design: str = "") -> list[str]:
    """`in_context` for each evidence passage (tools.grader.text.Passage): its heading, and its
    parent line in `design` when it has one: for a nested bullet, the nearest line above it in
    the same list that is indented less; for a list item, the paragraph that introduces the
    list ("We'd track:"). A sibling bullet is never context, however it ends."""
    out: list[str] = []
    lines: list[tuple[int, bool, str]] = []  # (indent, is a list item, text): this group so far
    group = None
    for p in passages:
        if p.group != group:
            group, lines = p.group, []
        indent, item, first = _line_shape(design, p.start) if design else (0, False, False)
        parent = ""
        if first:
            for q_indent, q_item, q_text in reversed(lines):
                if q_indent < indent or (item and not q_item):
                    parent = q_text
                    break
            lines.append((indent, item, p.text))
        out.append(in_context(p.text, p.heading, parent))
    return out


_LIST_START = re.compile(r"[ \t]*(?:[-*+•]|\d{1,3}[.)])\s+")


def _line_shape(design: str, start: int) -> tuple[int, bool, bool]:
    """(indent of the line holding `start`, whether that line is a list item, whether the
    passage is the first text on its line)."""
    line_start = design.rfind("\n", 0, start) + 1
    head = design[line_start:start]
    marker = _LIST_START.match(head)
    indent = len(head) - len(head.lstrip(" \t"))
    first = not head.strip() or (marker is not None and marker.end() == len(head))
    return indent, marker is not None, first


def sentence_features(texts: list[str], hits: np.ndarray) -> np.ndarray:
    """(n, N_SENTENCE_FEATURES): substance (words, capped), share of words in a list of short
    items, and how many
    criteria the sentence's concept phrases touch. `hits`: (n, C) affirmed phrase counts."""
    out = np.zeros((len(texts), N_SENTENCE_FEATURES), dtype=np.float32)
    for i, text in enumerate(texts):
        words = len(_WORDS.findall(text))
        items = [len(_WORDS.findall(part)) for part in _ITEM_SPLIT.split(text)]
        short = [k for k in items if 0 < k <= SHORT_ITEM_WORDS]
        out[i, 0] = min(words, SUBSTANCE_WORDS) / SUBSTANCE_WORDS
        # share of the words that sit in a list of three or more short names
        out[i, 1] = min(sum(short) / max(words, 1), 1.0) if len(short) >= 3 else 0.0
    if len(texts):
        touched = (np.asarray(hits) > 0).sum(axis=1)
        out[:, 2] = np.minimum(np.maximum(touched - 1, 0), 5) / 5.0
    return out


def criterion_features(
    sims: np.ndarray,
    positives: np.ndarray,
    desc: np.ndarray,
    phrase: np.ndarray,
    hits: np.ndarray,
    sentence: np.ndarray,
    probe: np.ndarray | None = None,
) -> np.ndarray:
    """(n, C, N_FEATURES) features. `sims`: (n, m) cosine of each sentence with each exemplar (self
    matches already masked out at training time); `positives`: (m, C) bool labels; `desc`,
    `phrase`: (n, C) similarities to each criterion's description and closest phrase; `hits`:
    (n, C) number of affirmed concept phrases; `sentence`: (n, N_SENTENCE_FEATURES) from
    `sentence_features`, the same for every criterion of a sentence; `probe`: (n, C) scores of
    the per-criterion linear probes on the embedding (`probe_scores`; 0 when absent)."""
    n, C = desc.shape
    out = np.zeros((n, C, N_FEATURES), dtype=np.float32)
    for j in range(C):
        pos = positives[:, j]
        ps = sims[:, pos] if pos.any() else np.full((n, 1), -1.0, dtype=np.float32)
        ns = sims[:, ~pos]
        k = min(TOP_K, ps.shape[1])
        top = -np.sort(-ps, axis=1)[:, :k]
        out[:, j, 0] = ps.max(axis=1)
        out[:, j, 1] = top.mean(axis=1)
        out[:, j, 2] = ns.max(axis=1) if ns.shape[1] else 0.0
    out[:, :, 3] = desc
    out[:, :, 4] = phrase
    out[:, :, 5] = np.minimum(hits, 2) / 2.0
    # competition: a sentence mostly evidences the criteria it is closest to, so each cell also
    # sees how far it falls behind the sentence's best criterion
    out[:, :, 6] = out[:, :, 0] - out[:, :, 0].max(axis=1, keepdims=True)
    out[:, :, 7] = desc - desc.max(axis=1, keepdims=True)
    if probe is not None:
        out[:, :, 8] = probe
        out[:, :, 9] = probe - probe.max(axis=1, keepdims=True)
    out[:, :, N_CELL_FEATURES:] = sentence[:, None, :]
    return out


def fit_probes(X: np.ndarray, Y: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-criterion linear probes on sentence embeddings, all at once by ridge regression on
    0/1 targets (closed form, deterministic): (d, C) weights and (C,) intercepts. Where the
    exemplar features ask "is there a labelled sentence like this one", a probe asks which
    direction of meaning the criterion's sentences share, so it generalizes past the exemplars'
    wording."""
    mx, my = X.mean(axis=0), Y.mean(axis=0)
    Xc = (X - mx).astype(np.float64)
    A = Xc.T @ Xc + ridge * np.eye(X.shape[1])
    W = np.linalg.solve(A, Xc.T @ (Y - my).astype(np.float64))
    return W.astype(np.float32), (my - mx @ W).astype(np.float32)


def probe_scores(vectors: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    return vectors @ W + b[None, :]


_LEX_TOKEN = re.compile(r"[a-z][a-z0-9@/+-]*|[0-9]+")
LEX_SCALE = 1.0  # weight of the word features next to the unit-length embedding


def build_vocab(texts: list[str], min_count: int = 2) -> list[str]:
    """The words in at least `min_count` of the sentences, sorted (deterministic)."""
    counts: dict[str, int] = {}
    for text in texts:
        for w in set(_LEX_TOKEN.findall(text.lower())):
            counts[w] = counts.get(w, 0) + 1
    return sorted(w for w, k in counts.items() if k >= min_count)


def probe_inputs(vectors: np.ndarray, texts: list[str], vocab: dict[str, int]) -> np.ndarray:
    """What the probes read: the embedding, then the lexical features when there is a vocab."""
    if not vocab:
        return vectors
    return np.hstack([vectors, lexical_features(texts, vocab)])


def lexical_features(texts: list[str], vocab: dict[str, int]) -> np.ndarray:
    """(n, V) the words of each sentence found in `vocab` (present or not), each row scaled to
    length LEX_SCALE: the lexical cues a probe reads next to the embedding."""
    out = np.zeros((len(texts), len(vocab)), dtype=np.float32)
    for i, text in enumerate(texts):
        cols = {vocab[w] for w in _LEX_TOKEN.findall(text.lower()) if w in vocab}
        if cols:
            out[i, sorted(cols)] = LEX_SCALE / np.sqrt(len(cols))
    return out


def voice_features(sims: np.ndarray, voice: np.ndarray, texts: list[str]) -> np.ndarray:
    """(n, 3): nearest design-voice exemplar, nearest non-design exemplar, first-person plan
    wording. `voice` is 1 for design exemplars, 0 for non-design ones, -1 for neither."""
    design, other = voice == 1, voice == 0
    n = sims.shape[0]
    out = np.zeros((n, 3), dtype=np.float32)
    out[:, 0] = sims[:, design].max(axis=1) if design.any() else 0.0
    out[:, 1] = sims[:, other].max(axis=1) if other.any() else 0.0
    out[:, 2] = [1.0 if _PLAN_VOICE.search(t) else 0.0 for t in texts]
    return out


@dataclass
class EvidenceModel:
    criteria: list[str]  # criterion ids, in the column order of `positives` and `bias`
    exemplars: np.ndarray  # (m, d) float32 unit vectors
    positives: np.ndarray  # (m, C) bool
    voice: np.ndarray  # (m,) int8: 1 design, 0 not a design, -1 neither
    weights: np.ndarray  # (N_FEATURES,) shared or (C, N_FEATURES) per-criterion weights
    bias: np.ndarray  # (C,) per-criterion intercepts
    voice_weights: np.ndarray  # (4,) design-voice weights, the last one the intercept
    model_name: str
    probe_w: np.ndarray | None = None  # (d, C) linear probe weights per criterion
    probe_b: np.ndarray | None = None  # (C,) their intercepts
    vocab: dict[str, int] = field(default_factory=dict)  # words the probes read, by column

    def column(self, criterion_ids: list[str]) -> np.ndarray:
        """For each rubric criterion, its column in the model (-1 when the model lacks it)."""
        where = {c: k for k, c in enumerate(self.criteria)}
        return np.asarray([where.get(c, -1) for c in criterion_ids], dtype=np.intp)

    def score(
        self,
        vectors: np.ndarray,
        criterion_ids: list[str],
        desc: np.ndarray,
        phrase: np.ndarray,
        hits: np.ndarray,
        texts: list[str],
    ) -> np.ndarray:
        """(n, C) probability that each sentence evidences each rubric criterion."""
        n, C = len(vectors), len(criterion_ids)
        if not n:
            return np.zeros((0, C), dtype=np.float32)
        cols = self.column(criterion_ids)
        known = cols >= 0
        positives = np.zeros((len(self.exemplars), C), dtype=bool)
        positives[:, known] = self.positives[:, cols[known]]
        sims = vectors @ self.exemplars.T
        sentence = sentence_features(texts, hits)
        probe = None
        if self.probe_w is not None:
            probe = np.zeros((n, C), dtype=np.float32)
            X = probe_inputs(vectors, texts, self.vocab)
            scores = probe_scores(X, self.probe_w, self.probe_b)
            probe[:, known] = scores[:, cols[known]]
        feats = criterion_features(sims, positives, desc, phrase, hits, sentence, probe)
        bias = np.where(known, self.bias[np.maximum(cols, 0)], float(np.median(self.bias)))
        if self.weights.ndim == 1:  # one weight vector shared by every criterion
            logits = feats @ self.weights
        else:  # (criteria, features): the shared weights plus a small per-criterion deviation
            shared = self.weights.mean(axis=0)
            w = np.where(known[:, None], self.weights[np.maximum(cols, 0)], shared[None, :])
            logits = np.einsum("ncf,cf->nc", feats, w)
        return np.round(sigmoid(logits + bias[None, :]), 4)

    def voice_score(self, vectors: np.ndarray, texts: list[str]) -> np.ndarray:
        """(n,) probability that each sentence is part of a proposed design."""
        if not len(vectors):
            return np.zeros(0, dtype=np.float32)
        feats = voice_features(vectors @ self.exemplars.T, self.voice, texts)
        return np.round(sigmoid(feats @ self.voice_weights[:-1] + self.voice_weights[-1]), 4)


_cache: dict[tuple[str, float], EvidenceModel] = {}
_lock = threading.Lock()


def load_evidence_model(path: Path = MODEL_PATH) -> EvidenceModel | None:
    """The shipped model (cached per file and mtime); None when the file is missing or from
    another format, so the grader can fall back to its similarity rules."""
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError:
        log.warning("evidence model missing at %s: run scripts/train_grader.py", path)
        return None
    with _lock:
        if key in _cache:
            return _cache[key]
    with np.load(path, allow_pickle=False) as data:
        if int(data["format"]) != FORMAT:
            log.warning(
                "evidence model %s has format %s, expected %s", path, data["format"], FORMAT
            )
            return None
        model = EvidenceModel(
            criteria=[str(c) for c in data["criteria"]],
            exemplars=data["exemplars"].astype(np.float32),
            positives=data["positives"].astype(bool),
            voice=data["voice"].astype(np.int8),
            weights=data["weights"].astype(np.float32),
            bias=data["bias"].astype(np.float32),
            voice_weights=data["voice_weights"].astype(np.float32),
            model_name=str(data["model_name"]),
            probe_w=data["probe_w"].astype(np.float32),
            probe_b=data["probe_b"].astype(np.float32),
            vocab={str(w): k for k, w in enumerate(data["vocab"])} if "vocab" in data else {},
        )
    with _lock:
        _cache[key] = model
    return model


# Probability thresholds on the calibrated evidence score (chosen on the training sentences'
# held-out folds and tests/designs, never on the judging set in eval/datasets/grader_dev/).
MET_PROBABILITY = 0.75
PARTIAL_PROBABILITY = 0.5
SAME_STAGE_BONUS = 0.02  # evidence under the criterion's own stage heading is slightly favored
# "Met" needs a sentence with room to say what and how: a fragment ("A/B test", "NDCG, MAP") or a
# list of names is at most partial evidence, however sure the classifier is of its topic.
MET_MIN_WORDS = 8
MAX_LIST_SHARE = 0.5  # a sentence with half its words in a list of names is a list


@lru_cache(maxsize=4096)
def substantive(text: str) -> bool:
    """Whether a sentence can fully evidence a criterion: enough words, not a list of names."""
    feats = sentence_features([text], np.zeros((1, 1)))[0]
    return feats[0] * SUBSTANCE_WORDS >= MET_MIN_WORDS and feats[1] < MAX_LIST_SHARE


def evidence_probabilities(
    model: EvidenceModel,
    vectors: np.ndarray,
    hits,
    desc: np.ndarray,
    sims: np.ndarray,
    index,
    texts: list[str],
    own_counts: list[list[int]] | None = None,
) -> np.ndarray:
    """(n, C) evidence probabilities in rubric order; 0 where negation blocked the cell
    (`drop_negated` set its similarities to -1). `texts`: the sentences of `vectors`;
    `own_counts`: concept phrases found in each sentence itself, not in its heading (the model
    was trained on sentences alone; default: the counts of `hits`)."""
    ids = [c.id for _, c in index.criteria]
    if own_counts is None:
        own_counts = [[len(h) for h in row] for row in hits]
    counts = np.asarray(own_counts, dtype=np.float32).reshape(len(vectors), len(ids))
    probs = model.score(vectors, ids, desc, sims, counts, texts)
    return np.where(desc <= -1.0, 0.0, probs)


def judge_criteria(passages, hits, desc, sims, index, probs: np.ndarray | None = None) -> dict:
    """Met / partial / missing for every criterion: by meaning when `probs` (from
    `evidence_probabilities`) is given, else by the similarity rules of `match`."""
    from tools.grader import match

    if probs is None:
        return match.judge_criteria(passages, hits, desc, sims, index)
    return judge_by_meaning(passages, probs, hits, sims, index.criteria)


def judge_by_meaning(passages, probs: np.ndarray, hits, sims: np.ndarray, criteria) -> dict:
    """Met / partial / missing for every criterion from the evidence probabilities, with the
    most convincing sentence as the verbatim quote. `criteria` are (stage id, criterion)."""
    from tools.grader.match import Judgement

    full = np.asarray([substantive(p.text) for p in passages], dtype=bool)
    out = {}
    for j, (stage_id, criterion) in enumerate(criteria):
        # the most convincing sentence, and the most convincing one that can fully evidence it
        best = best_full = (-1.0, -1)
        for i, passage in enumerate(passages):
            strength = float(probs[i, j]) + (SAME_STAGE_BONUS if passage.stage == stage_id else 0)
            if strength > best[0] + 1e-9:  # ties keep the earlier sentence
                best = (strength, i)
            if full[i] and strength > best_full[0] + 1e-9:
                best_full = (strength, i)
        best_i = best[1]
        p = float(probs[best_i, j]) if best_i >= 0 else 0.0
        if best_full[1] >= 0 and float(probs[best_full[1], j]) >= MET_PROBABILITY:
            status, best_i = "met", best_full[1]
        elif p >= PARTIAL_PROBABILITY:
            status = "partial"
        else:
            status = "missing"
        if status == "missing":
            top = float(sims[:, j].max()) if len(passages) else 0.0
            out[criterion.id] = Judgement("missing", "", round(top, 3), [])
        else:
            sim = round(float(sims[best_i, j]), 3)
            out[criterion.id] = Judgement(status, passages[best_i].text, sim, hits[best_i][j])
    return out
