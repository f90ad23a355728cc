"""An offline answer's text: the chosen units in reading order, each cited with `[n]`.

The lead units come first, in document order, each lead sentence with the sentences that
follow it in its paragraph; then "Also relevant:" and the other documents' units. Sentences of
one paragraph stay one paragraph, items of one list one list, a table a table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agents.events import Citation
from agents.units import Unit
from tools.search import Hit

PARAGRAPH_MAX_WORDS = 110  # a lead sentence brings its paragraph's next sentences up to this
ALSO_RELEVANT = "Also relevant:"


@dataclass(frozen=True)
class Candidate:
    unit: Unit
    hit_index: int  # index into the retrieved hits (0 = best)

    @property
    def text(self) -> str:
        return self.unit.plain


@dataclass
class Composed:
    answer: str
    citations: list[Citation]
    sentences: list[tuple[str, int]]  # (unit text, citation n), in answer order
    considered: list[str] = field(default_factory=list)  # every unit scored for the answer
    headings: list[str] = field(default_factory=list)  # section leaves of the units' passages


def _doc_order(hit: Hit) -> int:
    parts = hit.chunk_id.split("::")
    return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0


def with_paragraph(lead: list[Candidate], every: list[Candidate]) -> list[Candidate]:
    """The lead units plus the sentences that follow each lead sentence in its paragraph (then
    those before it), up to PARAGRAPH_MAX_WORDS: the sentence that names a topic is often
    followed by the one that answers ("I look for signals of seniority. A strong candidate
    will ...")."""
    out = list(lead)
    have = {(c.hit_index, c.unit.position) for c in out}
    for c in lead:
        if c.unit.kind not in ("sentence", "formula"):
            continue
        same = [
            o
            for o in every
            if o.hit_index == c.hit_index
            and o.unit.block == c.unit.block
            and o.unit.kind in ("sentence", "formula")
        ]
        words = len(c.unit.plain.split())
        after = [o for o in same if o.unit.position > c.unit.position]
        before = [o for o in reversed(same) if o.unit.position < c.unit.position]
        for side in (after, before):
            for o in side:
                size = len(o.unit.plain.split())
                if words + size > PARAGRAPH_MAX_WORDS:
                    break
                words += size
                if (o.hit_index, o.unit.position) not in have:
                    have.add((o.hit_index, o.unit.position))
                    out.append(o)
    return out


def _reading_order(hits: list[Hit], picked: list[Candidate]) -> list[Candidate]:
    return sorted(
        picked, key=lambda c: (_doc_order(hits[c.hit_index]), c.hit_index, c.unit.position)
    )


def _cited(unit: Unit, n: int) -> str:
    if unit.kind == "table":  # the marker goes in the last cell: the table stays a table
        head, _, last = unit.text.rpartition("\n")
        last = re.sub(r"\s*\|\s*$", f" [{n}] |", last)
        return f"{head}\n{last}" if head else last
    return f"{unit.text} [{n}]"


def render(hits: list[Hit], lead: list[Candidate], others: list[Candidate]) -> Composed:
    """The answer text: lead units in reading order, then "Also relevant:" and the others."""
    numbers: dict[int, int] = {}
    citations: list[Citation] = []
    sentences: list[tuple[str, int]] = []

    def number(c: Candidate) -> int:
        if c.hit_index not in numbers:
            hit = hits[c.hit_index]
            numbers[c.hit_index] = len(numbers) + 1
            citations.append(
                Citation(
                    n=numbers[c.hit_index],
                    source=hit.source,
                    section=hit.section,
                    chunk_id=hit.chunk_id,
                    text=hit.text,
                )
            )
        return numbers[c.hit_index]

    def blocks(group: list[Candidate]) -> list[str]:
        out: list[str] = []
        last_key = None
        for c in group:
            n = number(c)
            sentences.append((c.unit.plain, n))
            key = (c.hit_index, c.unit.block, c.unit.kind)
            text = _cited(c.unit, n)
            if key == last_key and c.unit.kind in ("sentence", "formula"):
                out[-1] += " " + text  # sentences of one paragraph stay one paragraph
            elif key == last_key and c.unit.kind == "item":
                out[-1] += "\n" + text  # items of one list stay one list
            else:
                out.append(text)
            last_key = key
        return out

    parts = blocks(_reading_order(hits, lead))
    if others:
        parts.append(ALSO_RELEVANT)
        for c in others:
            parts += blocks([c])
    return Composed("\n\n".join(parts), citations, sentences)
