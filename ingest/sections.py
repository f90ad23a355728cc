"""Sections for text without markdown headings (.txt, PDF text, HTML without <h*>).

`structure(text)` finds title-like lines and turns them into markdown headings, so the
heading-aware chunker gives such text real sections and citations name them. It only acts
when the document has no markdown headings of its own.

Heading-like lines, strong (level 2):
  "Stage 3: ..." / "Step 2 - ..." / "Part IV ...", numbered titles ("3. Data preparation",
  "3) Data preparation", "3.2 Features"), lines ending with a time budget in parentheses
  ("Problem framing (5 min)", "(~8-9 Minutes)", "(Remaining time)"), ALL CAPS lines, lines
  underlined with ===, a line that is all bold (**Title**).
Weak (level 2, or 3 under strong ones): short standalone lines: up to 10 words, no final
  period/comma/semicolon/exclamation (a colon only after one or two words), Title Case or at
  most five words, lines underlined with ---.
Not headings: bullets, table rows, a line after one that ends with a colon (a list follows a
  colon), a line that continues a wrapped paragraph (the previous line ends mid-sentence) or
  is continued by the next (next starts in lower case), a line with no body after it, and a
  run of three or more heading-like lines with no text between (a list or a menu; at the top
  of a document only its last line, just before the text, is kept).
Title: the first heading-like line before any body text (generic words such as
  "Introduction" excepted), else None (the caller uses `humanised_name`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

_MD_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+\S")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_UNDERLINE = re.compile(r"^\s*(={3,}|-{3,})\s*$")
_BULLET = re.compile(r"^([-*+•·▪●◦‣►>–—]|o\s)")
_TABLE = re.compile(r"\||\t|\S {3,}\S")
_STAGE = re.compile(
    r"^(step|stage|phase|part|chapter|module|lesson|round|section)\s+"
    r"(\d{1,2}|[ivx]{1,5}|one|two|three|four|five|six|seven|eight|nine|ten)\b",
    re.IGNORECASE,
)
_NUMBERED = re.compile(r"^\d{1,2}(?:\.\d{1,2})*(?:[.)]\s+|\s+(?=\S))(?P<rest>\S.*)$")
_NUMBERED_SUB = re.compile(r"^\d{1,2}\.\d{1,2}\s")  # "3.2 Features": a sub-numbered title
_TIME_BUDGET = re.compile(
    r"\(\s*(?:~|≈|about\s+|approx\.?\s+|around\s+)?\d+(?:\s*[-–—]\s*\d+)?\s*\+?\s*"
    r"(?:min(?:ute)?s?|m|h|hrs?|hours?|sec(?:ond)?s?)\.?\s*\)$"
    r"|\((?:the\s+)?(?:remaining|rest of the)\s+time\)$",
    re.IGNORECASE,
)
_BOLD = re.compile(r"^\*\*([^*]{1,100})\*\*:?$")
_WORD = re.compile(r"[^\W\d_]{3,}")
_ENDS_SENTENCE = tuple(".,;!…")
_ENDS_CLAUSE = tuple(".!?:;)\"'”’»]")
_TRAILING_STOP = {"and", "or", "the", "of", "to", "a", "an", "in", "for", "with", "on", "at"}
_GENERIC = {
    "introduction",
    "overview",
    "summary",
    "contents",
    "table of contents",
    "abstract",
    "background",
    "conclusion",
    "preface",
    "foreword",
    "notes",
}
STRONG, WEAK = 2, 3
MAX_HEADING_CHARS = 120
SHORT_CHARS = 40  # a line this short is a label or a menu entry, not part of a wrapped paragraph
WRAP_SHARE = 0.8  # in hard-wrapped text a line this close to the width is not standalone
PARAGRAPH_WORDS = 12  # a next line this long is a paragraph, not the next item of a list


@dataclass(frozen=True)
class Structured:
    text: str  # markdown: the input with detected headings marked (unchanged when none)
    title: str | None  # the detected title line, if any
    detected: bool  # headings were added


def has_markdown_headings(text: str) -> bool:
    """True when a line outside code fences is an ATX heading (`# Title`)."""
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and _MD_HEADING.match(line):
            return True
    return False


def humanised_name(source: str) -> str:
    """A readable title from a file name: `data-splits_and-leakage.txt` -> `Data splits and
    leakage`; hash-like parts are dropped when other words remain."""
    stem = PurePosixPath(source).name.rsplit(".", 1)[0] or source
    words = [w for w in re.split(r"[\s_\-]+", stem) if w]
    hashless = [w for w in words if not (len(w) >= 8 and re.fullmatch(r"[0-9a-fA-F]+", w))]
    meaningful = [w for w in hashless if not w.isdigit()]
    chosen = meaningful or words or [stem]
    name = " ".join(chosen)
    return name[:1].upper() + name[1:] if name.islower() else name


def _is_title_case(words: list[str]) -> bool:
    long = [w for w in words if _WORD.match(w) and len(w) > 3]
    return bool(long) and sum(w[0].isupper() for w in long) >= 0.75 * len(long)


def _kind(line: str) -> int | None:
    """STRONG, WEAK or None for one stripped line, without looking at its neighbours."""
    if not line or len(line) > MAX_HEADING_CHARS or _TABLE.search(line):
        return None
    if _BOLD.match(line):
        return STRONG
    if _BULLET.match(line):
        return None
    if not (line[0].isupper() or line[0].isdigit()) or line.endswith(_ENDS_SENTENCE):
        return None
    words = line.split()
    if line.endswith(":") and len(words) > 2:
        return None
    if not _WORD.search(line):
        return None
    if _STAGE.match(line) or _TIME_BUDGET.search(line):
        return STRONG
    numbered = _NUMBERED.match(line)
    if numbered:
        rest = numbered.group("rest")
        ok = len(rest.split()) <= 12 and (rest[0].isupper() or rest[0] == "(")
        ok = ok and (line[1:2] in ".)" or line[2:3] in ".)" or bool(_NUMBERED_SUB.match(line)))
        return STRONG if ok and not rest.endswith(":") else None
    letters = [c for c in line if c.isalpha()]
    if len(letters) >= 4 and all(c.isupper() for c in letters) and len(words) <= 10:
        return STRONG
    if len(words) > 10 or len(line) > 80 or words[-1].lower() in _TRAILING_STOP:
        return None
    return WEAK if len(words) <= 5 or _is_title_case(words) else None


def _clean(line: str) -> str:
    bold = _BOLD.match(line)
    text = bold.group(1) if bold else line
    return text.rstrip(":").strip()


def _candidates(lines: list[str]) -> tuple[dict[int, int], set[int]]:
    """Line index -> kind for heading-like lines in context; indexes of setext underlines."""
    stripped = [line.strip() for line in lines]
    found: dict[int, int] = {}
    underlines: set[int] = set()
    for i, line in enumerate(stripped):
        if not line:
            continue
        nxt = stripped[i + 1] if i + 1 < len(stripped) else ""
        prev = stripped[i - 1] if i > 0 else ""
        underlined = _UNDERLINE.match(nxt) and not _UNDERLINE.match(line)
        standalone = not prev or prev.endswith(_ENDS_CLAUSE)
        if underlined and standalone and len(line) <= MAX_HEADING_CHARS and not _BULLET.match(line):
            found[i] = STRONG if nxt.lstrip().startswith("=") else WEAK
            underlines.add(i + 1)
            continue
        kind = _kind(line)
        if kind is not None:
            found[i] = kind
    return found, underlines


def _announces_nothing(line: str) -> bool:
    """Stage and time-budget titles are headings even right after a colon."""
    return bool(_STAGE.match(line) or _TIME_BUDGET.search(line))


def _neighbours(stripped: list[str], i: int, skip: set[int]) -> tuple[int | None, int | None]:
    """Indexes of the previous and next non-blank lines (setext underlines skipped)."""
    prev = next((j for j in range(i - 1, -1, -1) if stripped[j] and j not in skip), None)
    nxt = next((j for j in range(i + 1, len(stripped)) if stripped[j] and j not in skip), None)
    return prev, nxt


def _accepted(lines: list[str]) -> tuple[dict[int, int], set[int]]:
    stripped = [line.strip() for line in lines]
    found, underlines = _candidates(lines)
    accepted: dict[int, int] = {}
    list_items: set[int] = set()
    width = _wrap_width(stripped)
    for i, kind in sorted(found.items()):
        if i in underlines:
            continue
        prev, nxt = _neighbours(stripped, i, underlines)
        if nxt is None or stripped[nxt][0].islower():
            continue  # nothing follows, or the next line continues this one
        if width and nxt == i + 1 and len(stripped[i]) >= WRAP_SHARE * width:
            continue  # a full-width line of hard-wrapped text runs on into the next
        if prev == i - 1 and stripped[prev].count("(") > stripped[prev].count(")"):
            continue  # the rest of the line above, wrapped inside its parentheses
        if i + 1 in underlines:
            accepted[i] = kind
            continue
        if prev is not None:
            before = stripped[prev]
            # after a colon a list follows, unless this line heads a paragraph of its own
            announced = before.endswith(":") and prev not in found
            announced = announced and len(stripped[nxt].split()) < PARAGRAPH_WORDS
            if (announced or prev in list_items) and not _announces_nothing(stripped[i]):
                list_items.add(i)  # an item of the list a colon announces
                continue
            wrapped = prev == i - 1 and prev not in found and not _BULLET.match(before)
            if wrapped and not before.endswith(_ENDS_CLAUSE) and not _is_short(before):
                continue  # a wrapped paragraph's last line
        accepted[i] = kind
    return _drop_runs(stripped, accepted, underlines), underlines


def _wrap_width(stripped: list[str]) -> int:
    """The line width of hard-wrapped text (PDF text, e-mail), else 0: most long lines end
    within a few characters of the same width."""
    long = sorted(len(s) for s in stripped if len(s) >= SHORT_CHARS)
    if len(long) < 8:
        return 0
    width = long[int(0.9 * (len(long) - 1))]
    near = sum(1 for n in long if WRAP_SHARE * width <= n <= width)
    return width if near >= 0.5 * len(long) and width <= 200 else 0


def _is_short(line: str) -> bool:
    """A menu entry or a label ("Log in"), not a sentence."""
    return len(line) <= SHORT_CHARS and not line.endswith(_ENDS_SENTENCE + ("?",))


def _drop_runs(stripped: list[str], accepted: dict[int, int], skip: set[int]) -> dict[int, int]:
    """Three or more short lines with no text between, heading-like ones among them, are a
    list or a menu: none of them is a heading, except at the very top of the document the
    last one (the title that follows a site menu)."""
    body_seen = False
    run: list[int] = []  # short lines in a row; the heading-like ones are in `accepted`
    kept = dict(accepted)

    def close() -> None:
        if len(run) >= 3:
            last = run[-1] if not body_seen else None
            for j in run:
                if j != last:
                    kept.pop(j, None)
        run.clear()

    for i, line in enumerate(stripped):
        if not line or i in skip:
            continue
        if i in accepted or _is_short(line):
            run.append(i)
            continue
        close()
        body_seen = True
    close()
    return kept


def structure(text: str) -> Structured:
    """Mark heading-like lines as markdown headings when `text` has none of its own."""
    if has_markdown_headings(text):
        return Structured(text=text, title=None, detected=False)
    lines = text.splitlines()
    accepted, underlines = _accepted(lines)
    if not accepted:
        return Structured(text=text, title=None, detected=False)
    stripped = [line.strip() for line in lines]
    first = min(accepted)
    body_before = any(
        s and j not in underlines and _kind(s) is None and not _is_short(s)
        for j, s in enumerate(stripped[:first])
    )
    title_line = None
    if not body_before and _clean(stripped[first]).lower() not in _GENERIC:
        title_line = first
    has_strong = any(kind == STRONG for i, kind in accepted.items() if i != title_line)
    out: list[str] = []
    for i, line in enumerate(lines):
        if i in underlines and i - 1 in accepted:
            continue
        if i in accepted:
            level = 1 if i == title_line else (accepted[i] if has_strong else STRONG)
            out.append(f"{'#' * level} {_clean(stripped[i])}")
        else:
            out.append(line)
    title = _clean(stripped[title_line]) if title_line is not None else None
    return Structured(text="\n".join(out), title=title, detected=True)
