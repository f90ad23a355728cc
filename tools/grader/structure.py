"""The skeleton of a pasted text, for the not-a-design check (tools/grader/design_check.py).

A design written as notes walks the design's stages in its headings ("1. Problem formulation",
"## Data", "Serving:") and its title names the one thing to build ("Design an event
recommendation system", "Image search system (Pinterest)"); numbered plain lines ("3) Draw the
end-to-end workflow", "Step 2: Data") count as headings too, through their short lead. An
interview-advice article or a course outline can walk the same stages, so the skeleton is one
feature among several, never the decision alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

_NUMBERED_LINE = re.compile(
    r"^\s{0,3}(?:[-*+]\s+)?(?:step\s+\d{1,2}\s*[.):\u2013\u2014-]?|\d{1,2}(?:\.\d{1,2})*[.):])\s*(.+)$",
    re.IGNORECASE,
)
_BOLD_LEAD = re.compile(r"^\s{0,3}(?:[-*+]|\d{1,2}[.)])\s+(?:\*\*|__)([^*_]{2,60})(?:\*\*|__)")
_LEAD_END = re.compile(r"\s[\u2013\u2014-]\s|[:(\u2192]|\.\s")
OUTLINE_LABEL_MAX_WORDS = 8
TITLE_MAX_WORDS = 14
_SPEAKER = re.compile(r"^(interviewer|candidate|q|a|me|you|user|assistant|host)\s*:", re.I)
# A title names one thing to build when it pairs a design verb or a system/task word ("search
# system", "fraud detection", "recommendations") with a word outside ML vocabulary, the thing
# it is for ("event", "hotel", "pinterest"); a concept note's title is ML vocabulary alone
# ("Two-tower retrieval and multi-stage ranking", "Monitoring and drift detection").
_TITLE_NAMES_A_SYSTEM = re.compile(
    r"^(?:design(?:ing)?|build(?:ing)?|architect(?:ing)?|proposal|design doc)\b|"
    r"\b(system|engine|service|recommend\w*|recs|ranking|ranker|search|feed|detection|detector|"
    r"prediction|predictor|forecast\w*|classifier|classification|assistant|chatbot|bot|"
    r"moderation|filter(?:ing)?|matching|pricing|estimation|autocomplete|dedup\w*|triage|"
    r"scoring|tagging|suggestions?|alerts?|generation|summari[sz]\w*|translation|"
    r"personali[sz]\w*)\b",
    re.IGNORECASE,
)
_DESIGN_VERB = re.compile(r"(?:design(?:ing)?|build(?:ing)?|architect(?:ing)?)\b", re.I)
_TITLE_WORD = re.compile(r"[a-z][a-z0-9]+")
# words that name no domain: function words and ML terms the rubric's phrases lack
_NOT_A_DOMAIN_WORDS = (
    "a an the and or of for in on at to with by from vs via its their our my your we i you "
    "how what why when which new simple notes note draft design designing build building "
    "approximate nearest neighbor neighbour indexes index systems models model optimization "
    "preprocessing multimodal clustering stores store methods techniques explained ml ai "
    "machine learning deep based large small end two multi stage worked solution"
)
_NOT_A_DOMAIN = frozenset(_NOT_A_DOMAIN_WORDS.split())
_TITLE_NAMES_A_TOPIC = re.compile(
    r"\b(interviews?|framework|guide|how (?:to|i)|tips|mistakes|intro(?:duction)?|course|"
    r"syllabus|lectures?|week|chapter|contents|overview|cheat ?sheet|checklist|lessons|"
    r"approach\w*|any|templates?|rounds?|release|changelog|tutorial|explained|what is|primer|"
    r"roadmap|handbook|"
    r"glossary|reading|agenda|concepts?|fundamentals|basics|101|step by step|learn|readme|"
    r"documentation|faq|v?\d+\.\d+(?:\.\d+)?)\b",
    re.IGNORECASE,
)


@dataclass
class Outline:
    """The document's skeleton: its title and the rubric stages its headings name."""

    title: str = ""
    labels: list[str] = field(default_factory=list)  # headings and numbered-line leads
    stages: list[str] = field(default_factory=list)  # distinct stage ids named, in order
    n_stages: int = 8
    title_score: float = 0.0  # +1 names one thing to build, -1 a generic topic, 0 neither


def _lead(line: str) -> str:
    """A numbered line's label: its words before a colon, dash, bracket or sentence end."""
    return _LEAD_END.split(line, maxsplit=1)[0].strip(" *_#")


def _title(lines: list[str], headings: list[str]) -> str:
    """The first heading when it opens the document (within its first 3 lines), else a short
    first line; "" when the text starts with a paragraph."""
    opening = [ln.strip() for ln in lines if ln.strip()][:3]
    for line in opening:
        if line in headings:
            return line.strip("#*_: ")
    first = opening[0].strip("#*_: ") if opening else ""
    if _SPEAKER.match(first):  # a transcript opens with a turn, not a title
        return ""
    return first if 0 < len(first.split()) <= TITLE_MAX_WORDS and first[-1:] not in ".?" else ""


def document_outline(design: str, headings: list[str], rubric) -> Outline:
    """Title and stage skeleton of `design`: `headings` are the grader's heading passages
    (markdown, bold and "Label:" lines); numbered plain lines and bold list leads add theirs."""
    from tools.grader.match import heading_stage
    from tools.grader.text import _front_matter_end

    lines = design[_front_matter_end(design) :].splitlines()
    labels = [h.strip() for h in headings]
    for line in lines:
        m = _BOLD_LEAD.match(line) or _NUMBERED_LINE.match(line)
        if m and not line.lstrip().startswith("#"):
            lead = _lead(m.group(1))
            if 0 < len(lead.split()) <= OUTLINE_LABEL_MAX_WORDS:
                labels.append(lead)
    stages: list[str] = []
    for label in labels:
        stage = heading_stage(label, rubric)
        if stage and stage not in stages:
            stages.append(stage)
    title = _title(lines, labels)
    return Outline(
        title, labels, stages, len(rubric.stages), _title_score(title, ml_vocabulary(rubric))
    )


def _title_score(title: str, ml_words: frozenset[str]) -> float:
    """+1 the title names one thing to build, -1 a generic topic (a guide, a course, a
    release), 0 neither or no title."""
    if not title:
        return 0.0
    if _TITLE_NAMES_A_TOPIC.search(title):
        return -1.0
    task = _TITLE_NAMES_A_SYSTEM.search(title)
    domain = [
        w
        for w in _TITLE_WORD.findall(title.lower())
        if w not in ml_words and w not in _NOT_A_DOMAIN and not _TITLE_NAMES_A_SYSTEM.fullmatch(w)
    ]
    return 1.0 if task and (domain or _DESIGN_VERB.match(title)) else 0.0


@lru_cache(maxsize=8)
def _rubric_vocabulary(phrases: tuple[str, ...]) -> frozenset[str]:
    return frozenset(w for p in phrases for w in _TITLE_WORD.findall(p.lower()))


def ml_vocabulary(rubric) -> frozenset[str]:
    """Words of the rubric's phrases, heading keywords, stage names and design terms."""
    phrases = [*rubric.design_terms]
    for stage in rubric.stages:
        phrases += [stage.name, *stage.heading_keywords]
        for c in stage.criteria:
            phrases += c.phrases
    return _rubric_vocabulary(tuple(phrases))
