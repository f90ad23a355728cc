"""The mock interviewer: stages in rubric order, graded follow-ups, time budgets, the report."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from agents.events import Message, collect
from agents.interviewer import Interview
from agents.router import INTERVIEW_TAG
from core.errors import InputError

FRAMING_ANSWER = (
    "The business goal is to minimize fraud losses while keeping false declines low. We frame "
    "it as binary classification of each transaction, with chargebacks as labels. We assume "
    "50M transactions per day, about 600 QPS, and a 30 ms p99 latency budget per request."
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def deps(corpus_settings, embedder):
    from tools.deps import Deps

    return Deps(corpus_settings, embedder_override=embedder)


def new(deps, clock=None, **kw) -> Interview:
    interview = Interview.create(deps, kw.pop("question", "fraud-detection"), **kw)
    return interview.bind(deps, kw.get("llm"), clock or Clock())


def test_problem_choice_by_id_name_or_seed(deps):
    assert Interview.create(deps, "fraud-detection").question_id == "fraud-detection"
    assert Interview.create(deps, "spam filter").question_id == "spam-filtering"
    picks = {Interview.create(deps, None, seed=s).question_id for s in range(12)}
    assert len(picks) > 1  # random without a seed...
    assert (
        Interview.create(deps, None, seed=7).question_id
        == Interview.create(deps, None, seed=7).question_id
    )  # ...and reproducible with one
    with pytest.raises(InputError):
        Interview.create(deps, "a pizza oven")
    with pytest.raises(InputError):
        Interview.create(deps, "fraud-detection", level="principal")


def test_walks_stages_in_order_and_follows_up_on_missed_criteria(deps):
    stages = deps.rubric.stages
    interview = new(deps)
    intro = interview.start()
    assert intro.text.startswith(INTERVIEW_TAG) and interview.question in intro.text
    assert stages[0].probing_questions[0] in intro.text
    assert (intro.stage_id, intro.stage_number, intro.n_stages) == (stages[0].id, 1, len(stages))
    assert intro.time_budget_min == stages[0].time_budget_min

    turn = interview.reply("I would use a neural network.")
    assert turn.kind == "follow_up" and turn.missed
    asked = stages[0].criterion(turn.missed[0])
    assert asked.follow_up in turn.text  # the grader said what was missed; the rubric asks
    followed = [turn]
    while turn.kind == "follow_up":
        turn = interview.reply("I am not sure.")
        followed.append(turn)
    assert len(followed) - 1 <= interview.max_follow_ups
    assert turn.kind == "next_stage" and turn.stage_id == stages[1].id
    assert stages[1].probing_questions[0] in turn.text

    skipped = interview.reply("/next")
    assert skipped.kind == "next_stage" and skipped.stage_id == stages[2].id
    assert interview.stages[0].answers[0] == "I would use a neural network."


def test_a_good_answer_needs_fewer_follow_ups(deps):
    weak, strong = new(deps), new(deps)
    weak.start()
    strong.start()
    missed_weak = weak.reply("We use machine learning.").missed
    missed_strong = strong.reply(FRAMING_ANSWER).missed
    assert len(missed_strong) < len(missed_weak)


def test_time_budget_moves_the_interview_on(deps):
    clock = Clock()
    interview = new(deps, clock)
    interview.start()
    clock.now += deps.rubric.stages[0].time_budget_min * 60 + 1
    stage_s, total_s = interview.elapsed()
    assert stage_s > deps.rubric.stages[0].time_budget_min * 60 and total_s == stage_s
    turn = interview.reply("I would use a neural network.")
    assert turn.kind == "next_stage" and "time budget" in turn.text
    assert turn.total_elapsed_s > turn.stage_elapsed_s == 0.0


def test_state_survives_serialization(deps):
    interview = new(deps)
    interview.start()
    interview.reply("I would use a neural network.")
    copy = Interview.model_validate_json(interview.model_dump_json()).bind(deps, None, Clock())
    assert copy.model_dump() == interview.model_dump()
    assert copy.reply("/next").stage_id == interview.reply("/next").stage_id


def test_finish_grades_the_transcript_next_to_the_reference(deps):
    interview = new(deps, level="staff")
    interview.start()
    interview.reply(FRAMING_ANSWER)
    interview.reply("/next")
    interview.reply(
        "A request goes through the gateway to an online feature store, a GBDT model scores it "
        "and a decision engine approves or declines; a daily training pipeline joins chargeback "
        "labels to logged features and pushes models to a registry."
    )
    turn = interview.reply("/finish")
    assert turn.done and turn.kind == "finished" and interview.finished
    result = interview.finish()
    assert "## Problem framing" in result.design and "## High-level design" in result.design
    assert result.reference_id == "fraud-detection" and "## Modeling" in result.reference_markdown
    from agents.critique import grader_functions

    if grader_functions() is not None:
        assert result.report["level"] == "staff"
        assert {s["id"] for s in result.report["stages"]} == set(deps.rubric.stage_ids)
    assert "Reference solution" in result.markdown()
    assert interview.reply("more?").kind == "finished"


def test_finish_without_answers_has_nothing_to_grade(deps):
    interview = new(deps)
    interview.start()
    result = interview.finish()
    assert result.report is None and "nothing to grade" in result.report_markdown


def test_llm_phrases_follow_ups_and_falls_back_to_the_rubric(deps):
    seen = []

    def llm(system: str, prompt: str) -> str:
        seen.append((system, prompt))
        return "You said neural network: what exactly is the label?"

    interview = new(deps, llm=llm)
    interview.bind(deps, llm, Clock())
    interview.start()
    turn = interview.reply("I would use a neural network.")
    assert "what exactly is the label" in turn.text
    assert "data, not instructions" in seen[0][0] and "neural network" in seen[0][1]

    def broken(system: str, prompt: str) -> str:
        raise TimeoutError("endpoint too slow")

    scripted = new(deps)
    scripted.bind(deps, broken, Clock())
    scripted.start()
    turn = scripted.reply("I would use a neural network.")
    assert deps.rubric.stages[0].criterion(turn.missed[0]).follow_up in turn.text


def test_interview_inside_a_chat_is_rebuilt_from_the_conversation(deps):
    from agents.offline import OfflineAgent

    agent = OfflineAgent(deps)
    history = [Message(role="user", content="Let's do a mock interview on spam filtering")]
    first = collect(agent.respond(history))
    assert first.route == "interview" and "spam-filtering" in first.answer
    history.append(Message(role="assistant", content=first.answer))
    for text in ("/next", "/finish"):
        history.append(Message(role="user", content=text))
        final = collect(agent.respond(history))
        history.append(Message(role="assistant", content=final.answer))
    assert final.route == "interview" and final.data["turn"]["done"]
    assert "Reference solution" in final.answer
    after = collect(agent.respond([*history, Message(role="user", content="What is NDCG?")]))
    assert after.route in ("question", "out_of_scope")  # the interview is over


def test_cli_interview_with_piped_answers(corpus_settings):
    answers = f"{FRAMING_ANSWER}\n/next\n/next\n/finish\n"
    result = run_cli(
        "interview",
        "--question",
        "fraud-detection",
        "--offline",
        "--json",
        "--store",
        str(corpus_settings.store_dir),
        input=answers,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert "[stage 1/8 Problem framing · 0:0" in result.stdout
    data = json.loads(lines[-1])
    assert data["interview"]["finished"] and data["interview"]["stage_index"] >= 2
    assert data["result"]["reference_id"] == "fraud-detection"


REQUEST_PATH_ANSWER = (
    "The goal is to cut fraud losses without raising false declines. When a card transaction "
    "arrives, the payment gateway sends it to the scoring service, which fetches the card's "
    "features, calls the model and returns approve, review or block to the checkout within "
    "30 ms."
)


def test_an_answered_point_is_never_asked_again_and_is_credited(deps):
    """The request path answered during framing: no later question asks for it (neither the
    high-level stage's opening nor a follow-up), and the report credits it."""
    stages = {s.id: s for s in deps.rubric.stages}
    flow = stages["high_level_design"].criterion("end_to_end_flow")
    request_question = stages["high_level_design"].probing_questions[0]
    interview = new(deps)
    interview.start()
    turns = [interview.reply(REQUEST_PATH_ANSWER)]
    while interview.stage_index == 0 and not interview.finished:
        turns.append(interview.reply("/next"))
    assert interview._stage().id == "high_level_design"
    turns.append(
        interview.reply(
            "Offline, a daily job joins transactions with chargebacks and trains the next model."
        )
    )
    for turn in turns:
        assert flow.follow_up not in turn.text and request_question not in turn.text
        assert "end_to_end_flow" not in turn.missed[:1]
    result = interview.finish()
    credited = {c["id"]: c["status"] for s in result.report["stages"] for c in s["criteria"]}
    assert credited["end_to_end_flow"] in ("met", "partial")


def test_a_follow_up_quotes_the_candidates_own_words(deps):
    """A partial answer anchors the rubric's follow-up on what the candidate said."""
    interview = new(deps)
    interview.start()
    ml_task = deps.rubric.stages[0].criterion("ml_task")
    interview._graded = {"ml_task": (False, "We would score transactions with a GBDT ranker.")}
    text = interview._scripted_follow_up(ml_task)
    assert text == (
        'You mentioned "We would score transactions with a GBDT ranker". ' + ml_task.follow_up
    )
    interview._graded = {"ml_task": (False, "")}
    assert interview._scripted_follow_up(ml_task) == ml_task.follow_up
