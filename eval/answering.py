"""The answer step of an evaluation: which agent answers, and what it used.

The offline agent answers by default; with `--llm` the agent `agents.factory.make_agent`
builds (the LLM agent, which falls back to offline per turn on any endpoint fault: the row
keeps the `fallback_reason`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from tools.deps import Deps
from tools.search import Hit

log = logging.getLogger(__name__)

OFFLINE = "offline-agent"
LLM = "llm-agent"


@dataclass
class AnswerResult:
    answer: str
    contexts: list[Hit] = field(default_factory=list)  # the passages the answer used
    citations: list[dict] = field(default_factory=list)  # [{n, source, section, chunk_id}]
    declined: bool = False
    route: str | None = None
    model: str | None = None
    fallback_reason: str | None = None
    seconds: float = 0.0
    error: str | None = None


class Answerer:
    """Answers one question at a time with the chosen agent; faults stay on the row."""

    def __init__(self, deps: Deps, llm: bool = False) -> None:
        self.deps = deps
        self.kind = LLM if llm else OFFLINE
        self._agent = None

    def agent(self):
        """The agent, built on first use (raises MlsdError on a bad configuration)."""
        if self._agent is None:
            if self.kind == LLM:
                from agents.factory import make_agent

                self._agent = make_agent(self.deps)
            else:
                from agents.offline import OfflineAgent

                self._agent = OfflineAgent(self.deps)
        return self._agent

    def answer(self, question: str, k: int, mode: str) -> AnswerResult:
        start = time.perf_counter()
        try:
            answered = self.agent().answer(question, k=k, mode=mode)
            final = answered.final
            result = AnswerResult(
                answer=final.answer,
                contexts=list(answered.hits),
                citations=[
                    {"n": c.n, "source": c.source, "section": c.section, "chunk_id": c.chunk_id}
                    for c in final.citations
                ],
                declined=final.route == "out_of_scope",
                route=final.route,
                model=final.model,
                fallback_reason=final.fallback_reason,
            )
        except Exception as exc:  # one bad answer must not end a long evaluation
            log.warning("answer failed for %r: %s", question[:60], exc)
            result = AnswerResult(answer="", error=f"{type(exc).__name__}: {exc}")
        result.seconds = round(time.perf_counter() - start, 3)
        return result
