"""What both agents share: the `Answered` result, the `Agent` protocol, message helpers.

`respond(messages)` streams one turn (see `agents.events`); `answer(question, history, k,
mode)` runs one question and returns its `Final` plus the passages it was built from, for
evaluation. Both raise `MlsdError` subclasses for user errors (empty store, input too long);
everything else is handled inside the turn.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from pydantic import BaseModel, Field

from agents.events import Citation, Event, Final, Message, TextDelta, ToolCall, ToolResult
from core.errors import InputError
from tools.search import Hit


class Answered(BaseModel):
    final: Final
    hits: list[Hit] = Field(default_factory=list)  # the passages the answer was built from


class Agent(Protocol):
    mode: str

    def respond(self, messages: list[Message]) -> Iterator[Event]: ...

    def answer(
        self,
        question: str,
        history: Sequence[Message | dict] | None = None,
        k: int | None = None,
        mode: str | None = None,
    ) -> Answered: ...


def as_messages(items: Sequence[Message | dict] | None) -> list[Message]:
    return [m if isinstance(m, Message) else Message.model_validate(m) for m in items or []]


def split_turn(messages: Sequence[Message | dict], max_chars: int) -> tuple[str, list[Message]]:
    """(the last user message, the history before it). InputError when there is none."""
    msgs = as_messages(messages)
    if not msgs or msgs[-1].role != "user" or not msgs[-1].content.strip():
        raise InputError("The last message must be a non-empty user message.")
    text = msgs[-1].content.strip()
    if len(text) > max_chars:  # a pasted design may be long; questions are bounded by search
        raise InputError(f"The message is {len(text)} characters long; the limit is {max_chars}.")
    return text, msgs[:-1]


def finish(final: Final) -> Iterator[Event]:
    """The tail of a stream: citations, then the Final."""
    yield from final.citations
    yield final


def replay(events: Iterator[Event]) -> tuple[list[Event], Final]:
    """Materialize a stream (for `answer`)."""
    out = list(events)
    finals = [e for e in out if isinstance(e, Final)]
    if not finals:
        raise RuntimeError("agent stream ended without a Final event")
    return out, finals[-1]


__all__ = [
    "Agent",
    "Answered",
    "Citation",
    "Final",
    "Message",
    "TextDelta",
    "ToolCall",
    "ToolResult",
    "as_messages",
    "finish",
    "replay",
    "split_turn",
]
