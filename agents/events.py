"""The one interface every agent speaks: a stream of typed events for one turn.

`respond(messages) -> Iterator[Event]` yields, in order: zero or more `ToolCall`/`ToolResult`
pairs and `TextDelta`s, then `Citation`s, then exactly one `Final`. `collect(events)` folds a
stream into its `Final` (for the CLI's `--json` and for tests).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, Field


class Message(BaseModel):
    role: Literal["user", "assistant", "system"]
    content: str


class TextDelta(BaseModel):
    kind: Literal["text"] = "text"
    text: str


class ToolCall(BaseModel):
    kind: Literal["tool_call"] = "tool_call"
    name: str
    args: dict = Field(default_factory=dict)


class ToolResult(BaseModel):
    kind: Literal["tool_result"] = "tool_result"
    name: str
    summary: str  # one line for the UI; the full result stays with the agent
    ok: bool = True


class Citation(BaseModel):
    kind: Literal["citation"] = "citation"
    n: int
    source: str
    section: str
    chunk_id: str
    text: str = ""  # the passage, for source cards


class Final(BaseModel):
    kind: Literal["final"] = "final"
    answer: str
    citations: list[Citation] = Field(default_factory=list)
    mode: Literal["offline", "llm"] = "offline"
    model: str | None = None  # the LLM model name in llm mode
    fallback_reason: str | None = None
    seconds: float = 0.0
    route: str = "question"  # question | critique | solution | interview | out_of_scope
    data: dict | None = None  # structured payload (e.g. a critique report) for rich UIs


Event = TextDelta | ToolCall | ToolResult | Citation | Final


def collect(events: Iterable[Event]) -> Final:
    """Consume a stream and return its Final event."""
    final = None
    for event in events:
        if isinstance(event, Final):
            final = event
    if final is None:
        raise RuntimeError("agent stream ended without a Final event")
    return final
