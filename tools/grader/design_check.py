"""Is the text an ML system design at all? A text that proposes no system for a problem is
graded 0 with a one-line reason, however many ML words it holds.

A design proposes: someone plans a system for one problem ("we would log impressions", "I'll
split by time") and walks through several of its stages, even tersely or weakly. Other ML texts
explain (a concept note covers one technique across many problems and speaks generically:
"typically", "for example"), address a reader ("you'll need", "step 3"), or belong to a genre
with its own markers: a changelog ("Fixed ...", version numbers), a tutorial ("pip install"),
a paper abstract ("we propose", "outperforms state-of-the-art"), a competition write-up
("leaderboard", "final submission").

The decision is a small calibrated logistic regression over document-level features: how much
of the text evidences rubric criteria and across how many stages (from the evidence
probabilities the grader already computed), planning / first-person / second-person voice,
genre-marker density, the evidence model's per-sentence design voice, where the document's
mean sentence embedding falls between the training designs and non-designs, and its structure:
how many stages its headings (and numbered lines such as "3) Draw the workflow") name, whether
its title names one thing to build ("Design an event recommendation system") or a generic topic
("How to ace ..."), and its share of generic advice ("typically", "interviewers"). A design in
note form has the skeleton and the title without any "I" or "we"; an interview-advice article
has the skeleton too, but speaks to "you" about designs in general. It is trained by
`scripts/train_design_check.py` on the documents in `eval/datasets/grader_train/docs/` plus
the project's corpus and tests/designs (never on the judging set in `eval/datasets/grader_dev/`)
and shipped as `design_model.npz` next to this file. Retrain it whenever the evidence model
is retrained: its features read that model's probabilities.
Pure numpy, deterministic; without the artefact the hand rules of earlier versions decide.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tools.grader.structure import Outline

log = logging.getLogger(__name__)

MODEL_PATH = Path(__file__).with_name("design_model.npz")
FORMAT = 2
THRESHOLD = 0.5  # on the calibrated probability that the text is a design
CONFIDENT = 0.6  # evidence probability of a sentence's best criterion that counts it
MET = 0.75  # evidence probability that credits a criterion as met
# Whether a very long text proposes a system shows in its opening: a long appendix (a feature
# catalogue, logs) must not outvote the design in front of it. Texts of usual length (up to
# LONG_TEXT_SENTENCES, several thousand words) are read whole.
LONG_TEXT_SENTENCES = 200
OPENING_SENTENCES = 60
GENRE_MIN_SENTENCES = 2  # genre named in the reason only when it has this many marked sentences

_PLAN = re.compile(
    r"\b(i'd|i'll|we'll|we'd|i would|we would|i will|we will|i choose|we choose|let me|"
    r"my design|our design|we use|we train|we deploy|we serve|we log|we run|we split|we keep|"
    r"we retrain|we monitor|we put|we try|we build|i use|i start|we start|i want|we need|"
    r"i need|i'm going to|we're going to|my plan|i plan|i propose|i'd propose)\b",
    re.IGNORECASE,
)
_FIRST_PERSON = re.compile(r"\b(we|i|our|my|us|me|i'd|we'd|i'll|we'll|i'm)\b", re.IGNORECASE)
# Words any ML text uses, design or not: a text without them (a recipe, a match report) is off
# topic, however planned its voice.
_ML_VOCABULARY = re.compile(
    r"\b(models?|train(ing|ed)?|data(set)?s?|labels?|features?|predict(s|ion|ions|ed)?|"
    r"classif\w*|rank(s|ing|er)?|recommend\w*|metrics?|precision|recall|accuracy|auc|ndcg|"
    r"embeddings?|llm|gpt|neural|gbdt|xgboost|regression|baseline|a/b|inference|latency|"
    r"retriev\w*|scor(e|es|ing)|monitor\w*|deploy\w*|forecast\w*|users?|signals?)\b",
    re.IGNORECASE,
)
_SECOND_PERSON = re.compile(r"\b(you|your|you'll|you've|you're)\b", re.IGNORECASE)
_GENERIC = re.compile(
    r"\b(interviewers?|typically|usually|often|for example|e\.g\.|such as|commonly|"
    r"in general|many teams|most teams|strong answers?|weak answers?)\b"
    # the interview candidate, not candidate generation ("the candidate set", "candidates per user")
    r"|\b(a|the|strong|weak|senior|staff|mid[- ]level|good|many|most) candidates?\b"
    r"(?! (generation|generator|retrieval|items?|pairs?|sets?|pool|lists?|users?|videos?|ads?|"
    r"documents?|friends?|per|from|and|are scored))",
    re.IGNORECASE,
)
GENRES = {
    "a changelog": re.compile(
        r"^(added|fixed|changed|removed|deprecated|bumped|improved|new:|feat:|fix:)|"
        r"\bv?\d+\.\d+\.\d+\b|\bbreaking changes?\b|\bchangelog\b|\brelease notes\b",
        re.IGNORECASE,
    ),
    "a tutorial": re.compile(
        r"\bin this (tutorial|post|notebook|article|guide|blog)\b|\bstep \d\b|\bpip install\b|"
        r"\bhappy coding\b|\bin the next (post|tutorial|article)\b|\bas you can see\b|"
        r"\bwe can see\b|\brun the (cell|code)\b",
        re.IGNORECASE,
    ),
    "a paper abstract": re.compile(
        r"\bin this (paper|work)\b|\bwe propose\b|\bstate[- ]of[- ]the[- ]art\b|\boutperforms?\b|"
        r"\bbenchmark datasets?\b|\bpublic benchmarks?\b|\bablation\b|\bexperiments (on|show)\b|"
        r"\bcode and data\b|\babstract\b|\bkeywords:",
        re.IGNORECASE,
    ),
    "a competition write-up": re.compile(
        r"\bleaderboard\b|\bkaggle\b|\b(public|private) lb\b|\bfinal submission\b|\bkernels\b|"
        r"\bplace solution\b|\bcompetition\b|\borganizers\b",
        re.IGNORECASE,
    ),
}
FEATURES = (
    "confident_share",  # sentences whose best criterion is evidenced confidently
    "mean_best_probability",
    "stage_spread",  # effective number of stages of the confident sentences, / stages
    "stage_coverage",  # stages with a confident sentence, / stages
    "criteria_met",  # criteria evidenced at the met level, / criteria
    "plan_share",
    "first_person_share",
    "second_person_share",
    "ml_vocabulary_share",  # sentences with an ML word ("model", "train", "users", "latency")
    "genre_share",  # the most frequent genre's marked sentences, / sentences
    "design_voice",  # mean of the evidence model's per-sentence design-voice probability
    "coherence",  # mean cosine between two different sentences: one problem throughout
    "embedding_side",  # cos(mean embedding, design centroid) - cos(.., non-design centroid)
    "heading_stages",  # rubric stages named by headings and numbered lines, / stages
    "title_names_system",  # +1 the title names one thing to build, -1 a generic topic, 0 neither
    "generic_share",  # "typically", "interviewers", "for example": advice and explainers
)


@dataclass
class DesignSignals:
    sentences: int
    features: np.ndarray  # (len(FEATURES),) in FEATURES order
    genre: str = ""  # "" or the genre whose markers the text carries most
    mean_vector: np.ndarray | None = None  # unit mean of the sentence embeddings
    generic_share: float = 0.0  # "typically", "for example": read by the fallback rules only
    probability: float | None = field(default=None)  # filled by proposes_a_system

    def as_dict(self) -> dict[str, float]:
        return {name: round(float(v), 3) for name, v in zip(FEATURES, self.features, strict=True)}


@dataclass
class DesignModel:
    mean: np.ndarray  # feature standardisation
    scale: np.ndarray
    weights: np.ndarray  # (len(FEATURES),) on standardised features
    bias: float
    design_centroid: np.ndarray  # (d,) unit mean embedding of training designs
    other_centroid: np.ndarray  # (d,) ... of training non-designs

    def probability(self, features: np.ndarray) -> float:
        z = float(((features - self.mean) / self.scale) @ self.weights + self.bias)
        return float(1.0 / (1.0 + np.exp(-np.clip(z, -30, 30))))


_cache: dict[tuple[str, float], DesignModel] = {}
_lock = threading.Lock()


def load_design_model(path: Path = MODEL_PATH) -> DesignModel | None:
    """The shipped model (cached per file and mtime); None when missing or of another format."""
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError:
        log.warning("design model missing at %s: run scripts/train_design_check.py", path)
        return None
    with _lock:
        if key in _cache:
            return _cache[key]
    with np.load(path, allow_pickle=False) as data:
        names = tuple(str(n) for n in data["features"])
        if int(data["format"]) != FORMAT or names != FEATURES:
            log.warning("design model %s is of another format: retrain it", path)
            return None
        model = DesignModel(
            mean=data["mean"].astype(np.float64),
            scale=data["scale"].astype(np.float64),
            weights=data["weights"].astype(np.float64),
            bias=float(data["bias"]),
            design_centroid=data["design_centroid"].astype(np.float32),
            other_centroid=data["other_centroid"].astype(np.float32),
        )
    with _lock:
        _cache[key] = model
    return model


def _share(pattern: re.Pattern, texts: list[str]) -> float:
    return sum(1 for t in texts if pattern.search(t)) / max(len(texts), 1)


def design_signals(
    texts: list[str],
    probs: np.ndarray,
    stage_of: list[int],
    headings: list[str] = (),
    vectors: np.ndarray | None = None,
    centroids: tuple[np.ndarray, np.ndarray] | None = None,
    outline: Outline | None = None,
) -> DesignSignals:
    """Document features. `probs`: (sentences, criteria) evidence probabilities; `stage_of[j]`:
    stage index of criterion j; `headings` count for the genre markers only ("Fixed", "3.2.0");
    `vectors`: the sentences' unit embeddings (already computed by the grader); `centroids`
    (design, non-design) override the shipped model's (training folds); `outline`: the
    document's title and heading skeleton (document_outline), read whole even for long texts."""
    if len(texts) > LONG_TEXT_SENTENCES:
        texts, probs = texts[:OPENING_SENTENCES], probs[:OPENING_SENTENCES]
        vectors = None if vectors is None else vectors[:OPENING_SENTENCES]
    n = len(texts)
    f = dict.fromkeys(FEATURES, 0.0)
    if not n:
        return DesignSignals(0, np.zeros(len(FEATURES)))
    n_stages = max(stage_of) + 1 if stage_of else 1
    if probs.size:
        best = probs.max(axis=1)
        stages = np.asarray(stage_of)[probs.argmax(axis=1)]
        confident = best >= CONFIDENT
        counts = np.bincount(stages[confident], minlength=n_stages).astype(float)
        f["confident_share"] = float(confident.mean())
        f["mean_best_probability"] = float(best.mean())
        if counts.sum():
            q = counts[counts > 0] / counts.sum()
            f["stage_spread"] = float(np.exp(-(q * np.log(q)).sum())) / n_stages
        f["stage_coverage"] = float((counts > 0).sum()) / n_stages
        f["criteria_met"] = float((probs.max(axis=0) >= MET).mean())
    # voice is read from statements: an interviewer's questions in a transcript ("What data
    # would you use?") say nothing about how the candidate speaks
    statements = [t for t in texts if not t.rstrip().endswith("?")] or texts
    f["plan_share"] = _share(_PLAN, statements)
    f["first_person_share"] = _share(_FIRST_PERSON, statements)
    f["second_person_share"] = _share(_SECOND_PERSON, statements)
    f["ml_vocabulary_share"] = _share(_ML_VOCABULARY, texts)
    genre, genre_hits = "", 0
    for name, pattern in GENRES.items():
        hits = sum(1 for t in [*texts, *headings] if pattern.search(t))
        if hits > genre_hits:
            genre, genre_hits = name, hits
    f["genre_share"] = min(genre_hits / n, 1.0)
    mean = None
    if vectors is not None and len(vectors):
        mean = vectors.mean(axis=0)
        norm = float(np.linalg.norm(mean))
        # mean cosine between two different sentences (|mean|^2 also counts each sentence
        # with itself, which would make every short text look coherent)
        k = len(vectors)
        f["coherence"] = (k * norm**2 - 1.0) / (k - 1) if k > 1 else 1.0
        mean = mean / (norm or 1.0)
        f["design_voice"] = _design_voice(vectors, texts)
        if centroids is None:
            model = load_design_model()
            centroids = (model.design_centroid, model.other_centroid) if model else None
        if centroids is not None:
            f["embedding_side"] = float(mean @ centroids[0] - mean @ centroids[1])
    if outline is not None:
        f["heading_stages"] = len(outline.stages) / max(outline.n_stages, 1)
        f["title_names_system"] = outline.title_score
    f["generic_share"] = _share(_GENERIC, statements)
    features = np.asarray([f[name] for name in FEATURES], dtype=np.float64)
    genre = genre if genre_hits >= GENRE_MIN_SENTENCES else ""
    return DesignSignals(n, features, genre, mean, f["generic_share"])


