"""Where the corpus teaches a criterion: a (source, section) link for each missing criterion.

The search tool is asked first and a hit from the criterion's `teaches` document is preferred;
without a store (or when search fails) the `teaches` document's best-matching heading is used,
so a critique always links somewhere and never crashes on a missing index.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel

from tools.grader.text import find_phrases, normalize
from tools.rubric import Criterion

log = logging.getLogger(__name__)

SEARCH_DEPTH = 10  # hits inspected for one from the `teaches` document

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


class Reference(BaseModel):
    source: str  # corpus-relative path, e.g. concepts/data-splits-and-leakage.md
    section: str  # heading path, e.g. "Data splits and leakage > Temporal splits"
    criterion: str = ""  # the criterion it teaches
    via: str = "teaches"  # "search" when the search tool found it, else "teaches"


@lru_cache(maxsize=256)
def _sections(path: str, mtime: float) -> list[tuple[str, str]]:
    """(heading path, normalized section text) for each section of a markdown file."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("cannot read %s: %s", path, exc)
        return []
    stack: list[str] = []
    sections: list[tuple[str, list[str]]] = []
    in_front_matter = bool(lines) and lines[0].strip() == "---"
    for i, line in enumerate(lines):
        if in_front_matter:
            if i > 0 and line.strip() == "---":
                in_front_matter = False
            continue
        m = _HEADING.match(line)
        if m:
            depth = len(m.group(1))
            stack = stack[: depth - 1] + [""] * max(0, depth - 1 - len(stack)) + [m.group(2)]
            sections.append((" > ".join(h for h in stack if h), [m.group(2)]))
        elif sections:
            sections[-1][1].append(line)
    return [(title, normalize(" ".join(body))) for title, body in sections]


def fallback_reference(criterion: Criterion, corpus_dir: Path) -> Reference:
    """The `teaches` document and its heading that best matches the criterion (no index)."""
    path = corpus_dir / criterion.teaches
    try:
        sections = _sections(str(path), path.stat().st_mtime)
    except OSError:
        sections = []
    words = {w for w in normalize(criterion.description).split() if len(w) > 3}
    best_title, best_score = "", -1.0
    for position, (title, text) in enumerate(sections):
        if title.count(" > ") == 0 and len(sections) > 1:
            continue  # the document title alone is too broad when sections exist
        phrase_hits = len(find_phrases(text, criterion.phrases))
        overlap = sum(1 for w in words if f" {w}" in text)
        heading_hits = len(find_phrases(normalize(title), criterion.phrases))
        score = 2.0 * phrase_hits + overlap + 3.0 * heading_hits - 0.01 * position
        if score > best_score:
            best_title, best_score = title, score
    return Reference(source=criterion.teaches, section=best_title, criterion=criterion.id)


# Search results depend only on the criterion and the store, never on the design: cache them
# per retriever so repeated critiques do not repeat the searches.
_search_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_search_lock = threading.Lock()


def _searched_reference(criterion: Criterion, retriever) -> Reference | None:
    with _search_lock:
        cached = _search_cache.setdefault(retriever, {})
        key = (criterion.id, criterion.teaches, criterion.description)
        if key in cached:
            return cached[key]
    hits = retriever.search(criterion.description, k=SEARCH_DEPTH)
    found = next((h for h in hits if h.source == criterion.teaches), None)
    ref = (
        Reference(source=found.source, section=found.section, criterion=criterion.id, via="search")
        if found is not None
        else None
    )
    with _search_lock:
        cached[key] = ref
    return ref


def references_for(
    criteria: list[Criterion], corpus_dir: Path, retriever=None
) -> dict[str, Reference]:
    """A reference per criterion id; the search tool first, the `teaches` heading as fallback."""
    refs: dict[str, Reference] = {}
    search_ok = retriever is not None
    for criterion in criteria:
        ref = None
        if search_ok:
            try:
                ref = _searched_reference(criterion, retriever)
            except Exception as exc:  # no store, wrong model, broken index: links still work
                log.info("search unavailable for references (%s); using teaches headings", exc)
                search_ok = False
        refs[criterion.id] = ref or fallback_reference(criterion, corpus_dir)
    return refs
