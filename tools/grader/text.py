"""Text handling for the design grader: passages, phrase matching and grader-directed text.

A pasted design is split into sentences that keep their exact character span, so every
evidence quote is a verbatim slice of the paste. Markdown headings, list items and table rows
start new passages; headings are kept apart (they label stages but are never evidence).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_BOLD_LINE = re.compile(r"^\s*(\*\*|__)(.+?)\1\s*:?\s*$")
# "Modeling:" or "Data and features:" alone on a line (not "The features:", a lead-in sentence)
_COLON_HEADING = re.compile(
    r"^\s*(?!(?:the|a|an|we|i|our|these|this|here|for|some|it)\b)([A-Za-z][A-Za-z/&'-]*"
    r"(?: [A-Za-z/&'-]+){0,3}):\s*$",
    re.IGNORECASE,
)
_LIST_MARK = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")
_FENCE = re.compile(r"^\s*(```|~~~)")
# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) before whitespace
# and a capital, digit, quote or bracket: "e.g. the" and "3.5 ms" do not split.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[A-Z0-9\"'(\[*])")
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
_INFLECTION = r"(?:s|es|d|ed|ing|led|ling|ged|ging)?"  # label -> labels, labeled, labelling
LONG_SENTENCE_WORDS = 45  # longer sentences are also split on semicolons
WINDOW_WORDS = 40  # run-on text without punctuation is cut into windows of this many words


@dataclass
class Passage:
    """One sentence (or heading) of the design with its exact span in the original text."""

    text: str
    start: int
    end: int
    heading: str = ""  # the nearest heading above it ("" when none)
    is_heading: bool = False
    group: int = 0  # paragraph / list / table it belongs to
    norm: str = ""
    words: int = 0
    instruction: bool = False  # addressed to the grader: data, never evidence
    stage: str | None = None  # stage the passage is attributed to (for the time plan)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.norm = normalize(self.text)
        self.words = count_words(self.text)


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


@lru_cache(maxsize=4096)
def normalize(text: str) -> str:
    """Lowercase, punctuation to spaces, digits split from units ("200ms" -> "200 ms")."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"(\d)([a-z])", r"\1 \2", text)
    text = re.sub(r"[^a-z0-9%]+", " ", text)
    return f" {text.strip()} "


@lru_cache(maxsize=8192)
def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """A phrase matches on word boundaries; its last word may take a plural or verb ending."""
    norm = normalize(phrase).strip()
    if norm.endswith("y") and len(norm) > 3:  # family -> families, adversary -> adversaries
        body = re.escape(norm[:-1]) + r"(?:y|ies|ied)"
    else:
        body = re.escape(norm) + _INFLECTION
    return re.compile(r"(?<![a-z0-9])" + body + r"(?![a-z0-9])")


@lru_cache(maxsize=8192)
def _anchor(phrase: str) -> str:
    """A substring every match of the phrase must contain (a cheap filter before the regex)."""
    norm = normalize(phrase).strip()
    return " " + (norm[:-1] if norm.endswith("y") and len(norm) > 3 else norm)


def find_phrases(norm_text: str, phrases: list[str]) -> list[str]:
    """The phrases that occur in an already-normalized text, in rubric order."""
    return [p for p in phrases if _anchor(p) in norm_text and phrase_pattern(p).search(norm_text)]


def first_position(norm_text: str, phrases: list[str]) -> int | None:
    """Offset of the earliest occurrence of any phrase, or None."""
    best = None
    for p in phrases:
        m = phrase_pattern(p).search(norm_text)
        if m and (best is None or m.start() < best):
            best = m.start()
    return best


def truncate_words(design: str, max_words: int) -> tuple[str, bool]:
    """The design cut right after its `max_words`-th word, and whether anything was cut."""
    if max_words <= 0:
        return design, False
    for i, m in enumerate(_WORD.finditer(design), start=1):
        if i == max_words:
            rest = design[m.end() :]
            return design[: m.end()], _WORD.search(rest) is not None
    return design, False


_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(?:.*\r?\n){0,40}?---[ \t]*(?:\r?\n|\Z)")


def _front_matter_end(design: str) -> int:
    """Where a leading YAML front matter block (--- ... ---) ends: metadata, not design text."""
    m = _FRONT_MATTER.match(design)
    return m.end() if m else 0


