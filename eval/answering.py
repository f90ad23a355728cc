"""The answer step of an evaluation: which agent answers, and what it used.

The offline agent answers by default, the LLM agent with `--llm`. When `agents.offline` is not
available the answer is the top retrieved passage, labelled `extractive-fallback` in the report
so such numbers are never mistaken for the agent's.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from dataclasses import dataclass, field

from tools.deps import Deps
from tools.search import Hit

log = logging.getLogger(__name__)

EXTRACTIVE = "extractive-fallback"
OFFLINE = "offline-agent"
LLM = "llm-agent"


@dataclass
class AnswerResult:
    answer: str
    contexts: list[Hit] = field(default_factory=list)  # the passages the answer used
    declined: bool = False
    route: str | None = None
    model: str | None = None
    fallback_reason: str | None = None
    seconds: float = 0.0
    error: str | None = None


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


class Answerer:
    """Answers one question at a time with the chosen agent; faults stay on the row."""

    def __init__(self, deps: Deps, llm: bool = False) -> None:
        self.deps = deps
        self.llm = llm
        self._agent = None
        if llm and _has_module("agents.factory"):
            self.kind = LLM
        elif _has_module("agents.offline"):
            self.kind = OFFLINE
        else:
            self.kind = EXTRACTIVE
            log.warning("agents.offline is not available: answers are the top passage")

    def _offline_agent(self):
        if self._agent is None:
            from agents.offline import OfflineAgent

            self._agent = OfflineAgent(self.deps)
        return self._agent

    def answer(self, question: str, k: int, mode: str, retrieved: list[Hit]) -> AnswerResult:
        start = time.perf_counter()
        try:
            result = self._answer(question, k, mode, retrieved)
        except Exception as exc:  # one bad answer must not end a long evaluation
            log.warning("answer failed for %r: %s", question[:60], exc)
            result = AnswerResult(answer="", error=f"{type(exc).__name__}: {exc}")
        result.seconds = round(time.perf_counter() - start, 3)
        return result

    def _answer(self, question: str, k: int, mode: str, retrieved: list[Hit]) -> AnswerResult:
        if self.kind == EXTRACTIVE:
            top = retrieved[:1]
            return AnswerResult(answer=top[0].text if top else "", contexts=top)
        if self.kind == OFFLINE:
            answered = self._offline_agent().answer(question, k=k, mode=mode)
            return _from_final(answered.final, list(answered.hits))
        raise NotImplementedError("the LLM answer step needs agents.factory")


def _from_final(final, hits: list[Hit]) -> AnswerResult:
    return AnswerResult(
        answer=final.answer,
        contexts=hits,
        declined=final.route == "out_of_scope",
        route=final.route,
        model=final.model,
        fallback_reason=final.fallback_reason,
    )
