"""Is the text an ML system design at all? A text that proposes no system for a problem is
graded 0 with a one-line reason, however many ML words it holds.

A design proposes: someone plans a system for one problem ("we would log impressions", "I'll
split by time") and walks through most of its stages. Other ML texts explain (a concept note
covers one technique across many problems: its confident sentences pile up in one or two
stages, and it speaks generically: "typically", "for example", "candidates"), or belong to
another genre with its own markers: a changelog ("Fixed ...", version numbers), a tutorial
("In this tutorial", "pip install"), a paper abstract ("we propose", "outperforms
state-of-the-art"), a competition write-up ("leaderboard", "final submission").

Thresholds were set on tests/designs (designs and not-designs written for the project) and on
the corpus (solutions are designs; concepts and framework guides are not).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

CONFIDENT = 0.6  # evidence probability of a sentence's best criterion that counts it
PLAN_SHARE = 0.15  # a design in the candidate's planning voice
MIN_CONFIDENT_SHARE = 0.3  # a design's sentences mostly say something the rubric asks for
SPREAD_STAGES = 4.0  # effective number of stages a third-person design walks through ...
MAX_GENERIC_SHARE = 0.075  # ... while speaking about its own problem (explainers: >= 0.083)
GENRE_MIN_SENTENCES = 2
# Whether a very long text proposes a system shows in its opening: a long appendix (a feature
# catalogue, logs) must not outvote the design in front of it. Texts of usual length (up to
# LONG_TEXT_SENTENCES, several thousand words) are read whole.
LONG_TEXT_SENTENCES = 200
OPENING_SENTENCES = 60
GENRE_MIN_SHARE = 0.08

_PLAN = re.compile(
    r"\b(i'd|i'll|we'll|we'd|i would|we would|i will|we will|i choose|we choose|let me|"
    r"my design|our design|we use|we train|we deploy|we serve|we log|we run|we split|we keep|"
    r"we retrain|we monitor|we put|we try|we build|i use|i start|we start)\b",
    re.IGNORECASE,
)
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
        r"^(added|fixed|changed|removed|deprecated|bumped|improved|new:)\b|\bv?\d+\.\d+\.\d+\b|"
        r"\bbreaking change\b|\bchangelog\b|\brelease notes\b",
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


@dataclass
class DesignSignals:
    sentences: int
    confident_share: float  # sentences whose best criterion is evidenced confidently
    plan_share: float
    generic_share: float
    stage_spread: float  # effective number of stages of the confident sentences
    genre: str  # "" or the genre whose markers the text carries


def design_signals(
    texts: list[str], probs: np.ndarray, stage_of: list[int], headings: list[str] = ()
) -> DesignSignals:
    """`probs`: (sentences, criteria) evidence probabilities; `stage_of[j]`: stage index of
    criterion j; `headings` count for the genre markers only ("Fixed", "3.2.0")."""
    if len(texts) > LONG_TEXT_SENTENCES:
        texts, probs = texts[:OPENING_SENTENCES], probs[:OPENING_SENTENCES]
    n = len(texts)
    if not n:
        return DesignSignals(0, 0.0, 0.0, 0.0, 0.0, "")
    plan = sum(1 for t in texts if _PLAN.search(t)) / n
    generic = sum(1 for t in texts if _GENERIC.search(t)) / n
    counts = np.zeros(max(stage_of) + 1 if stage_of else 1)
    best = probs.argmax(axis=1) if probs.size else np.zeros(0, dtype=int)
    confident = 0
    for i in range(n):
        if probs.size and probs[i, best[i]] >= CONFIDENT:
            counts[stage_of[int(best[i])]] += 1
            confident += 1
    spread = 0.0
    if counts.sum():
        q = counts[counts > 0] / counts.sum()
        spread = float(np.exp(-(q * np.log(q)).sum()))
    genre = ""
    for name, pattern in GENRES.items():
        hits = sum(1 for t in [*texts, *headings] if pattern.search(t))
        if hits >= GENRE_MIN_SENTENCES and hits >= GENRE_MIN_SHARE * n:
            genre = name
            break
    return DesignSignals(
        n, round(confident / n, 3), round(plan, 3), round(generic, 3), round(spread, 2), genre
    )


def proposes_a_system(signals: DesignSignals) -> tuple[bool, str]:
    """(is a design, one-line reason when it is not)."""
    if signals.genre:
        return False, f"it reads as {signals.genre}, not a proposed system"
    if signals.confident_share >= MIN_CONFIDENT_SHARE and (
        signals.plan_share >= PLAN_SHARE
        or (signals.stage_spread >= SPREAD_STAGES and signals.generic_share < MAX_GENERIC_SHARE)
    ):
        return True, ""
    return False, (
        "it explains ML ideas but proposes no system for a problem: no plan in the "
        "candidate's voice and no walk through the design's stages"
    )
