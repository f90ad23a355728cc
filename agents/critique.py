"""The critique route, shared by both agents: the grader scores, the agent only presents.

Scores always come from `tools.grader.critique_design`; in LLM mode the model may add
narrative feedback below the report but never sees a way to change a number. The grader is
imported when first needed, so a build without it still answers questions and says clearly
that critiques are unavailable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from agents.events import Citation
from agents.router import LEVELS

log = logging.getLogger(__name__)

GRADER_MISSING = (
    "The design grader is not available in this build (tools/grader.py could not be "
    "imported), so designs cannot be critiqued yet. Questions about the material still work."
)


@dataclass
class Critique:
    markdown: str
    report: dict | None = None  # CritiqueReport.model_dump(); None when the grader is missing
    citations: list[Citation] = field(default_factory=list)
    ok: bool = True


def grader_functions():
    """(critique_design, render_markdown), or None when the grader has not landed."""
    try:
        from tools.grader import critique_design
    except ImportError as exc:
        log.warning("design grader unavailable: %s", exc)
        return None
    try:
        from tools.grader import render_markdown
    except ImportError:
        render_markdown = None
    return critique_design, render_markdown


def _fallback_markdown(report: dict) -> str:
    lines = [f"**Overall: {report.get('overall', 0)}/100** ({report.get('level', '')})", ""]
    for stage in report.get("stages", []):
        lines.append(f"- {stage['name']}: {stage['score']}/100")
    lines += ["", report.get("summary", "")]
    return "\n".join(lines)


def run_critique(deps, design: str, level: str | None, save: bool = True) -> Critique:
    """Grade a design; InputError (empty design) propagates to the caller.

    `save`: keep it in the learner's history as a chat critique (the interviewer passes
    False and saves the finished interview itself); a database error never stops grading."""
    functions = grader_functions()
    if functions is None:
        return Critique(GRADER_MISSING, ok=False)
    critique_design, render_markdown = functions
    level = level if level in LEVELS else "senior"
    report = critique_design(deps, design, level=level)
    data = report.model_dump()
    if save:
        from progress.history import save_attempt_safely

        save_attempt_safely(deps.settings, data, kind="critique", mode="chat")
    markdown = render_markdown(report) if render_markdown else _fallback_markdown(data)
    citations: list[Citation] = []
    seen: set[tuple[str, str]] = set()
    for stage in data.get("stages", []):
        for ref in stage.get("references", []):
            key = (ref.get("source", ""), ref.get("section", ""))
            if key in seen or not key[0]:
                continue
            seen.add(key)
            citations.append(
                Citation(n=len(citations) + 1, source=key[0], section=key[1], chunk_id="")
            )
    return Critique(markdown, data, citations)


def scores_line(report: dict) -> str:
    """The grader's numbers in one line (what the LLM is told it must not change)."""
    stages = ", ".join(f"{s['name']} {s['score']}" for s in report.get("stages", []))
    return f"Overall {report.get('overall', 0)}/100 at {report.get('level', '')} level; {stages}."
