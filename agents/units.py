"""A passage as answer units: the pieces an offline answer may quote whole.

A unit is one of: a paragraph sentence (with the sentence before it when it leans on it:
"This delays ..."), a formula with the sentences that define its symbols, a whole list item
(with its sub-items, and its parents' short labels as context), a whole markdown table, or a
heading. Headings, list lead-ins ("The steps are:") and pieces cut off by a chunk boundary are
kept as units but marked not quotable, so an answer never shows a stray heading or a fragment.
Text addressed to an AI (see `agents.passages`) never becomes a quotable unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal

from agents.passages import is_instruction_to_ai, split_sentences, strip_hidden
from agents.unit_text import (
    clean_inline,
    dangling_end,
    ends_sentence,
    has_formula,
    is_heading_line,
    is_table_row,
    is_title,
    leans_back,
    symbols,
)

UnitKind = Literal["sentence", "formula", "item", "table", "heading"]

MIN_WORDS = 4  # a shorter sentence says nothing on its own
MAX_ITEM_WORDS = 80  # a list item with its sub-items up to this size is one unit
MAX_LIST_WORDS = 150  # a list with its lead-in ("Metrics to report:") up to this is one unit
MAX_LABEL_WORDS = 12  # a parent item this short is repeated as context above its sub-items


_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*")
_LIST_ITEM = re.compile(r"^(?P<indent>\s*)(?:[-*+•·▪◦]|\d{1,3}[.)])\s+(?P<text>.*)$")
_QUOTE_MARK = re.compile(r"^\s*>\s?")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_DEFINES = re.compile(r"^(?:where|here|with|in which|i\.e\.)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Unit:
    kind: UnitKind
    text: str  # as shown in an answer (markdown for items and tables)
    plain: str  # one line, for scoring and matching
    block: int  # paragraph / list / table number inside the passage
    position: int  # order inside the passage
    quotable: bool = True  # False: a heading, a lead-in, or cut off by the chunk boundary


@dataclass
class _Item:
    indent: int
    lines: list[str]
    children: list[_Item] = field(default_factory=list)

    @property
    def text(self) -> str:
        return clean_inline(" ".join(self.lines))

    def words(self) -> int:
        return len(self.text.split()) + sum(c.words() for c in self.children)


class _Builder:
    def __init__(self) -> None:
        self.units: list[Unit] = []
        self.block = 0
        self.count = 0

    def add(self, kind: UnitKind, text: str, plain: str, quotable: bool = True) -> None:
        self.units.append(Unit(kind, text, plain, self.block, self.count, quotable))
        self.count += 1

    def next_block(self) -> None:
        self.block += 1


def _paragraph(b: _Builder, lines: list[str], starts_cut: bool, ends_cut: bool) -> None:
    """Sentences of one paragraph; leaning sentences joined to their antecedent, formulas to
    the sentences that define their symbols."""
    joined = clean_inline(" ".join(lines))
    if not joined:
        return
    groups: list[list[str]] = []
    cut_first = starts_cut
    for i, sentence in enumerate(split_sentences(joined)):
        if is_instruction_to_ai(sentence):
            groups.append([])  # a dropped sentence breaks the chain of leaning sentences
            continue
        prev = groups[-1] if groups else []
        formula_link = prev and (
            (
                has_formula(" ".join(prev))
                and (_DEFINES.match(sentence) or symbols(sentence) & symbols(" ".join(prev)))
            )
            or (has_formula(sentence) and symbols(sentence) & symbols(" ".join(prev)))
        )
        if prev and (leans_back(sentence) or formula_link):
            prev.append(sentence)
        else:
            groups.append([sentence])
            if i == 0 and leans_back(sentence):
                cut_first = True  # leans on a heading or a passage we do not have
    groups = [g for g in groups if g]
    for j, group in enumerate(groups):
        text = " ".join(group)
        quotable = len(text.split()) >= MIN_WORDS and not text.endswith(":")
        if j == 0 and cut_first:
            quotable = False
        if j == len(groups) - 1 and ends_cut and not ends_sentence(text):
            quotable = False
        if dangling_end(text):
            quotable = False
        if quotable and not ends_sentence(text):
            text += "."
        kind: UnitKind = "formula" if any(has_formula(s) for s in group) else "sentence"
        b.add(kind, text, text, quotable)


def _render_item(item: _Item, depth: int) -> list[str]:
    out = ["  " * depth + "- " + item.text]
    for child in item.children:
        out += _render_item(child, depth + 1)
    return out


def _plain_item(item: _Item) -> str:
    return " ".join([item.text, *(_plain_item(c) for c in item.children)])


def _clean_tree(item: _Item) -> _Item | None:
    """The item without sub-items (or itself) that address an AI."""
    if is_instruction_to_ai(item.text):
        return None
    kids = [c for c in (_clean_tree(c) for c in item.children) if c is not None]
    if not kids and item.indent > 0 and (item.text.endswith(":") or dangling_end(item.text)):
        return None  # a sub-item's lead-in whose content the chunk cut off, or a cut sentence
    return _Item(item.indent, item.lines, kids)


def _emit_item(b: _Builder, item: _Item, labels: list[str]) -> None:
    """One unit for an item that fits, else the item's own text and each sub-item."""
    context = [("  " * d) + "- " + label for d, label in enumerate(labels)]
    depth = len(labels)
    if item.words() <= MAX_ITEM_WORDS:
        lines = context + _render_item(item, depth)
        plain = " ".join([*labels, _plain_item(item)])
        own = item.text
        # a bare label ("Monitoring") or a lead-in ("Steps:") without sub-items says nothing
        quotable = not dangling_end(item.text) and (
            bool(item.children)
            or (len(own.split()) >= 3 and not own.endswith(":") and len(plain.split()) >= MIN_WORDS)
        )
        b.add("item", "\n".join(lines), plain, quotable)
        return
    own = item.text
    if len(own.split()) >= MIN_WORDS and not own.endswith(":"):
        b.add("item", "\n".join(context + ["  " * depth + "- " + own]), own)
    child_labels = labels + [own] if len(own.split()) <= MAX_LABEL_WORDS else labels
    for child in item.children:
        _emit_item(b, child, child_labels)