def _blocks(design: str):
    """(start, end, kind, heading text) for each heading, paragraph, list item and table row;
    kind is "heading", "para", "item" or "row". Wrapped lines continue a paragraph or item."""
    pos = _front_matter_end(design)
    open_start = open_end = None  # the paragraph or list item being read
    open_kind = "para"
    in_fence = False
    for line in design[pos:].splitlines(keepends=True):
        start, end = pos, pos + len(line.rstrip("\r\n"))
        pos += len(line)
        body = design[start:end]
        fence = _FENCE.match(body) is not None
        heading = None
        if not in_fence and not fence:
            heading = _HEADING.match(body) or _BOLD_LINE.match(body) or _COLON_HEADING.match(body)
        item = not in_fence and _LIST_MARK.match(body) is not None
        row = in_fence or body.lstrip().startswith("|")
        if open_start is not None and (not body.strip() or fence or heading or item or row):
            yield open_start, open_end, open_kind, ""
            open_start = None
        if fence:
            in_fence = not in_fence
            continue
        if not body.strip() or _TABLE_RULE.match(body):
            continue
        if heading is not None:
            yield start, end, "heading", heading.group(heading.lastindex or 0).strip(" *_:")
        elif row:
            yield start, end, "row", ""
        elif open_start is None:
            open_start, open_end, open_kind = start, end, "item" if item else "para"
        else:
            open_end = end
    if open_start is not None:
        yield open_start, open_end, open_kind, ""


def _trim(design: str, start: int, end: int) -> tuple[int, int]:
    """Narrow a span to drop list markers, table pipes and surrounding whitespace."""
    text = design[start:end]
    marker = _LIST_MARK.match(text)
    if marker:
        start += marker.end()
        text = design[start:end]
    stripped = text.strip().strip("|").strip()
    if not stripped:
        return start, start
    offset = text.find(stripped)
    return start + offset, start + offset + len(stripped)


def _windows(design: str, start: int, end: int):
    """A long run-on sentence as verbatim spans of about WINDOW_WORDS words each."""
    words = list(_WORD.finditer(design, start, end))
    for k in range(0, len(words), WINDOW_WORDS):
        chunk = words[k : k + WINDOW_WORDS]
        last = end if k + WINDOW_WORDS >= len(words) else chunk[-1].end()
        s, e = _trim(design, chunk[0].start() if k else start, last)
        if e > s:
            yield s, e


# block markup (<script>, <img ...>, <div>) ends a sentence and is never quoted; inline
# formatting (<b>, <em>, <code> ...) stays inside its sentence
_TAGS = re.compile(
    r"(?:<(?!/?(?:b|i|u|em|strong|code|sub|sup|span|a|br)\b)[A-Za-z/!][^<>\n]{0,200}>\s*)+"
)


def _split_sentences(design: str, start: int, end: int):
    """Sentences of a block; runs of HTML tags end a sentence and belong to none."""
    pos = start
    for tag in _TAGS.finditer(design, start, end):
        yield from _split_plain(design, pos, tag.start())
        pos = tag.end()
    yield from _split_plain(design, pos, end)


def _split_plain(design: str, start: int, end: int):
    text = design[start:end]
    cuts = [0] + [m.end() for m in _SENTENCE_END.finditer(text)] + [len(text)]
    for a, b in zip(cuts, cuts[1:]):
        piece_start, piece_end = _trim(design, start + a, start + b)
        if piece_end <= piece_start:
            continue
        if count_words(design[piece_start:piece_end]) <= LONG_SENTENCE_WORDS:
            yield piece_start, piece_end
            continue
        # long: split on semicolons, and cut what is still too long into word windows
        inner = piece_start
        for part in design[piece_start:piece_end].split(";"):
            s, e = _trim(design, inner, inner + len(part))
            inner += len(part) + 1
            if e <= s:
                continue
            if count_words(design[s:e]) > 2 * WINDOW_WORDS:
                yield from _windows(design, s, e)
            else:
                yield s, e


def split_passages(design: str) -> list[Passage]:
    """Headings and sentences of the design, in order, each a verbatim slice of `design`.

    Sentences of one paragraph share a `group`; so do the items of one list (together with a
    paragraph ending in ":" that introduces it) and the rows of one table.
    """
    passages: list[Passage] = []
    heading, group, previous = "", 0, ""
    for start, end, kind, title in _blocks(design):
        if kind == "heading":
            heading, group, previous = title, group + 1, kind
            s, e = _trim(design, start, end)
            passages.append(Passage(design[s:e], s, e, heading=title, is_heading=True, group=group))
            continue
        continues = (kind == previous and kind in ("item", "row")) or (
            kind == "item" and previous == "para" and design[:start].rstrip().endswith(":")
        )
        if not continues:
            group += 1
        previous = kind
        for s, e in _split_sentences(design, start, end):
            passage = Passage(design[s:e], s, e, heading=heading, group=group)
            if passage.words:
                passages.append(passage)
    return passages


