"""Top layer: the Streamlit web app (`streamlit run app.py`). Presents only; no product logic.

Owns: one module per page (`chat`, `critique`, `interview`, `evaluate`, `library`), the
sidebar, per-tab session state (`state`), process-wide cached resources and the one function
that calls the agent (`resources`), and the sanitizer every piece of untrusted text goes
through before it is rendered (`render`).
Must not: be imported by any other package; hold answers, grading, retrieval or evaluation
logic (those live in `agents/`, `tools/`, `ingest/`, `eval/`); render untrusted text as HTML.
"""