def _list(b: _Builder, items: list[tuple[int, list[str]]], lead: Unit | None) -> None:
    """A list's units. `lead`: the unit of the paragraph right before the list ("The system
    is monitored at three layers." / "Metrics to report:"), joined to a list that fits."""
    roots: list[_Item] = []
    stack: list[_Item] = []
    for indent, lines in items:
        node = _Item(indent, lines)
        while stack and stack[-1].indent >= indent:
            stack.pop()
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)
    roots = [c for c in (_clean_tree(r) for r in roots) if c is not None]
    bare = all(not r.children and len(r.text.split()) <= 2 for r in roots)  # "- Monitoring"
    usable = (
        lead is not None
        and not bare
        and (lead.quotable or (lead.text.endswith(":") and lead.text[:1].isupper()))
    )
    if (
        lead
        and usable
        and len(lead.plain.split()) + sum(r.words() for r in roots) <= (MAX_LIST_WORDS)
    ):
        # a short list with its lead-in is one unit: "The steps are:" means nothing alone
        b.units.remove(lead)
        lines = [lead.text] + [line for r in roots for line in _render_item(r, 0)]
        plain = " ".join([lead.plain, *(_plain_item(r) for r in roots)])
        b.add("item", "\n".join(lines), plain)
        return
    for root in roots:
        _emit_item(b, root, [])


def _cells(row: str) -> list[str]:
    return [clean_inline(c) for c in row.strip().strip("|").split("|")]


def _table(b: _Builder, rows: list[str]) -> None:
    has_header = len(rows) >= 2 and bool(_TABLE_RULE.match(rows[1]))
    body = [r for r in rows if not _TABLE_RULE.match(r)]
    cells = [_cells(r) for r in body]
    cells = [c for i, c in enumerate(cells) if i == 0 or not is_instruction_to_ai(" ".join(c))]
    if not cells:
        return
    width = max(len(c) for c in cells)
    lines = ["| " + " | ".join(c + [""] * (width - len(c))) + " |" for c in cells]
    if has_header:
        lines.insert(1, "|" + "---|" * width)
    plain = "; ".join(" ".join(c) for c in cells)
    # rows without their header row (the chunk starts inside the table) are a fragment
    b.add("table", "\n".join(lines), plain, has_header and len(cells) >= 2)


def _continues(item_lines: list[str], line: str) -> bool:
    """Whether an unindented line right after a list item continues it (a lazy markdown wrap):
    it starts in lower case, or the item stops mid-phrase. Otherwise it is the next paragraph
    or heading, as in plain-text notes ("- Leaving out rollback plans" / "Wrap up: ...")."""
    last = item_lines[-1].rstrip()
    return (
        not line[:1].isupper()
        or last.endswith((",", ":", ";", "-", "(", "&", "+", "/"))
        or dangling_end(last)
    )