# -- bare labels ---------------------------------------------------------------------------
# A bullet or line that only names a topic ("Monitoring", "- Scaling:", "Model serving: TBD")
# says nothing about the design: it earns no credit and silences no red flag.
LABEL_MAX_WORDS = 4
_LABEL_FILLER = frozenset({
    "and", "or", "the", "of", "for", "plan", "plans", "strategy", "strategies", "overview",
    "considerations", "consideration", "details", "detail", "notes", "note", "approach",
    "setup", "design", "system", "section", "part", "parts", "misc", "other", "stuff", "ideas",
    "questions", "tbd", "todo", "tba", "etc", "more", "later", "engineering", "pipeline",
    "pipelines", "infrastructure", "process", "steps", "step",
})  # fmt: skip


def is_bare_label(text: str, keywords: tuple[str, ...]) -> bool:
    """True for a short passage whose every word is a topic keyword (a word starting with one
    of `keywords`, e.g. the rubric's stage heading keywords) or filler ("plan", "TBD")."""
    words = normalize(text).split()
    if not words or len(words) > LABEL_MAX_WORDS:
        return False
    return all(w in _LABEL_FILLER or (len(w) > 2 and w.startswith(keywords)) for w in words)


# -- text addressed to the grader ---------------------------------------------------------
# A design is data. Sentences that instruct a grader, an AI or a reviewer, or that assert the
# grade, are excluded from evidence and red-flag detection, so they can neither add nor remove
# points. The patterns run on normalized text (lowercase, punctuation removed).
_INSTRUCTION_PATTERNS = [
    # "ignore the rubric", "disregard all previous instructions", "forget everything above"
    r"\b(ignore|disregard|forget|override|bypass)\b.{0,40}\b(rubric|instructions?|prompt|"
    r"criteria|grading|grader|guidelines|scoring rules?)\b",
    r"\b(ignore|disregard|forget)\b (everything|anything|all) (above|before|previous|prior|else)\b",
    # "give this design 100", "award full marks", "set the overall score to 100"
    r"\b(give|assign|award|grant|output|return|report|set)\b.{0,40}\b(score|grade|marks?|rating|"
    r"overall)\b.{0,20}\b(100|full|perfect|maximum|highest|top)\b",
    r"\b(give|assign|award|grant)\b.{0,40}\b(100 100|100 out of 100|100 points|100 percent|"
    r"full marks?|perfect (score|grade|marks?)|maximum (score|grade|marks?))\b",
    r"\b(give|assign|award|grant)\b.{0,30}\b(design|answer|solution|submission|response|"
    r"candidate)\b.{0,15}\b100\b",
    r"\b(give|award|assign)\b (it |this |me |us )?(a )?100 $",
    r"\b(score|rate|grade|mark)\b (this|my|our) (design|answer|solution|submission|response)\b",
    r"\bmark\b.{0,30}\b(criteri\w*|stages?)\b.{0,20}\bmet\b",
    # "you are an AI grader", "as the grader, ..."
    r"\b(you are|you re|act as|pretend to be|pretend you are)\b (an? |the )?(ai|grader|"
    r"evaluator|reviewer|assistant|language model|llm|chatgpt|judge|scorer)\b",
    r"\bas (the|an?) (ai )?(grader|evaluator|scorer)\b",
    r"\b(note|message|instructions?|request)s? (to|for) (the )?(ai |llm )?(grader|evaluator|"
    r"reviewer|assistant|judge|scorer|grading (model|system))\b",
    r"\bnew instructions? (for|to)\b|\b(follow|obey) (these|the following|my) instructions?\b",
    # claims about the grade itself
    r"\b(meets|satisfies|covers|passes|fulfils|fulfills)\b.{0,30}\b(every|all|each)\b.{0,20}"
    r"\b(criteri|rubric)",
    r"\b(no|zero) red flags?\b",
]
_INSTRUCTION = [re.compile(p) for p in _INSTRUCTION_PATTERNS]
_ROLE_PREFIX = re.compile(r"^\s*(system|assistant|developer|grader|evaluator)\s*:", re.I)


def is_instruction(text: str) -> bool:
    """True for a sentence addressed to the grader (an instruction or a claim about the grade)."""
    if _ROLE_PREFIX.match(text):
        return True
    norm = normalize(text)
    return any(p.search(norm) for p in _INSTRUCTION)
