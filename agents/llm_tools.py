"""The typed tools of `tools/`, bound to deps, as langchain tools for the LLM agent.

Each tool keeps its function's docstring and signature as its schema (minus the first
argument, the bound resource). Results are rendered as text between <data> markers (hidden
HTML and unsafe sentences removed, see `as_data`), and passages are numbered [n] for the
whole turn, so the model's citations map back to chunks.
A tool failure (an `MlsdError`, a `ToolError` value) reaches the model as readable text.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agents.injection import is_unsafe_sentence, strip_hidden
from agents.passages import split_sentences
from core.errors import MlsdError
from tools.search import Hit

log = logging.getLogger(__name__)


@dataclass
class TurnLog:
    """What the tools saw during one turn: numbered passages and the grader's report."""

    hits: list[Hit] = field(default_factory=list)
    numbers: dict[str, int] = field(default_factory=dict)  # chunk id -> [n]
    report: dict | None = None

    def number(self, hit: Hit) -> int:
        if hit.chunk_id not in self.numbers:
            self.hits.append(hit)
            self.numbers[hit.chunk_id] = len(self.hits)
        return self.numbers[hit.chunk_id]


REMOVED = "[unsafe text removed]"
# Chat-template tokens (<|im_start|>, <|system|>) would let data pose as a new message.
_SPECIAL_TOKEN = re.compile(r"<\|[^|>\n]{0,40}\|>")
# Any spelling of our fence inside the data ("< /DATA\n>") is removed: it cannot close it.
_FENCE_TAG = re.compile(r"<\s*/?\s*data\b[^>]{0,40}>", re.IGNORECASE)


def _safe_paragraph(paragraph: str) -> str:
    """The paragraph as written when every sentence is safe; else its safe sentences (lines
    joined, so that an instruction wrapped over two lines is still seen whole) and a marker."""
    sentences = split_sentences(" ".join(line.strip() for line in paragraph.splitlines()))
    if not any(is_unsafe_sentence(s) for s in sentences):
        return paragraph
    return " ".join([s for s in sentences if not is_unsafe_sentence(s)] + [REMOVED])


def as_data(text: str) -> str:
    """Untrusted text for the model, fenced between <data> markers: HTML comments, tags and
    invisible characters stripped, unsafe sentences (agents/injection.py) removed. The
    system prompt tells the model that fenced text is data, never instructions."""
    visible = _FENCE_TAG.sub(" ", _SPECIAL_TOKEN.sub(" ", strip_hidden(text)))
    paragraphs = re.split(r"(\n[ \t]*\n)", visible)  # separators kept at odd positions
    body = "".join(p if i % 2 else _safe_paragraph(p) for i, p in enumerate(paragraphs))
    return "<data>\n" + body.strip("\n") + "\n</data>"


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if hasattr(value, "model_dump"):
        return json.dumps(value.model_dump(), ensure_ascii=False)
    if isinstance(value, list):
        return json.dumps([_dump(v) for v in value], ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, default=str)


def _dump(value: Any) -> Any:
    return value.model_dump() if hasattr(value, "model_dump") else value


def bind_tool(fn: Callable, first: Any, render: Callable[[Any], str] = _render):
    """A langchain tool calling `fn(first, **args)`; its schema is fn's docstring + signature."""
    from langchain_core.tools import StructuredTool

    params = []
    for p in list(inspect.signature(fn).parameters.values())[1:]:
        annotation = p.annotation
        if isinstance(annotation, str):  # `from __future__ import annotations`
            try:
                annotation = eval(annotation, fn.__globals__)  # noqa: S307 - our own source
            except Exception:
                annotation = str
        params.append(p.replace(annotation=annotation))

    def call(**kwargs: Any) -> str:
        try:
            result = fn(first, **kwargs)
        except MlsdError as exc:  # a user-facing problem the model can react to
            return f"ERROR: {exc}"
        if getattr(result, "ok", True) is False:
            return f"ERROR: {_render(result)}"
        return render(result)

    call.__signature__ = inspect.Signature(params, return_annotation=str)  # type: ignore[attr-defined]
    call.__annotations__ = {p.name: p.annotation for p in params} | {"return": str}
    call.__doc__ = fn.__doc__
    call.__name__ = fn.__name__
    return StructuredTool.from_function(
        call, name=fn.__name__, parse_docstring=True, error_on_invalid_docstring=False
    )


def build_tools(deps, turn: TurnLog) -> list:
    """search, rubric_for_stage, list/get example solutions, critique_design, bound to deps."""
    from tools.search import search
    from tools.solutions import get_example_solution, list_example_solutions

    def render_hits(hits: list[Hit]) -> str:
        if not hits:
            return "No passages found."
        blocks = []
        for hit in hits:
            n = turn.number(hit)
            blocks.append(f"[{n}] {hit.source} — {hit.section}\n{as_data(hit.text)}")
        return "\n\n".join(blocks)

    def render_solution(sol: Any) -> str:
        return f"{sol.source}\n{as_data(sol.markdown())}"

    tools = [
        bind_tool(search, deps.retriever, render_hits),
        bind_tool(list_example_solutions, deps),
        bind_tool(get_example_solution, deps, render_solution),
    ]
    try:
        from tools.rubric import rubric_for_stage

        tools.append(bind_tool(rubric_for_stage, deps))
    except ImportError:
        log.info("rubric tool unavailable")
    try:
        from tools.grader import critique_design

        def render_report(report: Any) -> str:
            turn.report = report.model_dump()
            from agents.critique import scores_line

            # the report quotes the design (pasted text, maybe a planted note): data too
            report_json = json.dumps(turn.report, ensure_ascii=False)[:12000]
            return (
                f"Scores (final, do not change): {scores_line(turn.report)}\n{as_data(report_json)}"
            )

        tools.append(bind_tool(critique_design, deps, render_report))
    except ImportError:
        log.info("critique tool unavailable: the grader has not landed")
    return tools
