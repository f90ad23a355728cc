"""The mock interviewer: a problem from the worked solutions, the rubric's stages in order.

`Interview` is a serializable state object (pydantic): the app keeps it in session_state,
the CLI in a loop. Per stage the interviewer asks a probing question, grades the answer
against that stage's criteria with the grader, follows up on a missed criterion (at most
`max_follow_ups` per stage, never past the stage's time budget), then moves on. `finish()`
grades the whole transcript and returns the report next to the reference solution.
Offline the questions are the rubric's; with an LLM (`llm(system, prompt) -> str`) the
follow-ups are phrased around the candidate's answer, and any LLM fault falls back to the
rubric's wording.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr

from agents.prompting import load_prompt
from agents.router import INTERVIEW_TAG
from core.errors import InputError

log = logging.getLogger(__name__)

Llm = Callable[[str, str], str]  # (system, prompt) -> text
TurnKind = Literal["intro", "follow_up", "next_stage", "finished"]
NEXT = re.compile(r"^\s*(?:/next|/skip|next stage|skip|move on)\b", re.IGNORECASE)
FINISH = re.compile(r"^\s*(?:/finish|/end|/done|end (?:the )?interview|stop)\b", re.IGNORECASE)


class InterviewTurn(BaseModel):
    kind: TurnKind
    text: str  # what the interviewer says (starts with the interview tag)
    stage_id: str | None = None
    stage_name: str | None = None
    stage_number: int = 0  # 1-based; 0 once finished
    n_stages: int = 0
    time_budget_min: float = 0.0
    stage_elapsed_s: float = 0.0
    total_elapsed_s: float = 0.0
    missed: list[str] = Field(default_factory=list)  # criterion ids the last answer missed
    done: bool = False


class StageRecord(BaseModel):
    stage_id: str
    answers: list[str] = Field(default_factory=list)
    asked: list[str] = Field(default_factory=list)  # criterion ids already followed up
    started_at: float | None = None
    ended_at: float | None = None


class TranscriptEntry(BaseModel):
    role: Literal["interviewer", "candidate"]
    stage_id: str | None
    text: str
    at: float


class InterviewResult(BaseModel):
    report: dict | None  # the grader's CritiqueReport.model_dump()
    report_markdown: str
    reference_id: str
    reference_markdown: str
    design: str  # the candidate's answers, as a design with one heading per stage

    def markdown(self) -> str:
        return (
            f"{self.report_markdown}\n\n---\n\n## Reference solution (`{self.reference_id}`)\n\n"
            f"{self.reference_markdown}"
        )


INTRO_OVERLAP = 0.5  # an opening question this close to a met criterion's is not asked
QUOTE_WORDS = 12  # words of the candidate's answer a follow-up quotes


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]{3,}", text.lower()))


def _overlap(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(len(a | b), 1)


def _rubric_stages(deps) -> list:
    return list(deps.rubric.stages)


class Interview(BaseModel):
    question_id: str
    question: str
    title: str
    level: str = "senior"
    stages: list[StageRecord]
    stage_index: int = 0
    max_follow_ups: int = 2
    started_at: float | None = None
    finished: bool = False
    transcript: list[TranscriptEntry] = Field(default_factory=list)
    _deps: Any = PrivateAttr(default=None)
    _llm: Llm | None = PrivateAttr(default=None)
    _clock: Callable[[], float] = PrivateAttr(default=time.time)
    _graded: dict | None = PrivateAttr(default=None)  # the transcript's grade, per answer

    # -- construction --------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        deps,
        question: str | None = None,
        level: str = "senior",
        seed: int | None = None,
        llm: Llm | None = None,
    ) -> Interview:
        """A new interview on a solution id (or loose name); random when omitted."""
        from tools.solutions import load_solutions, match_solution

        solutions = load_solutions(deps.settings.corpus_dir)
        if not solutions:
            raise InputError("No worked solutions found under corpus/solutions.")
        if question:
            sol = match_solution(solutions, question)
            if sol is None:
                ids = ", ".join(s.id for s in solutions)
                raise InputError(f"No worked solution matches {question!r}: choose one of {ids}.")
        else:
            sol = random.Random(seed).choice(solutions)
        if level not in ("mid", "senior", "staff"):
            raise InputError(f"Unknown level {level!r}: choose mid, senior or staff.")
        records = [StageRecord(stage_id=s.id) for s in _rubric_stages(deps)]
        interview = cls(
            question_id=sol.id, question=sol.question, title=sol.title, level=level, stages=records
        )
        return interview.bind(deps, llm)

    def bind(self, deps, llm: Llm | None = None, clock: Callable[[], float] | None = None):
        """Attach the resources a deserialized interview needs (they are not serialized)."""
        self._deps, self._llm = deps, llm
        if clock is not None:
            self._clock = clock
        return self

    # -- state helpers -------------------------------------------------------------------
    def _stage(self, index: int | None = None):
        return _rubric_stages(self._deps)[self.stage_index if index is None else index]

    def _say(self, kind: TurnKind, text: str, missed: list[str] | None = None) -> InterviewTurn:
        now = self._clock()
        if self.finished:
            head = f"{INTERVIEW_TAG}{self.question_id} · {self.level} · interview finished]"
            turn = InterviewTurn(kind=kind, text=f"{head} {text}", done=True)
        else:
            stage, record = self._stage(), self.stages[self.stage_index]
            n, number = len(self.stages), self.stage_index + 1
            head = f"{INTERVIEW_TAG}{self.question_id} · {self.level} · stage {number}/{n}]"
            turn = InterviewTurn(
                kind=kind,
                text=f"{head} {text}",
                stage_id=stage.id,
                stage_name=stage.name,
                stage_number=self.stage_index + 1,
                n_stages=n,
                time_budget_min=stage.time_budget_min,
                stage_elapsed_s=round(now - (record.started_at or now), 1),
                missed=missed or [],
            )
        turn.total_elapsed_s = round(now - (self.started_at or now), 1)
        self.transcript.append(
            TranscriptEntry(role="interviewer", stage_id=turn.stage_id, text=turn.text, at=now)
        )
        return turn

    def elapsed(self) -> tuple[float, float]:
        """(seconds in the current stage, seconds since the start), for timers."""
        now = self._clock()
        record = self.stages[min(self.stage_index, len(self.stages) - 1)]
        return now - (record.started_at or now), now - (self.started_at or now)

    def _stage_intro(self) -> str:
        """The stage's opening question: the first probing question that is not about a
        criterion the candidate has already met in an earlier answer."""
        stage = self._stage()
        question = stage.probing_questions[0]
        try:
            graded = self._graded_so_far()
        except ImportError:  # no grader in this build: the first question
            graded = {}
        met = [stage.criterion(c) for c, (ok, _) in graded.items() if ok]
        met = [c for c in met if c is not None]
        for candidate in stage.probing_questions:
            asked = _words(candidate)
            about = [_words(c.follow_up) for c in met]
            # the share of the question's words that the met criterion's own question uses
            if all(len(asked & words) / max(len(asked), 1) < INTRO_OVERLAP for words in about):
                question = candidate
                break
        return f"**{stage.name}** (about {stage.time_budget_min:g} min). {question}"

    # -- the interview -------------------------------------------------------------------
    def start(self) -> InterviewTurn:
        now = self._clock()
        self.started_at = now
        self.stages[0].started_at = now
        text = (
            f"Mock ML system design interview ({self.level} level, "
            f"{self._deps.rubric.interview_minutes:g} minutes). The problem: {self.question} "
            f"We go through {len(self.stages)} stages. First, {self._stage_intro()} "
            "(Type /next to move on, /finish to end and get your report.)"
        )
        return self._say("intro", text)

    def reply(self, text: str) -> InterviewTurn:
        """The candidate's answer; returns what the interviewer says next."""
        if self.finished:
            return self._say("finished", "The interview is over; here is your report.")
        if self.started_at is None:
            self.start()
        now = self._clock()
        stage, record = self._stage(), self.stages[self.stage_index]
        if FINISH.match(text):
            return self._end()
        if NEXT.match(text):
            return self._advance("Moving on.")
        text = text.strip()
        if not text:
            return self._say("follow_up", "Take your time; what is your answer?")
        record.answers.append(text)
        self.transcript.append(
            TranscriptEntry(role="candidate", stage_id=stage.id, text=text, at=now)
        )
        self._graded = None  # a new answer: grade the transcript again
        missed = self._missed_criteria("\n".join(record.answers))
        # a follow-up that repeats the stage's opening question would ask the same thing twice
        opening = _words(stage.probing_questions[0])
        fresh = [
            m
            for m in missed
            if m not in record.asked
            and _overlap(_words(stage.criterion(m).follow_up), opening) < 0.5
        ]
        over_budget = now - (record.started_at or now) > stage.time_budget_min * 60
        if fresh and len(record.asked) < self.max_follow_ups and not over_budget:
            criterion = stage.criterion(fresh[0])
            record.asked.append(criterion.id)
            missed = [criterion.id, *(m for m in missed if m != criterion.id)]  # asked one first
            return self._say("follow_up", self._follow_up(criterion, text), missed)
        lead = (
            "We are past this stage's time budget, so let's move on." if over_budget else "Thanks."
        )
        return self._advance(lead, missed)

    def _advance(self, lead: str, missed: list[str] | None = None) -> InterviewTurn:
        now = self._clock()
        self.stages[self.stage_index].ended_at = now
        if self.stage_index + 1 >= len(self.stages):
            return self._end(lead)
        self.stage_index += 1
        self.stages[self.stage_index].started_at = now
        return self._say("next_stage", f"{lead} Next, {self._stage_intro()}", missed)

    def _end(self, lead: str = "") -> InterviewTurn:
        self.stages[self.stage_index].ended_at = (
            self.stages[self.stage_index].ended_at or self._clock()
        )
        self.finished = True
        return self._say(
            "finished",
            f"{lead} That is the end of the interview. Grading the transcript now.".strip(),
        )

    def _graded_so_far(self) -> dict[str, tuple[bool, str]]:
        """criterion id -> (met anywhere in the answers so far, the candidate's closest words),
        from one grade of the whole transcript (cached until the next answer)."""
        if self._graded is not None:
            return self._graded
        design = self.design_text()
        self._graded = {}
        if not design:
            return self._graded
        from tools.grader import grade_design

        report = grade_design(
            design, self.level, rubric=self._deps.rubric, embedder=self._deps.embedder
        )
        for s in report.stages:
            for c in s.criteria:
                self._graded[c.id] = (c.status in ("met", "n/a"), c.evidence)
        return self._graded

    def _missed_criteria(self, answer: str) -> list[str]:
        """Expected criteria of the current stage not yet met anywhere in the transcript (an
        earlier stage's answer counts too), by the grader's verdict."""
        stage = self._stage()
        try:
            from tools.rubric import level_applies

            graded = self._graded_so_far()
        except ImportError:  # no grader in this build: the rubric's concept phrases decide
            low = answer.lower()
            return [c.id for c in stage.criteria if not any(p in low for p in c.phrases)]
        expected = [c.id for c in stage.criteria if level_applies(c, self.level)]
        return [c for c in expected if not graded.get(c, (False, ""))[0]]

    def _scripted_follow_up(self, criterion) -> str:
        """The rubric's follow-up, anchored on the candidate's own words when the grader found
        a partial answer to it ('You mentioned "..." -- ...')."""
        _, said = (self._graded or {}).get(criterion.id, (False, ""))
        words = said.split()
        if not words:
            return criterion.follow_up
        quote = " ".join(words[:QUOTE_WORDS]).rstrip(".,;:")
        quote += " ..." if len(words) > QUOTE_WORDS else ""
        return f'You mentioned "{quote}". {criterion.follow_up}'

    def _follow_up(self, criterion, answer: str) -> str:
        if self._llm is None:
            return self._scripted_follow_up(criterion)
        prompt = load_prompt("interviewer")
        try:
            text = self._llm(
                prompt["system"],
                prompt["follow_up"].format(
                    question=self.question,
                    stage=self._stage().name,
                    criterion=criterion.description,
                    scripted=criterion.follow_up,
                    answer=answer[:3000],
                ),
            ).strip()
        except Exception as exc:  # any LLM fault: the rubric's own question
            log.info("interviewer LLM fallback: %s", type(exc).__name__)
            return criterion.follow_up
        return text[:600] if text else criterion.follow_up

    def design_text(self) -> str:
        parts = []
        for record, stage in zip(self.stages, _rubric_stages(self._deps)):
            if record.answers:
                parts.append(f"## {stage.name}\n\n" + "\n\n".join(record.answers))
        return "\n\n".join(parts)

    def finish(self) -> InterviewResult:
        """Grade the whole transcript; the report sits next to the reference solution."""
        from agents.critique import run_critique
        from tools.solutions import get_example_solution

        if not self.finished:
            self._end()
        design = self.design_text()
        reference = get_example_solution(self._deps, self.question_id)
        ref_md = reference.markdown() if hasattr(reference, "markdown") else ""
        if not design:
            note = "No answers were given, so there is nothing to grade."
            return InterviewResult(
                report=None,
                report_markdown=note,
                reference_id=self.question_id,
                reference_markdown=ref_md,
                design="",
            )
        critique = run_critique(self._deps, design, self.level, save=False)
        from progress.history import save_attempt_safely  # one line on a database error

        save_attempt_safely(
            self._deps.settings, critique.report, kind="interview", problem=self.question_id
        )
        return InterviewResult(
            report=critique.report,
            report_markdown=critique.markdown,
            reference_id=self.question_id,
            reference_markdown=ref_md,
            design=design,
        )
