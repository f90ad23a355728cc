"""A mock interview inside a plain chat (`respond(messages)` is stateless).

The state is rebuilt from the conversation each turn: the interviewer's opening message
names the problem and level in its tag, and the offline interviewer is deterministic, so
replaying the candidate's messages since then reproduces the interview. (The CLI's
`mlsd interview` and the app keep a live `Interview` object instead, with real timers.)
"""

from __future__ import annotations

import re

from agents.events import Message
from agents.interviewer import Interview
from agents.router import INTERVIEW_TAG

_TAG = re.compile(re.escape(INTERVIEW_TAG) + r"(?P<id>[\w-]+) · (?P<level>\w+) · stage 1/")
_TRIGGER = re.compile(
    r"/interview|\b(?:let'?s|start|begin|do|run|give me|a|an)\b|\b(?:mock|practice)\s+interview"
    r"|\binterview\s+me\b|\b(?:on|about|for|with)\b|\b(?:mid|senior|staff)(?:[- ]level)?\b",
    re.IGNORECASE,
)


def _opening(history: list[Message]) -> tuple[int, str, str] | None:
    """(index, solution id, level) of the current interview's opening message."""
    for i in range(len(history) - 1, -1, -1):
        message = history[i]
        if message.role == "assistant":
            match = _TAG.match(message.content)
            if match:
                return i, match.group("id"), match.group("level")
    return None


def chat_turn(
    deps, text: str, history: list[Message], level: str | None = None, llm=None
) -> tuple[str, dict]:
    """(what the interviewer says, structured data) for one chat message."""
    from agents.router import in_interview

    opening = _opening(history) if in_interview(history) else None
    if opening is None:
        from core.errors import InputError

        topic = " ".join(_TRIGGER.sub(" ", text).split())
        try:
            interview = Interview.create(deps, topic or None, level=level or "senior", llm=llm)
        except InputError:  # "mock interview please": no problem named, pick one
            interview = Interview.create(deps, None, level=level or "senior", llm=llm)
        turn = interview.start()
        return turn.text, {"interview": interview.model_dump(), "turn": turn.model_dump()}

    index, question_id, interview_level = opening
    interview = Interview.create(deps, question_id, level=interview_level)  # replay offline
    interview.start()
    for message in history[index + 1 :]:
        if message.role == "user":
            interview.reply(message.content)
    interview.bind(deps, llm)
    turn = interview.reply(text)
    data: dict = {"interview": interview.model_dump(), "turn": turn.model_dump()}
    if not turn.done:
        return turn.text, data
    result = interview.finish()
    data["result"] = result.model_dump()
    return f"{turn.text}\n\n{result.markdown()}", data
