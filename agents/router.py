"""Which kind of turn a user message is, and what a follow-up question is about.

Routes: `question` (about the material), `critique` (a pasted design or "critique this: ..."),
`solution` (a worked example solution, or the list of them), `interview` (start or continue a
mock interview). Rules, not a model: they run in microseconds and are easy to test.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from agents.events import Message
from tools.bm25 import STOPWORDS

RouteKind = Literal["question", "critique", "solution", "interview"]
INTERVIEW_TAG = "[interview "  # every interviewer message starts with this tag
LEVELS = ("mid", "senior", "staff")


@dataclass(frozen=True)
class Route:
    kind: RouteKind
    text: str  # the payload: the question, the design, the solution name
    level: str | None = None  # critique / interview level when the user names one
    stage: str | None = None  # solution stage when the user asks for one


_CRITIQUE_ASK = re.compile(
    r"^\s*(?:please\s+)?(?:critique|review|grade|score|assess|evaluate|rate|"
    r"give\s+(?:me\s+)?feedback\s+on|what\s+do\s+you\s+think\s+of)\b[^:\n]{0,80}[:\n]\s*",
    re.IGNORECASE,
)
_SOLUTION_ASK = re.compile(
    r"\b(?:show|give|walk|see|display|print|get|fetch|read|open|share)\b[^?.!\n]{0,30}?"
    r"\b(?:worked|example|sample|reference|model|full)\s+(?:solution|answer|design|walkthrough)s?"
    r"(?:\s+(?:for|of|on|to|about))?\s*(?P<name>[^?.!\n]*)",
    re.IGNORECASE,
)
_SOLUTION_LIST = re.compile(
    r"\b(?:list|which|what)\b[^?.!\n]{0,25}\b(?:worked|example|sample|reference)\s+solutions\b"
    r"|^\s*/solutions\b",
    re.IGNORECASE,
)
_INTERVIEW_ASK = re.compile(
    r"^\s*/interview\b|\b(?:mock|practice)\s+interview\b|\binterview\s+me\b", re.IGNORECASE
)
_STRUCTURE = re.compile(r"^\s*(?:#{1,6}\s|[-*+]\s|\d{1,2}[.)]\s|\w[\w /&-]{2,40}:)", re.MULTILINE)
_STAGE_WORDS = re.compile(
    r"\b(?:problem framing|requirements|high[- ]level design|architecture|data|features?|"
    r"model(?:ing)?|evaluation|metrics?|deployment|serving|monitoring|trade-?offs?)\b",
    re.IGNORECASE,
)
_STAGE_NAMES = {
    "problem_framing": r"problem framing|framing|requirements",
    "high_level_design": r"high[- ]level design|architecture",
    "data_features": r"data and features|data|features?",
    "modeling": r"model(?:l?ing)?",
    "evaluation": r"evaluation|metrics",
    "deployment_serving": r"deployment|serving",
    "monitoring": r"monitoring",
    "tradeoffs_deep_dives": r"trade-?offs?|deep dives?",
}
_FOLLOW_UP_START = re.compile(
    r"^\s*(?:and|but|also|so|then|ok(?:ay)?|what about|how about|what if|and what|same for)\b",
    re.IGNORECASE,
)
_PRONOUN = re.compile(r"\b(?:it|its|this|that|these|those|they|them|their|there|one)\b", re.I)
_GENERIC = STOPWORDS | {"design", "system", "build", "interview", "ml", "explain", "tell", "does"}


def level_in(text: str) -> str | None:
    match = re.search(r"\b(mid|senior|staff)\b(?:[- ]level)?", text, re.IGNORECASE)
    return match.group(1).lower() if match else None


def looks_like_design(text: str) -> bool:
    """A pasted design: long and structured, touching several interview stages."""
    words = len(text.split())
    if words < 120:
        return False
    structure = len(_STRUCTURE.findall(text))
    stages = {m.group(0).lower() for m in _STAGE_WORDS.finditer(text)}
    return structure >= 3 and len(stages) >= 3


def _stage_in(text: str) -> str | None:
    for stage_id, pattern in _STAGE_NAMES.items():
        if re.search(rf"\b(?:{pattern})\b\s+(?:stage|section|part|step)", text, re.IGNORECASE):
            return stage_id
    return None


def in_interview(history: list[Message]) -> bool:
    """True while the last assistant message is an unfinished interviewer turn."""
    for message in reversed(history):
        if message.role == "assistant":
            return message.content.startswith(INTERVIEW_TAG) and "interview finished" not in (
                message.content.lower()
            )
    return False


def route(text: str, history: list[Message] | None = None) -> Route:
    """Classify one user message given the conversation before it."""
    history = history or []
    if in_interview(history) or _INTERVIEW_ASK.search(text):
        return Route("interview", text, level=level_in(text))
    critique = _CRITIQUE_ASK.match(text)
    if critique and len(text[critique.end() :].split()) >= 15:
        return Route("critique", text[critique.end() :].strip(), level=level_in(text[:200]))
    if looks_like_design(text):
        return Route("critique", text.strip(), level=None)
    if _SOLUTION_LIST.search(text):
        return Route("solution", "")
    asked = _SOLUTION_ASK.search(text)
    if asked:
        name = re.sub(r"^(?:the|a|an)\s+", "", asked.group("name").strip(), flags=re.I)
        return Route("solution", name, stage=_stage_in(text))
    return Route("question", text.strip())


def content_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9][a-z0-9-]*", text.lower()) if w not in _GENERIC]


def is_follow_up(question: str) -> bool:
    if _FOLLOW_UP_START.match(question):
        return True
    if len(question.split()) > 12:
        return False
    n_content = len(content_words(question))
    return n_content <= 1 or (n_content <= 3 and bool(_PRONOUN.search(question)))


@dataclass(frozen=True)
class FollowUp:
    """A follow-up read against the conversation: the new ask drives the answer."""

    query: str  # readable, the pronoun replaced: "how would I monitor a fraud detection system?"
    ask: str  # the new ask alone: "how would I monitor"
    topic: str  # what it refers to: "a fraud detection system"
    aspect: tuple[str, ...]  # the ask's content words: ("monitor",)


# Words that frame a question rather than name its topic ("What is the difference between ...")
_SCAFFOLD = STOPWORDS | {
    "what's", "whats", "hows", "how's", "are", "were", "did", "could", "can", "i", "we", "you",
    "difference", "differences", "between", "design", "build", "explain", "tell", "describe",
    "define", "compare", "choose", "pick", "handle", "deal", "approach", "please", "give", "way",
    "ways", "best", "good", "set", "up", "create", "implement", "use", "using", "one", "s",
    "mean", "means", "work", "works", "like", "look", "looks", "go", "going", "about",
}  # fmt: skip
_STARTER = re.compile(
    r"^\s*(?:(?:and|but|also|so|then|ok(?:ay)?|same for|what if|and what)\b[\s,]*)+",
    re.IGNORECASE,
)
_ABOUT = re.compile(r"^\s*(?:what|how)\s+about\b\s*", re.IGNORECASE)
_POSSESSIVE = re.compile(r"\b(?:its|their)\b", re.IGNORECASE)
_REFERENCE = re.compile(r"\b(?:it|this|that|these|those|they|them|there|one)\b", re.IGNORECASE)
_ASK_WORDS = STOPWORDS | {
    "one", "there", "would", "could", "can", "did", "were", "are", "i", "avoid", "use", "handle",
    "deal", "choose", "pick", "get", "make", "know", "need", "want", "go", "prevent", "which",
    "doing", "done", "does", "work", "happen", "look", "like",
}  # fmt: skip


_TRAILING = {"work", "works", "look", "mean", "about", "do", "does"}


def topic_phrase(question: str) -> str:
    """The topic a question names, without its question frame: "What is the difference
    between two-tower retrieval and the ranking stage?" -> "two-tower retrieval and the
    ranking stage"."""
    words = re.findall(r"[\w'’/+@-]+", question.strip().rstrip("?.!"))
    start = 0
    while start < len(words) and words[start].lower().replace("’", "'") in _SCAFFOLD:
        start += 1
    if 0 < start < len(words) and words[start - 1].lower() in ("a", "an", "the"):
        start -= 1  # "a real-time fraud detection system" keeps its article
    end = len(words)
    while end > start + 1 and words[end - 1].lower() in _TRAILING:
        end -= 1  # "How does X work?" -> "X"
    return " ".join(words[start:end]) or question.strip().rstrip("?.!")


