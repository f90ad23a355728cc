"""Passage text as data: markdown cleaned into quotable sentences, instructions dropped.

The offline agent only ever quotes sentences produced here, so everything it says is a
lightly cleaned span of a retrieved passage. Unsafe sentences (agents/injection.py: text
that instructs an AI, asks the reader to send a secret, contact an address or disable safety
or monitoring) are never quoted; hidden HTML and invisible characters are dropped first.
"""

from __future__ import annotations

import re

from agents.injection import is_unsafe_sentence, strip_hidden

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+")
_QUOTE_MARK = re.compile(r"^\s*>\s?")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_SPACES = re.compile(r"\s+")
_ABBREVIATIONS = ("e.g.", "i.e.", "vs.", "etc.", "approx.", "Dr.", "Mr.", "Ms.", "cf.", "al.")
_BOUNDARY = re.compile(r"(?<=[.!?])([\"')\]]?)\s+(?=[A-Z0-9\"'(\[])")
MIN_WORDS = 4

# The one test every quoted or model-bound sentence passes (agents/injection.py); the old
# name stays for callers.
is_instruction_to_ai = is_unsafe_sentence


def clean_inline(text: str) -> str:
    """Markdown emphasis, code ticks and links removed; whitespace collapsed."""
    text = _LINK.sub(r"\1", text)
    text = _EMPHASIS.sub("", text)
    return _SPACES.sub(" ", text).strip()


def _cells(row: str) -> list[str]:
    return [clean_inline(c) for c in row.strip().strip("|").split("|")]


def clean_lines(text: str) -> list[str]:
    """Readable blocks of a passage (paragraphs and list items, hard wraps joined), without
    headings, list marks, table rules or code. A table row becomes `Header: cell; Header: cell`
    when its header row is in the passage.
    """
    blocks: list[str] = []
    current: list[str] = []
    header: list[str] | None = None
    raw_lines = strip_hidden(text).splitlines()
    in_code = False

    def flush() -> None:
        if current:
            joined = clean_inline(" ".join(current))
            if joined:
                blocks.append(joined)
            current.clear()

    for i, raw in enumerate(raw_lines):
        if raw.strip().startswith("```"):
            flush()
            in_code = not in_code
            continue
        if in_code or not raw.strip() or _HEADING.match(raw) or _TABLE_RULE.match(raw):
            flush()
            continue
        if raw.lstrip().startswith("|"):
            flush()
            cells = _cells(raw)
            following = raw_lines[i + 1] if i + 1 < len(raw_lines) else ""
            if _TABLE_RULE.match(following):  # a header row
                header = cells
            elif header and len(header) == len(cells):
                blocks.append("; ".join(f"{h}: {c}" for h, c in zip(header, cells) if c) + ".")
            else:
                blocks.append("; ".join(c for c in cells if c) + ".")
            continue
        header = None
        line = _QUOTE_MARK.sub("", raw)
        if _LIST_MARK.match(line):  # a new list item starts a new block
            flush()
            line = _LIST_MARK.sub("", line)
        current.append(line.strip())
    flush()
    return blocks


def split_sentences(line: str) -> list[str]:
    """Sentence split that keeps abbreviations (e.g., i.e., vs.) and decimals together."""
    out: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(line):
        end = match.start() + len(match.group(1))
        if line[start:end].endswith(_ABBREVIATIONS):
            continue
        out.append(line[start:end].strip())
        start = match.end()
    tail = line[start:].strip()
    if tail:
        out.append(tail)
    return [s for s in out if s]


def passage_sentences(text: str) -> list[str]:
    """Quotable sentences of one passage, in order, unsafe sentences removed."""
    sentences = []
    for line in clean_lines(text):
        for sentence in split_sentences(line):
            if len(sentence.split()) < MIN_WORDS or is_unsafe_sentence(sentence):
                continue
            if sentence.endswith(":"):  # a list's lead-in says nothing on its own
                continue
            if not sentence.rstrip("\"')]").endswith((".", "!", "?", ";")):
                sentence += "."
            sentences.append(sentence)
    return sentences


def normalize(text: str) -> str:
    """Lower-case word sequence, for dedup and containment checks."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))
