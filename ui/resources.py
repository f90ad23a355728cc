"""Process-wide resources and the app's only doors into product code.

Everything heavy (settings, the store, the embedding model, agents) is created once per
process with `st.cache_resource` and shared read-only by every tab; anything that belongs to
one tab lives in `st.session_state` (see `ui.state`). Product modules that other people are
still writing are imported on first use: a missing one raises `Unavailable`, which pages
show as a clear "not available yet" message instead of a traceback.

Pages reach the agent through `get_agent_respond` only, so tests can swap in a fake agent.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import streamlit as st

from core.endpoint import log_endpoint_from_env_file
from core.offline import apply_offline_env
from core.settings import Settings
from tools.deps import Deps

log = logging.getLogger(__name__)

Respond = Callable[[list], Iterator[Any]]  # list[agents.events.Message] -> Iterator[Event]


class Unavailable(Exception):
    """A feature whose code has not landed (or failed to import); the message says which."""


def load(module: str, attr: str, feature: str) -> Any:
    """`module.attr`, or Unavailable naming the feature (an import error is not a crash)."""
    try:
        return getattr(importlib.import_module(module), attr)
    except Exception as exc:  # ImportError, or a half-written module: the page must still load
        log.warning("%s unavailable: %s.%s: %s", feature, module, attr, exc)
        raise Unavailable(
            f"{feature} is not available yet (`{module}.{attr}` could not be loaded: "
            f"{type(exc).__name__})."
        ) from exc


@st.cache_resource(show_spinner=False)
def get_settings() -> Settings:
    """Settings from the environment (MLSD_*), read once per process."""
    settings = Settings()
    apply_offline_env(settings.embed_model)
    log_endpoint_from_env_file(settings)  # a .env must not redirect the user's key unseen
    return settings


@st.cache_resource(show_spinner=False, max_entries=8)
def get_deps(top_k: int, mode: str) -> Deps:
    """One Deps per (top-k, mode) a tab picked; the embedding model itself is process-wide."""
    settings = get_settings().model_copy(update={"top_k": top_k, "retrieval_mode": mode})
    return Deps(settings)


def default_deps() -> Deps:
    settings = get_settings()
    return get_deps(settings.top_k, settings.retrieval_mode)


@st.cache_resource(show_spinner=False)
def start_warmup() -> threading.Thread | None:
    """Load the embedding model, the store, the BM25 index and the agent code in the
    background as soon as the first tab opens, so the first question does not pay for them
    (a question asked earlier just waits for the model instead of loading it twice)."""
    settings = get_settings()
    if not settings.app_warmup:
        return None
    retriever = default_deps().retriever
    with contextlib.suppress(Unavailable):  # a missing agent is reported by the chat page
        _agent(settings.top_k, settings.retrieval_mode, True)  # imports the agent modules

    def warm() -> None:
        try:
            retriever.search("warm up the embedding model", k=1)
        except Exception as exc:  # an empty store: the pages say so when used
            log.info("warm-up stopped early: %s", exc)

    thread = threading.Thread(target=warm, name="mlsd-warmup", daemon=True)
    thread.start()
    return thread


@st.cache_resource(show_spinner=False, max_entries=16)
def _agent(top_k: int, mode: str, offline: bool) -> Any:
    make_agent = load("agents.factory", "make_agent", "The chat agent")
    return make_agent(get_deps(top_k, mode), offline=offline)


def get_agent_respond(top_k: int, mode: str, offline: bool) -> Respond:
    """The agent's `respond(messages) -> Iterator[Event]` for these options.

    The one function through which the app calls an agent (tests replace it)."""
    return _agent(top_k, mode, offline).respond


def llm_configured() -> bool:
    return get_settings().llm_enabled


@st.cache_data(ttl=30, show_spinner=False)
def llm_endpoint_status() -> dict[str, Any]:
    """Whether the configured OpenAI-compatible endpoint answers `GET /models` (2 s timeout)."""
    from core.endpoint import endpoint_origin

    settings = get_settings()
    status: dict[str, Any] = {
        "configured": settings.llm_enabled,
        "model": settings.llm_model,
        "base_url": settings.openai_base_url or "https://api.openai.com/v1",
        "origin": endpoint_origin(settings).describe(),  # a .env must not redirect unseen
        "reachable": None,
        "detail": "",
    }
    if not settings.llm_enabled:
        status["detail"] = "not configured: answers come from the offline agent"
        return status
    import httpx

    headers = {}
    if settings.openai_api_key is not None:
        headers["Authorization"] = f"Bearer {settings.openai_api_key.get_secret_value()}"
    try:
        response = httpx.get(f"{status['base_url'].rstrip('/')}/models", headers=headers, timeout=2)
        status["reachable"] = response.status_code < 500
        status["detail"] = f"HTTP {response.status_code}"
    except httpx.HTTPError as exc:
        status["reachable"] = False
        status["detail"] = type(exc).__name__
    return status


def llm_cooldown() -> str | None:
    """Why chat turns skip the endpoint right now (after a refused connection), or None."""
    settings = get_settings()
    if not settings.llm_enabled:
        return None
    from agents.factory import unreachable_reason

    return unreachable_reason(settings)


def recheck_llm_endpoint() -> None:
    """The sidebar's re-check: forget the cached status and any cool-down, ask again."""
    from agents.factory import clear_unreachable

    clear_unreachable(get_settings())
    llm_endpoint_status.clear()


