"""Worked example solutions: list them, fetch one by id or a loose name, or one stage of it.

Solutions are the markdown files in `corpus/solutions/` (front matter `question`, `family`,
`stages`, `tags`; `##` headings are the interview stages). They are read from disk, not from
the vector store, so a whole solution comes back in its original order.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from ingest.readers import split_front_matter

if TYPE_CHECKING:
    from tools.deps import Deps


class ToolError(BaseModel):
    """A tool's failure, as a value an agent can read and act on."""

    ok: Literal[False] = False
    error: str
    suggestions: list[str] = Field(default_factory=list)


class SolutionInfo(BaseModel):
    id: str  # the file stem, e.g. `fraud-detection`
    title: str
    question: str
    family: str = ""
    tags: list[str] = Field(default_factory=list)
    stages: list[str] = Field(default_factory=list)


class SolutionSection(BaseModel):
    heading: str
    stage: str | None  # the rubric stage id this `##` section covers, if any
    text: str


class ExampleSolution(SolutionInfo):
    source: str  # path relative to corpus/, as in search hits
    sections: list[SolutionSection]

    def markdown(self) -> str:
        body = "\n\n".join(f"## {s.heading}\n\n{s.text}" for s in self.sections)
        return f"# {self.title}\n\n**Question:** {self.question}\n\n{body}"


def _squash(text: str) -> str:
    """`Trade-offs and deep dives` and `tradeoffs_deep_dives` both become `tradeoffsdeepdives`."""
    words = re.findall(r"[a-z0-9]+", text.lower().replace("-", ""))
    return "".join(w for w in words if w != "and")


def stage_of_heading(heading: str, stage_ids: list[str]) -> str | None:
    key = _squash(heading)
    return next((sid for sid in stage_ids if _squash(sid) == key), None)


def _split_sections(body: str, stage_ids: list[str]) -> list[SolutionSection]:
    sections: list[SolutionSection] = []
    heading, lines = None, []
    for line in body.splitlines():
        if line.startswith("## "):
            if heading is not None:
                sections.append(_section(heading, lines, stage_ids))
            heading, lines = line[3:].strip(), []
        elif heading is not None:
            lines.append(line)
    if heading is not None:
        sections.append(_section(heading, lines, stage_ids))
    return sections


def _section(heading: str, lines: list[str], stage_ids: list[str]) -> SolutionSection:
    return SolutionSection(
        heading=heading, stage=stage_of_heading(heading, stage_ids), text="\n".join(lines).strip()
    )


@lru_cache(maxsize=64)
def _load(path: str, mtime_ns: int) -> ExampleSolution:
    file = Path(path)
    meta, body = split_front_matter(file.read_text(encoding="utf-8"))
    stages = [str(s) for s in meta.get("stages") or []]
    title_match = re.search(r"^# (.+)$", body, re.MULTILINE)
    return ExampleSolution(
        id=file.stem,
        title=str(meta.get("title") or (title_match.group(1) if title_match else file.stem)),
        question=str(meta.get("question") or ""),
        family=str(meta.get("family") or ""),
        tags=[str(t) for t in meta.get("tags") or []],
        stages=stages,
        source=f"solutions/{file.name}",
        sections=_split_sections(body, stages),
    )


def load_solutions(corpus_dir: Path) -> list[ExampleSolution]:
    """Every solution under `corpus_dir/solutions`, sorted by id."""
    folder = corpus_dir / "solutions"
    files = sorted(folder.glob("*.md")) if folder.is_dir() else []
    return [_load(str(f), f.stat().st_mtime_ns) for f in files]


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2} - {
        "design",
        "system",
        "the",
        "for",
        "and",
        "solution",
        "worked",
        "example",
    }


def match_solution(solutions: list[ExampleSolution], name: str) -> ExampleSolution | None:
    """The solution a loose name refers to: exact id, else the best word overlap."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    for sol in solutions:
        initials = "".join(word[0] for word in sol.id.split("-"))  # pymk, eta
        if slug in (sol.id, sol.id.removesuffix("-detection"), initials):
            return sol
    wanted = _words(name)
    if not wanted:
        return None

    def overlap(sol: ExampleSolution) -> float:
        id_words = _words(sol.id.replace("-", " "))
        other = _words(" ".join([sol.title, sol.question, *sol.tags]).replace("-", " "))
        return 2.0 * len(wanted & id_words) + len(wanted & other)

    best = max(solutions, key=overlap, default=None)
    return best if best is not None and overlap(best) >= 1.0 else None


def list_example_solutions(deps: Deps) -> list[SolutionInfo]:
    """List the worked example solutions: id, title, interview question, problem family, tags.

    Use an id from this list with `get_example_solution`.
    """
    return [
        SolutionInfo(**s.model_dump(include=set(SolutionInfo.model_fields)))
        for s in load_solutions(deps.settings.corpus_dir)
    ]


def get_example_solution(
    deps: Deps, name: str, stage: str | None = None
) -> ExampleSolution | ToolError:
    """Fetch a worked example solution, whole or one interview stage of it.

    Args:
        name: the solution id (e.g. `fraud-detection`) or a loose name ("fraud detection").
        stage: optional stage id (e.g. `modeling`, `data_features`) to return only that section.
    """
    solutions = load_solutions(deps.settings.corpus_dir)
    sol = match_solution(solutions, name or "")
    if sol is None:
        return ToolError(
            error=f"No worked solution matches {name!r}.", suggestions=[s.id for s in solutions]
        )
    if stage:
        key = _squash(stage)
        picked = [s for s in sol.sections if _squash(s.stage or s.heading) == key]
        if not picked:
            return ToolError(
                error=f"{sol.id} has no stage {stage!r}.",
                suggestions=[s.stage or s.heading for s in sol.sections],
            )
        return sol.model_copy(update={"sections": picked})
    return sol
