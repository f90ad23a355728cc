"""Negation for the design grader: something the design says it will not do is not evidence.

"We won't monitor the model", "there is no holdout set" and "we skip A/B testing" contain a
concept phrase, but negated. A negation cue (no, not, never, without, n't, skip ...) scopes over
the next few words of its clause: four for a cue that negates a noun ("no holdout set",
"without any fallback"), seven for one that negates a verb ("will not retrain the model"). A
few cues look back instead ("A/B testing is out of scope", "monitoring is not needed").
A scope ends early at clause punctuation (; : parentheses, dashes), at a conjunction ("but",
"so", "because" ...) and at a new subject (", we" or "and we"), so in "no PII leaves the
region; we monitor feature drift daily" the monitoring is still affirmed.

A negated hazard is a safeguard, not a missing practice: a scope that contains a hazard word
(leak, skew, bias, stale, regression, PII, hallucination ...) is dropped, so "nothing from the
future leaks in" and "no guardrail regression" keep their credit. Bounds such as "no more than
100 ms" or "must not exceed" are not negations. Rule-based and deterministic; the scopes are
character spans of the sentence's normalized text (`text.normalize`).
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from tools.grader.text import Passage, _anchor, find_phrases, normalize, phrase_pattern
from tools.rubric import Rubric

Span = tuple[int, int]

NOUN_SCOPE = 4  # "no offline evaluation set"
VERB_SCOPE = 7  # "will not be running any online A/B test"
BACK_SCOPE = 5  # "the online A/B test is out of scope"

_NOUN_CUES = {"no", "without", "none", "nothing", "nobody", "neither", "nor", "lack", "lacks"}
_VERB_CUES = {
    "not", "never", "cannot", "dont", "doesnt", "didnt", "wont", "cant", "isnt", "arent",
    "skip", "skips", "skipping", "skipped", "omit", "omits", "omitting", "omitted", "forgo",
}  # fmt: skip
_BACK_CUES = {"unnecessary", "skipped", "omitted"}  # "monitoring is skipped"
_NOT_NEEDED = {"needed", "necessary", "required", "planned"}  # "... is not needed"
# "not only", "no matter": not a negation; "no more than 100 ms", "must not exceed": a bound
_NOT_A_CUE = {"only", "just", "merely", "simply", "matter", "exceed", "exceeds", "exceeding"}
_COMPARATIVES = {"more", "less", "fewer", "later", "longer", "greater", "higher", "lower", "worse"}
_CONJUNCTIONS = {
    "but", "so", "because", "since", "while", "whereas", "although", "though", "however",
    "yet", "unless", "until", "instead", "except", "which", "otherwise", "thus", "hence", "then",
}  # fmt: skip
_SUBJECTS = {"we", "i", "they", "you", "it", "our", "there", "he", "she"}
_AUXILIARIES = {"is", "are", "was", "were", "will", "would", "can", "could", "should", "must",
                "may", "might", "has", "have", "had"}  # fmt: skip
# Words whose negation is a safeguard ("no leakage", "without hurting latency").
HAZARD_STEMS = (
    "leak", "pii", "skew", "bias", "stale", "hallucinat", "toxic", "regress", "overfit",
    "duplicat", "secret", "outage", "downtime", "clickbait", "abuse", "injection", "future",
    "loop", "compromis", "hurt", "harm", "degrad", "break", "breach", "violat", "lose", "losing",
    "lost",
)  # fmt: skip
_BREAK = re.compile(r"([;:()\[\]{}—–,]|\s-{1,2}\s)")


def _words(text: str) -> tuple[list[str], list[str]]:
    """The normalized words of `text` and, for each, the break before it: "hard" (; : ( ...),
    "comma" or "" (splitting on punctuation never changes the normalized words)."""
    words: list[str] = []
    breaks: list[str] = []
    pending = ""
    for k, part in enumerate(_BREAK.split(text)):
        if k % 2:  # a delimiter
            pending = "comma" if part == "," and pending != "hard" else "hard"
            continue
        for w in normalize(part).split():
            words.append(w)
            breaks.append(pending)
            pending = ""
    return words, breaks


def _is_cue(words: list[str], k: int) -> str | None:
    """ "noun" or "verb" when words[k] opens a forward negation scope, else None."""
    w = words[k]
    nxt = words[k + 1] if k + 1 < len(words) else ""
    contraction = w == "t" and k > 0 and words[k - 1].endswith("n")  # "don t", "won t"
    if contraction or w in _VERB_CUES:
        kind = "verb"
    elif w in _NOUN_CUES:
        kind = "noun"
    else:
        return None
    if nxt in _NOT_A_CUE or (k and words[k - 1] == "or"):  # "whether or not"
        return None
    if nxt in _COMPARATIVES and "than" in words[k + 2 : k + 4]:
        return None
    return kind


def _ends_scope(words: list[str], breaks: list[str], k: int) -> bool:
    w = words[k]
    if breaks[k] == "hard" or w in _CONJUNCTIONS:
        return True
    new_clause = breaks[k] == "comma" or (k and words[k - 1] in ("and", "or"))
    return bool(new_clause and w in _SUBJECTS)


def _hazard(words: list[str]) -> bool:
    return any(w.startswith(HAZARD_STEMS) for w in words)


@lru_cache(maxsize=8192)
def negation_spans(text: str) -> tuple[Span, ...]:
    """Character spans of `normalize(text)` that a negation cue scopes over."""
    words, breaks = _words(text)
    norm = normalize(text)
    if " ".join(words) != norm.strip():  # never expected; without negation is the safe side
        return ()
    starts, pos = [], 1
    for w in words:
        starts.append(pos)
        pos += len(w) + 1
    ranges: list[tuple[int, int]] = []  # word index ranges [a, b)
    for k in range(len(words)):
        kind = _is_cue(words, k)
        if kind is not None:
            limit = NOUN_SCOPE if kind == "noun" else VERB_SCOPE
            end = k + 1
            while end < len(words) and end - k <= limit and not _ends_scope(words, breaks, end):
                if kind == "noun" and words[end] in _AUXILIARIES:
                    break
                end += 1
            ranges.append((k + 1, end))
        back = words[k] in _BACK_CUES or (
            words[k] == "not" and k + 1 < len(words) and words[k + 1] in _NOT_NEEDED
        )
        back = back or words[k : k + 3] == ["out", "of", "scope"]
        if back:
            start = k
            while start > 0 and k - start < BACK_SCOPE and not _ends_scope(words, breaks, start):
                start -= 1
            ranges.append((start, k))
    spans = []
    for a, b in ranges:
        if b > a and not _hazard(words[a:b]):
            spans.append((starts[a], starts[b - 1] + len(words[b - 1])))
    return tuple(spans)


def _inside(pos: int, spans: tuple[Span, ...]) -> bool:
    return any(a <= pos < b for a, b in spans)


def affirmed_phrases(norm: str, phrases: list[str], spans: tuple[Span, ...]) -> list[str]:
    """The phrases with at least one occurrence outside the negated spans, in given order."""
    found = find_phrases(norm, phrases)
    if not spans:
        return found
    return [p for p in found if first_affirmed(norm, [p], spans) is not None]


def negated_phrases(norm: str, phrases: list[str], spans: tuple[Span, ...]) -> list[str]:
    """The phrases that occur in `norm` only inside negated spans."""
    if not spans:
        return []
    found = find_phrases(norm, phrases)
    return [p for p in found if first_affirmed(norm, [p], spans) is None]


def first_affirmed(norm: str, phrases: list[str], spans: tuple[Span, ...]) -> int | None:
    """Offset of the earliest occurrence of any phrase outside the negated spans, or None."""
    best = None
    for p in phrases:
        if _anchor(p) not in norm:  # a cheap substring test before the regex (long texts)
            continue
        for m in phrase_pattern(p).finditer(norm):
            if not _inside(m.start(), spans):
                if best is None or m.start() < best:
                    best = m.start()
                break
    return best


_topics_cache: dict[str, dict[str, list[re.Pattern[str]]]] = {}


def _topic_patterns(rubric: Rubric) -> dict[str, list[re.Pattern[str]]]:
    """Per stage, the words that name its practice: its heading keywords (as word prefixes,
    "monitor" in "monitoring") and the phrases of its absence red flags ("a/b", "rollback")."""
    key = f"{rubric.source_path}:{rubric.fingerprint}"
    if key in _topics_cache:
        return _topics_cache[key]
    out = {}
    for stage in rubric.stages:
        pats = [
            re.compile(r"(?<![a-z0-9])" + re.escape(normalize(kw).strip()))
            for kw in stage.heading_keywords
        ]
        for flag in stage.red_flags:
            if flag.detect.kind == "absent":
                pats.extend(phrase_pattern(p) for p in flag.detect.phrases)
        out[stage.id] = pats
    _topics_cache[key] = out
    return out


def negated_evidence(passages: list[Passage], criteria: list, rubric: Rubric) -> np.ndarray:
    """blocked[i, j]: sentence i may not evidence criterion j (`criteria` as (stage id,
    criterion) pairs). True when the sentence negates one of the criterion's concept phrases
    or a word naming its stage's practice ("we won't monitor the model") and affirms none of
    the criterion's phrases: then neither the phrase nor similarity counts for it."""
    blocked = np.zeros((len(passages), len(criteria)), dtype=bool)
    topics = None
    for i, p in enumerate(passages):
        spans = negation_spans(p.text)
        if not spans:
            continue
        if topics is None:
            topics = _topic_patterns(rubric)
        stage_negated = {
            sid: any(_inside(m.start(), spans) for pat in pats for m in pat.finditer(p.norm))
            for sid, pats in topics.items()
        }
        for j, (sid, criterion) in enumerate(criteria):
            if affirmed_phrases(p.norm, criterion.phrases, spans):
                continue
            if stage_negated[sid] or negated_phrases(p.norm, criterion.phrases, spans):
                blocked[i, j] = True
    return blocked


def drop_negated(
    passages: list[Passage],
    hits: list[list[list[str]]],
    desc: np.ndarray,
    sims: np.ndarray,
    criteria: list,
    rubric: Rubric,
) -> tuple[np.ndarray, np.ndarray]:
    """Take the evidence a sentence negates away from its criteria: their phrase hits are
    cleared in place and (desc, sims) are returned with those cells at -1, so neither a
    phrase nor similarity can make "we won't monitor the model" evidence for monitoring."""
    blocked = negated_evidence(passages, criteria, rubric)
    for i, j in zip(*np.nonzero(blocked)):
        hits[i][j] = []
    return np.where(blocked, -1.0, desc), np.where(blocked, -1.0, sims)
