"""Text tests the answer units are built with: inline markdown cleaned, sentence ends, lines
that lean on what came before, formulas and their symbols, plain-text headings and titles."""

from __future__ import annotations

import re

HEADING_MAX_WORDS = 9  # a plain-text line this short without end punctuation is a heading

_END = (".", "!", "?", ".)", '."', ".'", "!)", "?)", ';"')
# A sentence opening with one of these leans on the one before it ("This lets the
# interviewer redirect early."): quoted alone it reads as a non sequitur.
_LEANS_BACK = re.compile(
    r"^(?:this|these|that|those|it|its|they|their|them|such|both|then|also|however|instead|"
    r"otherwise|so|thus|therefore|hence)\b",
    re.IGNORECASE,
)
_FORMULA = re.compile(r"(?:\S\s?[=±≈≤≥]\s?\S|\\frac|\$[^$]+\$|\^\{|_\{)")
_SYMBOL = re.compile(
    r"(?<![\w-])(?:[A-Za-z](?:_\w+|\^\w+|\u0302)?|[α-ωΑ-Ω]\w?|ŷ|ȳ|\w\u0302)(?![\w-])"
)
_NOT_SYMBOLS = {"a", "A", "I", "s", "e", "i"}

_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"\*\*|__|`|(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*])")
_SPACES = re.compile(r"\s+")


def clean_inline(text: str) -> str:
    """Markdown emphasis, code ticks and links removed; a multiplication sign (`a * b`)
    kept; whitespace collapsed."""
    text = _EMPHASIS.sub("", _LINK.sub(r"\1", text))
    return _SPACES.sub(" ", text).strip()


_DANGLING = {
    "a", "an", "the", "of", "to", "for", "with", "by", "in", "on", "and", "or", "as", "than",
    "from", "into", "over", "between", "such",
}  # fmt: skip


def dangling_end(text: str) -> bool:
    """Ends on a word that needs a continuation ("the weighted average over bins of", or
    "10M pairs of ." once markup was stripped from the end)."""
    words = re.findall(r"[A-Za-z]+", text.rstrip(" .;:,")[-24:])
    return bool(words) and text.rstrip(" .;:,")[-1:].isalpha() and words[-1].lower() in _DANGLING


def leans_back(sentence: str) -> bool:
    """True when the sentence starts by pointing at what came before ("This means ...")."""
    return bool(_LEANS_BACK.match(sentence))


def has_formula(sentence: str) -> bool:
    return bool(_FORMULA.search(sentence))


def symbols(sentence: str) -> set[str]:
    return {s for s in _SYMBOL.findall(sentence) if s not in _NOT_SYMBOLS}


def ends_sentence(text: str) -> bool:
    return text.rstrip().endswith(_END)


def is_table_row(text: str) -> bool:
    """`| a | b |`; not a wrapped line that starts with an absolute value (`|x - y|, ...`)."""
    return text.startswith("|") and (text.endswith("|") or text.count("|") >= 3)


def is_title(text: str) -> bool:
    """Title Case without end punctuation: "Stage 4: Modeling, Metrics, and Training"."""
    text = text.strip()
    words = [w.strip("()[],:~\"'") for w in text.split()]
    long = [w for w in words if len(w) > 3 and w[:1].isalpha()]
    return (
        0 < len(words) <= 16
        and not text.endswith((".", "!", "?", ";", ","))
        and len(long) >= 2
        and sum(w[0].isupper() for w in long) >= 0.75 * len(long)
    )


def is_heading_line(line: str) -> bool:
    """A plain-text heading: short, capitalised, no end punctuation, no inner colon; or a
    Title Case line."""
    text = line.strip()
    words = text.split()
    short = (
        0 < len(words) <= HEADING_MAX_WORDS
        and text[0].isupper()
        and not text.endswith((".", "!", "?", ":", ";", ","))
        and ": " not in text
    )
    return short or is_title(text)
