"""Review questions drawn from the material: the golden set, concept notes, rubric follow-ups.

Each card has a stable key (`golden:g001`, `concept:concepts/baselines.md#What a baseline is
for`, `criterion:loss`), a question, a reference answer and the corpus section it comes from.
Concept cards ask to explain one `##` section of a concept note, with the section's opening
sentences as the reference; criterion cards ask the rubric's follow-up question, with the
criterion and the opening of the section that teaches it as the reference.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

REFERENCE_CHARS = 480
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")


@dataclass
class CardSpec:
    key: str
    origin: str  # golden | concept | criterion
    question: str
    reference: str
    source: str
    section: str
    stages: list[str] = field(default_factory=list)


def _strip_markdown(text: str) -> str:
    text = re.sub(r"\*\*|__|`", "", text)
    return re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)


def _opening(paragraphs: list[str], limit: int = REFERENCE_CHARS) -> str:
    """The first sentences of the section's prose, up to `limit` characters."""
    out = ""
    for paragraph in paragraphs:
        for sentence in _SENTENCE.split(paragraph):
            if sentence.rstrip().endswith(":"):  # it introduces a list the reference leaves
                return out  # out; what follows the list would lean on it
            if out and len(out) + len(sentence) + 1 > limit:
                return out
            out = f"{out} {sentence}".strip()
    return out[:limit]


@lru_cache(maxsize=128)
def _sections(path: str, mtime: float) -> tuple[str, dict, list[tuple[str, str, list[str]]]]:
    """(title, front matter, [(heading path, heading, prose paragraphs)]) of a markdown file."""
    import yaml

    text = Path(path).read_text(encoding="utf-8")
    meta: dict = {}
    if text.startswith("---"):
        head, _, text = text[3:].partition("\n---")
        try:
            meta = yaml.load(head, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
        except yaml.YAMLError:
            meta = {}
    stack: list[str] = []
    sections: list[tuple[str, str, list[str]]] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph and sections:
            sections[-1][2].append(_strip_markdown(" ".join(paragraph)))
        paragraph.clear()

    for line in text.splitlines():
        m = _HEADING.match(line)
        stripped = line.strip()
        if m:
            flush()
            depth = len(m.group(1))
            stack = stack[: depth - 1] + [""] * max(0, depth - 1 - len(stack)) + [m.group(2)]
            sections.append((" > ".join(h for h in stack if h), m.group(2), []))
        elif (
            not stripped
            or line[0] in " \t"  # a list item's continuation line
            or stripped.startswith(("|", "-", "*", ">", "```"))
            or stripped[0].isdigit()
        ):
            flush()  # tables, lists, quotes and code are not reference prose
        else:
            paragraph.append(stripped)
    flush()
    title = str(meta.get("title") or (sections[0][1] if sections else Path(path).stem))
    return title, meta, sections


def read_sections(path: Path) -> tuple[str, dict, list[tuple[str, str, list[str]]]]:
    try:
        return _sections(str(path), path.stat().st_mtime)
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("cannot read %s for review cards: %s", path, exc)
        return path.stem, {}, []


def section_opening(corpus_dir: Path, source: str, section: str) -> str:
    """The opening sentences of `section` (a heading path or its last heading) in `source`."""
    _, _, sections = read_sections(corpus_dir / source)
    last = section.split(" > ")[-1].strip()
    for path, heading, paragraphs in sections:
        if paragraphs and (path == section or heading == last):
            return _opening(paragraphs)
    return ""


def golden_cards(golden_path: Path) -> list[CardSpec]:
    """In-scope golden rows with a reference answer."""
    out = []
    try:
        lines = golden_path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        log.warning("no golden set for review cards (%s)", exc)
        return out
    for line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if row.get("kind") == "out-of-scope" or not row.get("reference") or not row.get("id"):
            continue
        source, _, section = (row.get("sources") or [""])[0].partition("#")
        out.append(
            CardSpec(
                key=f"golden:{row['id']}",
                origin="golden",
                question=str(row["question"]),
                reference=str(row["reference"]),
                source=source,
                section=section,
                stages=[row["stage"]] if row.get("stage") else [],
            )
        )
    return out


def concept_cards(corpus_dir: Path) -> list[CardSpec]:
    """One card per `##` section of each concept note that opens with prose."""
    out = []
    for path in sorted((corpus_dir / "concepts").glob("*.md")):
        title, meta, sections = read_sections(path)
        source = path.relative_to(corpus_dir).as_posix()
        for heading_path, heading, paragraphs in sections:
            if heading_path.count(" > ") != 1 or not paragraphs or heading.startswith("In the "):
                continue  # the title itself, subsections, and interview tips
            reference = _opening(paragraphs)
            if len(reference.split()) < 12:
                continue
            out.append(
                CardSpec(
                    key=f"concept:{source}#{heading}",
                    origin="concept",
                    question=f"{title}: {heading[0].lower()}{heading[1:]}? "
                    "Explain it in two or three sentences.",
                    reference=reference,
                    source=source,
                    section=heading_path,
                    stages=[str(s) for s in meta.get("stages") or []],
                )
            )
    return out


def criterion_card(criterion: Any, stage_id: str, ref: dict, corpus_dir: Path) -> CardSpec:
    """The rubric's follow-up question for a criterion the learner keeps missing."""
    opening = section_opening(corpus_dir, ref.get("source", ""), ref.get("section", ""))
    return CardSpec(
        key=f"criterion:{criterion.id}",
        origin="criterion",
        question=criterion.follow_up,
        reference=f"{criterion.description} {opening}".strip(),
        source=ref.get("source", ""),
        section=ref.get("section", ""),
        stages=[stage_id],
    )


def pool(golden_path: Path, corpus_dir: Path, weak_stages: list[str]) -> list[CardSpec]:
    """Golden and concept cards, interleaved; cards about the weak stages first."""
    golden, concepts = golden_cards(golden_path), concept_cards(corpus_dir)
    mixed: list[CardSpec] = []
    for i in range(max(len(golden), len(concepts))):
        mixed.extend(group[i] for group in (golden, concepts) if i < len(group))
    rank = {stage: i for i, stage in enumerate(weak_stages)}
    return sorted(mixed, key=lambda c: min((rank.get(s, 99) for s in c.stages), default=99))