def _design_voice(vectors: np.ndarray, texts: list[str]) -> float:
    from tools.grader.evidence import load_evidence_model

    model = load_evidence_model()
    if model is None or not hasattr(model, "voice_score"):
        return 0.5
    return float(np.mean(model.voice_score(vectors, texts)))


def proposes_a_system(signals: DesignSignals) -> tuple[bool, str]:
    """(is a design, one-line reason when it is not)."""
    model = load_design_model()
    if model is None:
        return _fallback_rules(signals)
    p = model.probability(signals.features)
    signals.probability = round(p, 3)
    log.debug("design probability %.3f from %s", p, signals.as_dict())
    if p >= THRESHOLD:
        return True, ""
    if signals.genre:
        return False, f"it reads as {signals.genre}, not a proposed system (p={p:.2f})"
    return False, (
        "it explains ML ideas but proposes no system for a problem: no plan in the "
        f"candidate's voice and no walk through the design's stages (p={p:.2f})"
    )


def _fallback_rules(signals: DesignSignals) -> tuple[bool, str]:
    """The earlier hand rules, used only when the trained artefact is missing."""
    f = signals.as_dict()
    if signals.genre and f["genre_share"] >= 0.08:
        return False, f"it reads as {signals.genre}, not a proposed system"
    if f["confident_share"] >= 0.3 and (
        f["plan_share"] >= 0.15 or (f["stage_spread"] >= 0.5 and signals.generic_share < 0.075)
    ):
        return True, ""
    return False, (
        "it explains ML ideas but proposes no system for a problem: no plan in the "
        "candidate's voice and no walk through the design's stages"
    )