def last_topic(history: list[Message] | None) -> str:
    """The last user question that stood on its own (not itself a follow-up)."""
    topic = ""
    for message in history or []:
        if message.role == "user" and route(message.content).kind == "question":
            text = message.content.strip()
            if not (topic and is_follow_up(text)):
                topic = text
    return topic


def follow_up(question: str, history: list[Message] | None = None) -> FollowUp | None:
    """The follow-up reading of a question, or None when it stands on its own."""
    earlier = last_topic(history)
    if not earlier or not is_follow_up(question):
        return None
    topic = topic_phrase(earlier)
    text = " ".join(question.strip().split()).rstrip("?.! ")
    text = _STARTER.sub("", text) or text
    asked_about = _ABOUT.match(text)
    body = text[asked_about.end() :] if asked_about else text
    reference = _REFERENCE.search(body)
    if _POSSESSIVE.search(body) or not reference:  # "what about its cost?", "and latency?"
        query = f"{_POSSESSIVE.sub('the', body, count=1)} for {topic}"
    else:
        spelled = f"in {topic}" if reference.group(0).lower() == "there" else topic
        query = body[: reference.start()] + spelled + body[reference.end() :]
    if asked_about:
        query = f"{asked_about.group(0).strip()} {query}"
    ask = _REFERENCE.sub("", _POSSESSIVE.sub("", body))
    ask = " ".join(ask.split())
    topic_words = set(content_words(topic))
    aspect = tuple(
        w for w in dict.fromkeys(content_words(ask)) if w not in _ASK_WORDS | topic_words
    )
    query = query[:1].upper() + query[1:] + "?"
    return FollowUp(query=query, ask=ask, topic=topic, aspect=aspect)


