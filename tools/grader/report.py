"""A critique's result: the typed report (the `mlsd critique --json` contract), its
one-paragraph summary and the markdown report.

`render_markdown` is shared by the CLI, the app's download button and the agents, so a
critique reads the same everywhere.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tools.grader.refs import Reference

Status = Literal["met", "partial", "missing", "n/a"]  # n/a: cannot apply to this problem


class CriterionResult(BaseModel):
    id: str
    status: Status
    evidence: str = ""  # a verbatim quote from the design ("" when missing)
    description: str = ""
    expected: bool = True  # False: above the candidate's level, a bonus when present
    similarity: float = 0.0
    phrases: list[str] = Field(default_factory=list)  # concept phrases found in the evidence
    follow_up: str = ""  # the interviewer's question when the criterion is not met
    reference: Reference | None = None  # where the corpus teaches it (when missing)


class RedFlagResult(BaseModel):
    id: str
    description: str
    evidence: str = ""  # the sentence that triggered it ("" when it is an absence)
    penalty: int = 0
    teaches: str | None = None


class StageReport(BaseModel):
    id: str
    name: str
    score: int
    time_budget_min: float
    share_of_design: float  # fraction of the design's words attributed to this stage
    criteria: list[CriterionResult]
    missing: list[str]  # ids of missing criteria
    red_flags: list[str]  # ids of red flags that fired
    references: list[Reference]  # where to study each missing criterion
    budget_share: float = 0.0  # the stage's share of the interview time
    weight: float = 0.0
    words: int = 0
    expectation: str = ""
    red_flag_details: list[RedFlagResult] = Field(default_factory=list)


class CritiqueReport(BaseModel):
    overall: int
    is_design: bool
    level: str
    stages: list[StageReport]
    summary: str
    notices: list[str] = Field(default_factory=list)
    ignored_instructions: list[str] = Field(default_factory=list)  # quotes set aside as data
    words: int = 0
    graded_words: int = 0
    truncated: bool = False
    rubric_version: int = 1
    problem_type: str = ""  # ranking, classification, regression, generative ("" when unclear)


MARK = {"met": "✓ met", "partial": "◐ partial", "missing": "✗ missing", "n/a": "– n/a"}


def _names(stages: list[StageReport]) -> str:
    return ", ".join(f"{s.name} ({s.score})" for s in stages)


def summarize(report: CritiqueReport, why_not: str = "") -> str:
    """A few sentences: score, strongest and weakest stages, red flags, time plan, notices."""
    if not report.is_design:
        text = (
            f"This does not look like an ML system design ({why_not}), so the overall score is "
            "0/100. Paste a design that frames the problem and covers data, modeling, "
            "evaluation, serving and monitoring."
        )
        return " ".join([text, *report.notices])
    ranked = sorted(report.stages, key=lambda s: (-s.score, s.id))
    parts = [f"Overall {report.overall}/100 at {report.level} level."]
    strong = [s for s in ranked if s.score >= 70][:2]
    # weakest first by what they cost: weight times the points missing
    weak = sorted(
        (s for s in report.stages if s.score < 60),
        key=lambda s: (-s.weight * (100 - s.score), s.id),
    )[:3]
    if strong:
        parts.append(f"Strongest: {_names(strong)}.")
    if weak:
        parts.append(f"Weakest: {_names(weak)}.")
    flags = [f.description.rstrip(".") for s in report.stages for f in s.red_flag_details]
    if flags:
        parts.append(f"Red flags: {'; '.join(flags)}.")
    first = next(
        (c for s in weak for c in s.criteria if c.status == "missing" and c.expected), None
    )
    if first is not None:
        parts.append(f"Work on first: {first.description[0].lower()}{first.description[1:]}")
    # the stage whose share of the design falls furthest below its share of the time
    gaps = sorted(report.stages, key=lambda s: (s.share_of_design - s.budget_share, s.id))
    if gaps and gaps[0].budget_share - gaps[0].share_of_design >= 0.05:
        g = gaps[0]
        parts.append(
            f"Time plan: {g.name} got {g.share_of_design:.0%} of the design against "
            f"{g.budget_share:.0%} of the interview ({g.time_budget_min:g} min)."
        )
    parts.extend(report.notices)
    return " ".join(parts)


def _quote(text: str, limit: int = 220) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1].rstrip() + "…"


def render_markdown(report: CritiqueReport) -> str:
    """The full critique as markdown: scores, time plan, evidence, gaps, red flags, reading."""
    lines = [f"# Design critique: {report.overall}/100 ({report.level})", "", report.summary, ""]
    if not report.is_design:
        return "\n".join(lines).rstrip() + "\n"
    lines += [
        "| Stage | Score | Budget (min) | Share of time | Share of design | Red flags |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for s in report.stages:
        flags = ", ".join(s.red_flags) or "-"
        lines.append(
            f"| {s.name} | {s.score} | {s.time_budget_min:g} | {s.budget_share:.0%} | "
            f"{s.share_of_design:.0%} | {flags} |"
        )
    lines.append("")
    for s in report.stages:
        lines += [f"## {s.name}: {s.score}/100", ""]
        lines += [f"*Expected at {report.level} level:* {s.expectation}", ""]
        for c in s.criteria:
            if c.status == "n/a":
                lines.append(f"- **{MARK[c.status]}** *(does not apply here)*: {c.description}")
                continue
            bonus = "" if c.expected else " *(bonus at this level)*"
            lines.append(f"- **{MARK[c.status]}**{bonus}: {c.description}")
            if c.evidence:
                lines.append(f"  > {_quote(c.evidence)}")
            if c.status != "met" and c.follow_up:
                lines.append(f"  - Interviewer would ask: {c.follow_up}")
            if c.reference is not None:
                where = f"{c.reference.source}" + (
                    f" — {c.reference.section}" if c.reference.section else ""
                )
                lines.append(f"  - Study: `{where}`")
        for f in s.red_flag_details:
            lines.append(f"- **🚩 {f.id}**: {f.description}")
            if f.evidence:
                lines.append(f"  > {_quote(f.evidence)}")
        lines.append("")
    if report.ignored_instructions:
        lines += ["## Ignored text addressed to the grader", ""]
        lines += [f"- {_quote(q)}" for q in report.ignored_instructions]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
