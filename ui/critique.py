"""Critique page: paste or upload a design, pick the level, get a graded report."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import streamlit as st

from core.errors import MlsdError
from ui import render, resources, state
from ui.report_view import show_report

log = logging.getLogger(__name__)

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
UPLOAD_TYPES = ["md", "markdown", "txt", "pdf"]


def examples() -> list[dict]:
    """The shipped example designs: [{"name", "title", "text"}], sorted by file name."""
    from ingest.readers import split_front_matter

    out = []
    for path in sorted(EXAMPLES_DIR.glob("*.md")):
        meta, body = split_front_matter(path.read_text(encoding="utf-8"))
        out.append({"name": path.name, "title": meta.get("title") or path.stem, "text": body})
    return out


def read_design_file(name: str, data: bytes) -> str:
    """Text of an uploaded .md/.txt/.pdf design, read with the ingest readers."""
    from ingest.readers import read_file

    max_bytes = int(resources.get_settings().max_file_mb * 1024 * 1024)
    suffix = Path(name).suffix.lower() or ".txt"
    with tempfile.TemporaryDirectory(prefix="mlsd-design-") as tmp:
        path = Path(tmp) / f"design{suffix}"
        path.write_bytes(data)
        return read_file(path, name, max_bytes).text


def _use_example(example: dict) -> None:
    st.session_state.design_text = example["text"]
    st.session_state.design_name = example["title"]


def _on_upload() -> None:
    uploaded = st.session_state.get("design_upload")
    st.session_state.design_upload_error = None
    if uploaded is None:
        return
    try:
        st.session_state.design_text = read_design_file(uploaded.name, uploaded.getvalue())
        st.session_state.design_name = uploaded.name
    except MlsdError as exc:
        st.session_state.design_upload_error = str(exc)


def _run_critique(design: str, level: str) -> None:
    try:
        with st.spinner("Grading the design against the rubric…", show_time=True):
            report, markdown = resources.critique(design, level, state.tab_deps())
    except resources.Unavailable as exc:
        st.info(render.inline(str(exc), 400), icon=":material/construction:")
        return
    except MlsdError as exc:
        st.error(render.inline(str(exc), 400))
        return
    from progress.history import save_attempt_safely  # one warning line on a database error

    save_attempt_safely(resources.get_settings(), report, kind="critique", mode="app")
    name = st.session_state.design_name or "pasted design"
    st.session_state.critique = {"report": report, "markdown": markdown, "name": name}


def page() -> None:
    st.title("Critique a design")
    st.caption(
        "Paste your answer to a design question (or upload .md, .txt, .pdf) and get it graded "
        "stage by stage against the interview rubric, with the passages that teach what is "
        "missing."
    )
    st.markdown("**Try an example**")
    cols = st.columns(max(1, len(examples())))
    for col, example in zip(cols, examples()):
        col.button(
            example["title"],
            key=f"example-{example['name']}",
            on_click=_use_example,
            args=(example,),
            icon=":material/lightbulb:",
            width="stretch",
        )
    left, right = st.columns([3, 1])
    state.bind("design_widget", "design_text")
    left.text_area(
        "Your design",
        key="design_widget",
        height=260,
        on_change=state.sync,
        args=("design_widget", "design_text"),
        placeholder="## Problem framing\nWe want to …",
    )
    right.file_uploader(
        "…or upload a file", type=UPLOAD_TYPES, key="design_upload", on_change=_on_upload
    )
    if st.session_state.get("design_upload_error"):
        right.error(render.inline(st.session_state.design_upload_error, 300))
    state.bind("level_widget", "critique_level")
    right.segmented_control(
        "Level",
        state.LEVELS,
        key="level_widget",
        on_change=state.sync,
        args=("level_widget", "critique_level"),
    )
    design = st.session_state.design_text or ""
    words = len(design.split())
    right.caption(f"{words} words")
    if right.button("Critique", type="primary", disabled=not design.strip(), width="stretch"):
        _run_critique(design, st.session_state.critique_level or "senior")
    result = st.session_state.critique
    if not result:
        return
    st.divider()
    st.subheader(f"Report: {render.inline(result['name'], 80)}")
    st.download_button(
        "Download report (.md)",
        data=result["markdown"],
        file_name="critique.md",
        mime="text/markdown",
        icon=":material/download:",
    )
    show_report(result["report"])


if __name__ == "__main__":
    page()
