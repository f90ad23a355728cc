"""Review page: the spaced review queue. Answer in your own words, see how close the answer
is in meaning to the reference (shown side by side), then rate it; FSRS schedules the card."""

from __future__ import annotations

import logging

import streamlit as st

from core.errors import MlsdError
from progress import history, review
from ui import render, resources, state
from ui.report_view import passage_link

log = logging.getLogger(__name__)

LABELS = {"again": "Again", "hard": "Hard", "good": "Good", "easy": "Easy"}


def _check(card_id: int, reference: str) -> None:
    answer = st.session_state.get("review_answer") or ""
    score = None
    if answer.strip():
        score = review.similarity(state.tab_deps().embedder, answer, reference)
    st.session_state.review_checked = {"card": card_id, "answer": answer, "score": score}


def _rate(card_id: int, rating: str) -> None:
    checked = st.session_state.get("review_checked") or {}
    try:
        card = review.record_review(
            resources.get_settings(), card_id, rating, checked.get("answer", ""),
            checked.get("score"),
        )  # fmt: skip
    except MlsdError as exc:
        st.session_state.review_error = str(exc)
        return
    st.session_state.review_checked = None
    st.session_state.review_answer = ""
    st.session_state.review_last = f"{LABELS[rating]}: next review {review.interval_text(card)}."


def _refresh(settings) -> None:
    from progress.overview import load_rubric

    attempts = history.load_attempts(settings, criteria_window=settings.history_window)
    review.refresh_queue(settings, attempts, load_rubric(settings))


def page() -> None:
    st.title("Review")
    st.caption(
        "Short questions from the material and from the criteria you keep missing, scheduled "
        "with spaced repetition (FSRS): answer, compare with the reference, rate yourself."
    )
    settings = resources.get_settings()
    try:
        _refresh(settings)
        status = review.queue_status(settings)
        due = review.due_cards(settings, limit=1)
    except MlsdError as exc:
        st.error(render.inline(str(exc), 300), icon=":material/database:")
        return
    if st.session_state.get("review_last"):
        st.success(render.inline(st.session_state.pop("review_last"), 200))
    if st.session_state.get("review_error"):
        st.error(render.inline(st.session_state.pop("review_error"), 300))
    st.caption(f"{status['due']} due now · {status['total']} cards in your queue")
    if not due:
        when = status["next_due"][:16].replace("T", " ") if status["next_due"] else "none"
        st.info(f"Nothing due. Next card: {when} (UTC).", icon=":material/task_alt:")
        return
    card = due[0]
    st.markdown(f"**{render.inline(card.question, 500)}**")
    st.caption(f"From {card.origin} · reviewed {card.reps} time{'s' if card.reps != 1 else ''}")
    st.text_area("Your answer", key="review_answer", height=120)
    checked = st.session_state.get("review_checked")
    if not checked or checked.get("card") != card.id:
        st.button(
            "Check my answer",
            type="primary",
            on_click=_check,
            args=(card.id, card.reference),
            icon=":material/fact_check:",
        )
        return
    score = checked.get("score")
    left, right = st.columns(2)
    left.markdown("**Your answer**")
    left.markdown(render.inline(checked["answer"], 2000) or "_(no answer)_")
    right.markdown("**Reference**")
    right.markdown(render.inline(card.reference, 2000))
    with right:
        if card.source:
            passage_link({"source": card.source, "section": card.section})
    if score is not None:
        st.metric("Similarity in meaning", f"{score:.2f}", help=review.verdict(score))
        st.caption(render.inline(review.verdict(score)))
    suggested = review.suggested_rating(score or 0.0)
    st.markdown("**How well did you know it?**")
    cols = st.columns(4)
    for col, (rating, label) in zip(cols, LABELS.items()):
        col.button(
            label,
            key=f"rate-{rating}",
            type="primary" if rating == suggested else "secondary",
            on_click=_rate,
            args=(card.id, rating),
            width="stretch",
        )


if __name__ == "__main__":
    page()
