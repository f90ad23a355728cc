"""Passage text as data: markdown cleaned into quotable sentences, instructions dropped.

The offline agent only ever quotes sentences produced here, so everything it says is a
lightly cleaned span of a retrieved passage. Sentences that address an AI/assistant with
instructions (prompt injection planted in a document) are never quoted.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re

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

# Instructions addressed to a model. Discussion *about* injection in the corpus quotes such
# phrases too; dropping those few sentences is the safe side of the trade.
_INJECTION = re.compile(
    r"""
    \b(?:ignore|disregard|forget|override|bypass)\b[^.]{0,40}?
        \b(?:instructions?|prompts?|rules|guidelines|directions|context)\b
    | \byou\s+are\s+now\b | \bfrom\s+now\s+on,?\s+you\b | \bpretend\s+(?:to\s+be|you\s+are)\b
    | \b(?:new|updated|hidden|secret)\s+instructions?\b
    | \b(?:reveal|print|output|disclose|leak|repeat)\b[^.]{0,40}?
        \b(?:system\s+prompt|api[\s_-]?key|secret|password|credentials?)\b
    | ^\W*(?:note\s+to\s+)?(?:ai|assistant|chatgpt|llm|language\s+model|chatbot|system)\s*[:,]
    | \bif\s+you\s+are\s+an?\s+(?:ai|assistant|llm|language\s+model|chatbot)\b
    | \b(?:ai|assistant|chatbot|llm|language\s+model)s?\s+
        (?:reading|processing|summari[sz]ing)\s+this\b
    """,
    re.IGNORECASE | re.VERBOSE,
)


# Hidden text: invisible format characters (zero-width spaces split words so that patterns
# miss them), and HTML a renderer never shows (comments, scripts, tags).
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_HIDDEN_HTML = re.compile(
    r"<!--.*?(?:-->|$)|<(script|style)\b.*?(?:</\1\s*>|$)|</?[A-Za-z][^>\n]*>",
    re.IGNORECASE | re.DOTALL,
)
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")


def strip_hidden(text: str) -> str:
    """The text without invisible characters, HTML comments, scripts and tags."""
    return _HIDDEN_HTML.sub(" ", _INVISIBLE.sub("", text))


def _readings(sentence: str):
    """The sentence as written, ROT13-decoded, and any base64 payload in it decoded."""
    yield sentence
    yield codecs.decode(sentence, "rot13")
    for token in _BASE64.findall(sentence):
        padded = token + "=" * (-len(token) % 4)
        try:
            yield base64.b64decode(
                padded, altchars=b"-_" if "-" in token or "_" in token else None
            ).decode()
        except (binascii.Error, ValueError, UnicodeDecodeError):
            continue


def is_instruction_to_ai(sentence: str) -> bool:
    """True for text that tries to instruct the assistant (never quoted, never obeyed),
    also when hidden by zero-width characters or encoded in ROT13 or base64."""
    plain = _INVISIBLE.sub("", sentence)
    return any(_INJECTION.search(reading) for reading in _readings(plain))


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
    """Quotable sentences of one passage, in order, instructions to an AI removed."""
    sentences = []
    for line in clean_lines(text):
        for sentence in split_sentences(line):
            if len(sentence.split()) < MIN_WORDS or is_instruction_to_ai(sentence):
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
