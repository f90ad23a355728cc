"""The LLM agent: a langchain tool-calling agent over any OpenAI-compatible endpoint.

Tools are the typed functions of `tools/` (see `agents.llm_tools`); the system prompt lives
in `agents/prompts/system.yaml`. Steps are bounded by `Settings.agent_max_steps` (model
calls per turn), tokens by `llm_max_tokens` per call, time by `llm_timeout_s` x
`llm_max_retries`. Any fault falls back to the offline agent for that turn; the reply says
so in its first line and the Final carries `fallback_reason`. Critique scores always come
from the grader: the model only adds notes beneath the report.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence

from agents.base import Answered, as_messages, finish, replay, split_turn
from agents.critique import run_critique, scores_line
from agents.events import Citation, Event, Final, Message, TextDelta, ToolCall, ToolResult
from agents.factory import (
    clear_unreachable,
    fault_of,
    infer_model,
    mark_unreachable,
    redact,
    unreachable_reason,
)
from agents.llm_tools import TurnLog, as_data, build_tools
from agents.offline import OfflineAgent
from agents.prompting import load_prompt
from agents.router import Route, route
from core.errors import InputError, MlsdError
from tools.deps import Deps

log = logging.getLogger(__name__)

HISTORY_MESSAGES = 12  # earlier messages sent with a turn (bounds prompt tokens)
HISTORY_CHARS = 4000  # per earlier message
CITE = re.compile(r"\[(\d{1,3})\]")


class LLMFault(Exception):
    """Raised inside a turn to trigger the offline fallback with a given reason."""


def fallback_reason(exc: BaseException, settings) -> str:
    """A short, key-free reason for the fallback line."""
    import openai

    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    if isinstance(exc, LLMFault):
        return str(exc)
    found = fault_of(exc)
    if found is not None:
        return found.mlsd_reason
    if isinstance(exc, openai.APITimeoutError) or name.endswith("Timeout"):  # also mid-stream
        return f"timeout after {settings.llm_timeout_s:g} s"
    if isinstance(exc, openai.APIConnectionError):
        return "cannot connect to the LLM endpoint"
    if isinstance(exc, openai.AuthenticationError):
        return "authentication failed (401): check OPENAI_API_KEY"
    if isinstance(exc, openai.RateLimitError):
        return "rate limited (429)"
    if isinstance(exc, openai.APIStatusError):
        return f"endpoint error (HTTP {status})"
    if "CallLimit" in name or "Recursion" in name:
        return f"step limit reached ({settings.agent_max_steps} model calls)"
    if "Protocol" in name or "Incomplete" in name:
        return "the response stream was cut"
    if isinstance(exc, ValueError | KeyError | TypeError | openai.APIResponseValidationError):
        return "malformed response from the LLM endpoint"
    return f"unexpected LLM error ({name})"


class LLMAgent:
    """Tool-calling agent; one instance serves many turns (a graph is built per turn)."""

    mode = "llm"

    def __init__(self, deps: Deps, model=None) -> None:
        self.deps = deps
        self.settings = deps.settings
        self.offline = OfflineAgent(deps)
        self._model = model

    def model(self):
        if self._model is None:
            self._model = infer_model(self.settings)
        return self._model

    @property
    def model_name(self) -> str:
        return getattr(self._model, "model_name", None) or self.settings.llm_model

    # -- the interface -------------------------------------------------------------------
    def respond(self, messages: list[Message]) -> Iterator[Event]:
        start = time.perf_counter()
        for event in self._turn(messages, []):
            if isinstance(event, Final):
                event.seconds = round(time.perf_counter() - start, 3)
            yield event

    def answer(
        self,
        question: str,
        history: Sequence[Message | dict] | None = None,
        k: int | None = None,
        mode: str | None = None,
    ) -> Answered:
        start = time.perf_counter()
        hits: list = []
        msgs = [*as_messages(history), Message(role="user", content=question)]
        _, final = replay(self._turn(msgs, hits, k=k, mode=mode))
        final.seconds = round(time.perf_counter() - start, 3)
        return Answered(final=final, hits=hits)

    # -- one turn ------------------------------------------------------------------------
    def _turn(self, messages, hits_out: list, k=None, mode=None) -> Iterator[Event]:
        text, history = split_turn(messages, self.offline._max_chars())
        turn = route(text, history)
        limit = self.settings.max_question_chars
        if turn.kind == "question" and len(text) > limit:  # as offline: never sent to the LLM
            raise InputError(
                f"The question is {len(text)} characters long; the limit is {limit} "
                "(MLSD_MAX_QUESTION_CHARS)."
            )
        down = unreachable_reason(self.settings)
        if down is not None:  # a refusal moments ago: do not make the user wait on another
            yield from self._fallback(messages, down, hits_out, k, mode, turn)
            return
        try:
            if turn.kind == "critique":
                yield from self._critique(turn, text)
            elif turn.kind == "interview":
                yield from self._interview(turn, history)
            else:
                yield from self._agent_loop(text, history, hits_out)
            clear_unreachable(self.settings)
            return
        except MlsdError:
            raise  # the user's problem (empty store, input too long), not the endpoint's
        except Exception as exc:
            reason = fallback_reason(exc, self.settings)
            found = fault_of(exc)
            if found is not None and found.mlsd_kind == "connect":
                mark_unreachable(self.settings, reason)
            log.info("LLM turn fell back to offline: %s", redact(reason, self.settings))
            log.debug("LLM fault detail: %s", redact(repr(exc), self.settings))
        yield from self._fallback(messages, reason, hits_out, k, mode, turn)

    def _fallback(self, messages, reason, hits_out, k, mode, turn: Route) -> Iterator[Event]:
        """The offline agent's answer to the same turn, announced in one line."""
        line = f"mode: offline (fallback: {reason})"
        yield TextDelta(text=f"{line}\n\n")
        if turn.kind == "question":
            text, history = split_turn(messages, self.offline._max_chars())
            answered = self.offline.answer(text, history, k=k, mode=mode)
            hits_out.extend(answered.hits)
            events: Iterator[Event] = iter(
                [TextDelta(text=answered.final.answer), *answered.final.citations, answered.final]
            )
        else:
            events = self.offline.respond(messages)
        for event in events:
            if isinstance(event, Final):
                event = event.model_copy(
                    update={
                        "answer": f"{line}\n\n{event.answer}",
                        "fallback_reason": reason,
                        "mode": "offline",
                    }
                )
            yield event

    def _history(self, history: list[Message]) -> list[dict]:
        recent = history[-HISTORY_MESSAGES:]
        return [{"role": m.role, "content": m.content[:HISTORY_CHARS]} for m in recent]

    def _agent_loop(self, text: str, history: list[Message], hits_out: list) -> Iterator[Event]:
        from langchain.agents import create_agent
        from langchain.agents.middleware import ModelCallLimitMiddleware
        from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage

        log_ = TurnLog()
        steps = self.settings.agent_max_steps
        agent = create_agent(
            self.model(),
            build_tools(self.deps, log_),
            system_prompt=load_prompt("system")["system"],
            middleware=[ModelCallLimitMiddleware(run_limit=steps, exit_behavior="error")],
        )
        inputs = {"messages": [*self._history(history), {"role": "user", "content": text}]}
        config = {"recursion_limit": 4 * steps + 4}
        final_text = ""
        for mode_, chunk in agent.stream(inputs, config, stream_mode=["messages", "updates"]):
            if mode_ == "messages":
                message, meta = chunk
                if isinstance(message, AIMessageChunk) and meta.get("langgraph_node") == "model":
                    piece = message.content if isinstance(message.content, str) else ""
                    if piece:
                        yield TextDelta(text=piece)
                continue
            for node, update in (chunk or {}).items():
                for message in (
                    (update or {}).get("messages", []) if node in ("model", "tools") else []
                ):
                    if isinstance(message, AIMessage):
                        for call in message.tool_calls:
                            yield ToolCall(name=call["name"], args=call.get("args") or {})
                        if not message.tool_calls:
                            final_text = message.content if isinstance(message.content, str) else ""
                    elif isinstance(message, ToolMessage):
                        content = str(message.content)
                        ok = not content.startswith("ERROR")
                        yield ToolResult(name=message.name or "tool", summary=content[:120], ok=ok)
        if not final_text.strip():
            raise LLMFault("the model returned no answer")
        citations = []
        for n in dict.fromkeys(int(m) for m in CITE.findall(final_text)):
            if 1 <= n <= len(log_.hits):
                hit = log_.hits[n - 1]
                citations.append(
                    Citation(
                        n=n,
                        source=hit.source,
                        section=hit.section,
                        chunk_id=hit.chunk_id,
                        text=hit.text,
                    )
                )
        hits_out.extend(log_.hits)
        final = Final(
            answer=final_text.strip(),
            citations=citations,
            mode="llm",
            model=self.model_name,
            route="critique" if log_.report else "question",
            data=log_.report,
        )
        yield from finish(final)

    def _critique(self, turn: Route, text: str) -> Iterator[Event]:
        yield ToolCall(name="critique_design", args={"level": turn.level or "senior"})
        critique = run_critique(self.deps, turn.text, turn.level)
        ok = critique.report is not None
        yield ToolResult(name="critique_design", summary=critique.markdown[:120], ok=ok)
        yield TextDelta(text=critique.markdown)
        answer = critique.markdown
        reason = None
        if ok:
            prompt = load_prompt("system")["critique_notes"].format(
                scores=scores_line(critique.report),
                report=critique.markdown[:8000],
                design=as_data(turn.text[:12000]),
            )
            notes: list[str] = []
            try:
                yield TextDelta(text="\n\n### Coach's notes\n\n")
                system = load_prompt("system")["system"]
                for chunk in self.model().stream([("system", system), ("user", prompt)]):
                    piece = chunk.content if isinstance(chunk.content, str) else ""
                    if piece:
                        notes.append(piece)
                        yield TextDelta(text=piece)
                answer += "\n\n### Coach's notes\n\n" + "".join(notes).strip()
            except Exception as exc:  # the report stands; only the notes are lost
                reason = fallback_reason(exc, self.settings)
                log.info("critique notes fell back to offline: %s", reason)
                line = f"mode: offline (fallback: {reason})"
                yield TextDelta(text=f"\n{line}\n")
                answer = f"{line}\n\n{answer}"
        final = Final(
            answer=answer,
            citations=critique.citations,
            mode="offline" if reason or not ok else "llm",
            model=None if reason or not ok else self.model_name,
            fallback_reason=reason,
            route="critique",
            data=critique.report,
        )
        yield from finish(final)

    def _interview(self, turn: Route, history: list[Message]) -> Iterator[Event]:
        from agents.interview_chat import chat_turn

        def ask(system: str, prompt: str) -> str:
            reply = self.model().invoke([("system", system), ("user", prompt)])
            return reply.content if isinstance(reply.content, str) else ""

        answer, data = chat_turn(self.deps, turn.text, history, level=turn.level, llm=ask)
        yield TextDelta(text=answer)
        yield Final(answer=answer, mode="llm", model=self.model_name, route="interview", data=data)