# The material's words for what learners ask about ("failure modes" -> its "pitfalls").
_SYNONYMS = {
    "failu": ("pitfall", "risk", "mistake"),
    "fail": ("pitfall", "risk", "mistake"),
    "wrong": ("pitfall", "risk", "mistake"),
    "trade": ("trade-off", "versus", "cost"),
    "downs": ("trade-off", "pitfall", "cost"),
    "drawb": ("trade-off", "pitfall", "cost"),
    "cons": ("trade-off", "pitfall", "cost"),
    "monit": ("monitoring", "drift", "alert"),
    "deplo": ("deployment", "rollout", "serving"),
    "evalu": ("evaluation", "metric"),
    "measu": ("evaluation", "metric"),
    "retra": ("retraining", "refresh"),
    "expen": ("cost",),
    "price": ("cost",),
}


def aspect_stems(aspect: Sequence[str]) -> set[str]:
    """5-letter stems of the aspect's words and of the material's words for them."""
    stems = {w[:5] for w in aspect}
    for word in aspect:
        stems |= {s[:5] for s in _SYNONYMS.get(word[:5], ())}
    return stems


def about(hit, aspect: Sequence[str], in_text: int = 0) -> bool:
    """Whether a passage is about an aspect: its heading path names it (or a word the
    material uses for it), or, when `in_text` > 0, its text does that many times."""
    stems = aspect_stems(aspect)
    if not stems:
        return False
    if {w[:5] for w in content_words(hit.section)} & stems:
        return True
    return in_text > 0 and sum(w[:5] in stems for w in content_words(hit.text)) >= in_text


def resolve_follow_up(question: str, history: list[Message] | None = None) -> str:
    """The retrieval query for a question: itself, or for a follow-up ("and how do I monitor
    it?" after a fraud detection question) the new ask with what it refers to spelled out."""
    found = follow_up(question, history)
    return found.query if found else question
