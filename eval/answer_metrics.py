"""Answer metrics that need no LLM: does the answer quote the reference, is it made of whole units.

- `answer_has_reference(answer, reference_contexts, answer_spans)`: the answer contains, up to
  case, punctuation and markdown, one of the verbatim `answer_spans` or one whole sentence of a
  `reference_contexts` entry.
- `count_fragments(answer, headings=())`: cited pieces of an answer (the text before each
  `[n]` marker) that are not whole units: a heading quoted as a sentence, a piece that starts
  mid-sentence or leans on a sentence it does not include ("This delays ..."), a lead-in
  ending in ":", a bare one- or two-word list item, or table rows without their header row.
  Lines without a marker (an answer's own framing, "Also relevant:") are not counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from agents.passages import normalize, split_sentences
from agents.unit_text import dangling_end, is_title, leans_back

_MARKER = re.compile(r"\s*\[\d+\]")
_LIST_MARK = re.compile(r"^\s*(?:[-*+•·▪◦]|\d{1,3}[.)])\s+")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_HEADING_LIKE = re.compile(r"^[A-Z0-9][^.!?:;]*[.]?$")
_FLAT_ROW = re.compile(r"^[^;:]{1,40}: [^;]+(?:; [^;:]{1,40}: [^;]+){2,}$")
MIN_SENTENCE_WORDS = 4


def _plain(text: str) -> str:
    return f" {normalize(_MARKER.sub(' ', text))} "


def answer_has_reference(
    answer: str, reference_contexts: Sequence[str], answer_spans: Sequence[str] = ()
) -> bool:
    """True when the answer quotes an answer span or a whole reference-context sentence."""
    said = _plain(answer)
    for span in answer_spans:
        if normalize(span) and f" {normalize(span)} " in said:
            return True
    for context in reference_contexts:
        for sentence in split_sentences(" ".join(context.split())):
            words = normalize(sentence)
            if len(words.split()) >= MIN_SENTENCE_WORDS and f" {words} " in said:
                return True
    return False


def cited_pieces(answer: str) -> list[str]:
    """The text each `[n]` marker cites: from the previous marker (or the start of its
    paragraph) up to the marker. A table's marker sits in its last cell."""
    pieces: list[str] = []
    for block in re.split(r"\n\s*\n", answer):
        parts = _MARKER.split(block)
        if len(parts) < 2:
            continue  # the answer's own framing, not a quote
        pieces += [p.strip("\n") for p in parts[:-1] if p.strip()]
    return pieces


def _is_heading(text: str, headings: set[str]) -> bool:
    words = text.rstrip(".").split()
    if normalize(text) in headings:
        return True
    capitalised = sum(w[:1].isupper() for w in words)
    return len(words) <= 6 and bool(_HEADING_LIKE.match(text)) and capitalised >= len(words) - 1


def _table_fragment(lines: list[str]) -> bool:
    rows = [ln for ln in lines if ln.strip().startswith("|")]
    return len(rows) < 3 or not _TABLE_RULE.match(rows[1])


def _cut_off(text: str) -> bool:
    return dangling_end(text)


def _list_fragment(lines: list[str]) -> bool:
    items = [_LIST_MARK.sub("", ln).strip() for ln in lines if _LIST_MARK.match(ln)]
    last = items[-1] if items else ""
    words = sum(len(_LIST_MARK.sub("", ln).split()) for ln in lines)
    return words < 3 or last.endswith(":") or _cut_off(last)


def _sentence_fragment(text: str, headings: set[str]) -> bool:
    text = " ".join(text.split())
    if not text or not (text[0].isupper() or text[0].isdigit() or text[0] in "\"'(“"):
        return True  # starts mid-sentence (": Step 3", "and then ...")
    if text.endswith(":") or len(text.split()) < MIN_SENTENCE_WORDS or _cut_off(text):
        return True
    if _FLAT_ROW.match(text.rstrip(".")):
        return True  # a table row flattened into "Header: cell; Header: cell; ..."

    if _is_heading(text, headings) or (len(text.split()) <= 10 and is_title(text.rstrip("."))):
        return True
    first = split_sentences(text)[0]
    return leans_back(first)


def count_fragments(answer: str, headings: Iterable[str] = ()) -> int:
    """How many cited pieces of the answer are headings or broken sentences (should be 0).
    `headings`: section titles of the material, to catch a heading quoted as a sentence."""
    known = {normalize(h) for h in headings if normalize(h)}
    count = 0
    for piece in cited_pieces(answer):
        lines = [ln for ln in piece.splitlines() if ln.strip()]
        if not lines:
            continue
        body = [ln for ln in lines if ln.strip().startswith("|") or _LIST_MARK.match(ln)]
        if lines[-1].strip().startswith("|"):
            count += _table_fragment(lines)
        elif body:
            count += _list_fragment(lines)
        else:
            count += _sentence_fragment(" ".join(lines), known)
    return count