# -- grader, interviewer, evaluation ------------------------------------------------------
def critique(design: str, level: str, deps: Deps) -> tuple[dict, str]:
    """(report as a dict, report as markdown) from the design grader."""
    critique_design = load("tools.grader", "critique_design", "The design critique")
    render_markdown = load("tools.grader", "render_markdown", "The design critique")
    report = critique_design(deps, design, level=level)
    return report.model_dump(), render_markdown(report)


def rubric_stages(deps: Deps) -> list[dict]:
    """[{id, name, time_budget_min}] from the rubric, or [] if it cannot be read."""
    try:
        rubric = deps.rubric
    except Exception as exc:  # a missing rubric must not break the interview page
        log.warning("rubric unavailable: %s", exc)
        return []
    stages = getattr(rubric, "stages", None) or []
    out = []
    for stage in stages:
        data = stage.model_dump() if hasattr(stage, "model_dump") else dict(stage)
        out.append(
            {
                "id": data.get("id"),
                "name": data.get("name") or data.get("id"),
                "time_budget_min": data.get("time_budget_min"),
            }
        )
    return out


def interview_problems(deps: Deps) -> list[dict]:
    """The worked solutions an interview can be about: [{id, title, question, family...}]."""
    list_solutions = load("tools.solutions", "list_example_solutions", "The mock interviewer")
    return [s.model_dump() for s in list_solutions(deps)]


def start_interview(deps: Deps, question: str | None, level: str, offline: bool) -> Any:
    """A new `agents.interviewer.Interview` (random problem when `question` is None)."""
    interview_cls = load("agents.interviewer", "Interview", "The mock interviewer")
    llm = None if offline else _interviewer_llm()
    return interview_cls.create(deps, question, level=level, llm=llm)


@st.cache_resource(show_spinner=False)
def _chat_model() -> Any:
    infer_model = load("agents.factory", "infer_model", "The LLM interviewer")
    return infer_model(get_settings())


def _interviewer_llm() -> Callable[[str, str], str]:
    """`(system, prompt) -> text` over the configured chat model (the interviewer's LLM)."""
    model = _chat_model()

    def ask(system: str, prompt: str) -> str:
        reply = model.invoke([("system", system), ("user", prompt)])
        return reply.content if isinstance(reply.content, str) else ""

    return ask


def run_eval(deps: Deps, dataset: Path, modes: list[str], k: int, llm: bool, progress) -> Any:
    run = load("eval.runner", "run_eval", "Evaluation")
    return run(deps, dataset, modes, k, llm=llm, repeats=1, progress=progress)


def write_eval_report(report: Any, out_dir: Path) -> dict[str, Path]:
    write = load("eval.report", "write_report", "Evaluation reports")
    return write(report, out_dir)


# -- library ------------------------------------------------------------------------------
@st.cache_data(ttl=15, show_spinner=False)
def store_stats() -> dict:
    from ingest.pipeline import store_stats as stats

    return stats(get_settings())


def ingest(paths: list[Path] | None, prune: bool = False) -> dict:
    """Ingest into the shared store (None: the corpus and uploads), then drop cached views."""
    from ingest.pipeline import default_roots, ingest_paths

    settings = get_settings()
    try:
        report = ingest_paths(paths or default_roots(settings), settings, prune=prune)
    finally:
        forget_store_caches()
    return report.to_json()


def forget_store_caches() -> None:
    """After the store changed: fresh retrievers, agents and stats on next use."""
    store_stats.clear()
    get_deps.clear()
    _agent.clear()


def passages(deps: Deps, source: str, section: str = "") -> list[dict]:
    """The stored chunks of `source` whose section path contains `section` (a heading)."""
    corpus = deps.retriever.corpus()
    wanted = [h.strip() for h in section.split(">") if h.strip()]
    out = []
    for text, meta in zip(corpus.docs, corpus.metas):
        if meta.get("source") != source:
            continue
        parts = [p.strip() for p in str(meta.get("section", "")).split(">")]
        if wanted and not all(w in parts for w in wanted):
            continue
        out.append(
            {
                "source": source,
                "section": meta.get("section", ""),
                "text": text,
                "index": int(meta.get("chunk_index", 0)),
            }
        )
    return sorted(out, key=lambda p: p["index"])