def _capitalised_opening(lines: list[str]) -> list[str]:
    """The lines with the first paragraph line after the headings capitalised."""
    for n, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or _MD_HEADING.match(line):
            continue
        if stripped[0].islower() and not _LIST_ITEM.match(line):
            at = line.index(stripped[0])
            return [*lines[:n], line[:at] + stripped[0].upper() + line[at + 1 :], *lines[n + 1 :]]
        return lines
    return lines


def passage_units(
    text: str, cut_start: bool | None = None, cut_end: bool | None = None
) -> list[Unit]:
    """The units of one passage, in reading order (see the module docstring).

    `cut_start` / `cut_end`: whether the chunker cut the passage out of a longer section at
    its start / end (None: unknown, judged from the text). A passage that ends where its
    section ends keeps its last paragraph even without end punctuation (notes often have
    none); one cut mid-section drops a last paragraph that does not end a sentence."""
    b = _Builder()
    lines = strip_hidden(text).splitlines()
    para: list[str] = []
    items: list[tuple[int, list[str]]] = []
    table: list[str] = []
    lead: list[Unit | None] = [None]  # the unit of the paragraph right before a list
    first = next((ln for ln in lines if ln.strip()), "")
    starts_cut = cut_start is not False and (
        bool(first.strip())
        and not (
            _MD_HEADING.match(first) or _LIST_ITEM.match(first) or first.lstrip().startswith("|")
        )
        and not first.strip()[0].isupper()
        and not first.strip()[0].isdigit()
    )
    state = {"starts_cut": starts_cut, "plain_list": False}
    if cut_start is False:  # a section that opens in lower case ("two-tower inference: ...")
        lines = _capitalised_opening(lines)

    def flush(ends_cut: bool = False) -> None:
        if para:
            added = len(b.units)
            _paragraph(b, para, state["starts_cut"], ends_cut)
            lead[0] = b.units[-1] if len(b.units) > added else None
            para.clear()
            b.next_block()
        state["starts_cut"] = False
        state["plain_list"] = False
        if items:
            _list(b, items, lead[0])
            items.clear()
            lead[0] = None
            b.next_block()
        if table:
            lead[0] = None
            _table(b, table)
            table.clear()
            b.next_block()

    # Where headings are marked up (#), a plain line is a heading only in Title Case: notes
    # put short unpunctuated sentences under their headings ("Re-ranks items by ... (filter)").
    marked_up = any(_MD_HEADING.match(ln) for ln in lines)
    in_code = False
    after_blank = False
    for raw in lines:
        line = _QUOTE_MARK.sub("", raw)
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            in_code = not in_code
            continue
        if in_code:
            continue
        if not stripped:
            if para:
                flush()
            after_blank = True
            continue
        blank, after_blank = after_blank, False
        if _MD_HEADING.match(line):
            flush()
            b.add("heading", _MD_HEADING.sub("", stripped).strip("# "), stripped, False)
            b.next_block()
            lead[0] = None
            continue
        if is_table_row(stripped):
            if not table:
                flush()
            table.append(stripped)
            continue
        if table:
            flush()
        item = _LIST_ITEM.match(line)
        if item:
            if para or state["plain_list"]:
                flush()
            indent = len(item.group("indent").expandtabs(4))
            items.append((indent, [item.group("text").strip()]))
            continue
        short = is_heading_line(stripped)
        wraps = bool(items) and (
            line[:1].isspace() or (not blank and _continues(items[-1][1], stripped))
        )
        if wraps and not state["plain_list"]:
            # a wrapped item continues; after a blank line, the item it is indented under
            indent = len(line) - len(line.lstrip())
            owner = next((it for it in reversed(items) if it[0] < indent), items[-1])
            owner[1].append(stripped)
            continue
        if short and (state["plain_list"] or (para and para[-1].endswith(":"))):
            if not state["plain_list"]:
                flush()  # a plain-text list: short lines after a lead-in ("... archetypes:")
            state["plain_list"] = True
            items.append((0, [stripped]))
            continue
        heading = short and (not marked_up or is_title(stripped))
        if heading and (not para or ends_sentence(para[-1])):
            flush()
            b.add("heading", stripped, stripped, False)
            b.next_block()
            continue
        if items or table:
            flush()
        para.append(stripped)
    if para:
        flush(ends_cut=cut_end is not False)
    flush()
    return [u for u in b.units if u.plain.strip()]


def quotable_units(
    text: str, cut_start: bool | None = None, cut_end: bool | None = None
) -> list[Unit]:
    """The units an answer may quote, renumbered in reading order."""
    units = passage_units(text, cut_start, cut_end)
    return [replace(u, position=i) for i, u in enumerate(units) if u.quotable]
