"""One evaluation run: for each retrieval mode, retrieve, answer and score every dataset row.

`run_eval(deps, dataset_path, modes, k, llm=False, repeats=1, progress=None) -> EvalReport`.
Out-of-scope rows are kept out of the retrieval and RAGAS metrics; they feed `decline_rate`
(share declined, higher is better), and in-scope rows feed `false_decline_rate`.

`progress(done, total, label)` is called once per phase as it starts (done=0, label
`phase: <name>`) and after every row, so a caller can show work from the first second.
Ctrl-C ends the run early with a partial report (`interrupted: true`). Each phase's wall
time is reported in `timings`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from core.errors import ConfigError, InputError
from eval.answering import Answerer
from eval.dataset import BadLine, EvalRow, load_dataset
from eval.phases import Phases, ProgressFn
from eval.ragas_metrics import RagasScorer, ScoreInput
from eval.retrieval_metrics import (
    count_relevant,
    matched_targets,
    matches_context,
    matches_source,
    retrieval_scores,
)
from eval.summary import MetricSummary, summarize
from ingest.embeddings import model_label
from tools.deps import Deps
from tools.search import MODES, Hit

log = logging.getLogger(__name__)

MAX_DERIVED_CONTEXTS = 8


class ModeResult(BaseModel):
    metrics: dict[str, MetricSummary]
    rows: list[dict[str, Any]]


class EvalReport(BaseModel):
    dataset: str
    created: str
    settings: dict[str, Any]
    modes: dict[str, ModeResult]
    bad_lines: list[BadLine] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)  # seconds per phase, and total
    interrupted: bool = False  # Ctrl-C: the rows done so far


@dataclass
class _Chunk:
    text: str
    source: str
    section: str


@dataclass
class _RowTargets:
    n_relevant: int
    reference_contexts: list[str]
    reference_contexts_from: str | None


def _corpus_chunks(deps: Deps) -> list[_Chunk]:
    corpus = deps.retriever.corpus()
    return [
        _Chunk(doc, meta.get("source", ""), meta.get("section", ""))
        for doc, meta in zip(corpus.docs, corpus.metas)
    ]


def _targets(row: EvalRow, chunks: list[_Chunk]) -> _RowTargets:
    """What the corpus holds for a row: its relevant-chunk count and the reference contexts
    handed to the RAGAS context metrics.

    RAGAS compares whole retrieved chunks with each reference context by Levenshtein similarity,
    so a one-sentence excerpt never reaches its 0.5 threshold against a 300-token chunk. The
    reference contexts are therefore lifted to the store's granularity: the chunks that contain
    the dataset's passages; failing that, the chunks of the cited `file#Heading` sections
    (a whole file is too broad to be "the" passage); failing that, the passages as written.
    """
    n_relevant = count_relevant(chunks, row.sources, row.reference_contexts)
    containing = [
        c.text for c in chunks if any(matches_context(r, c.text) for r in row.reference_contexts)
    ]
    if containing:
        return _RowTargets(n_relevant, containing[:MAX_DERIVED_CONTEXTS], "chunks")
    specific = [s for s in row.sources if "#" in s]
    derived = [
        c.text for c in chunks if any(matches_source(s, c.source, c.section) for s in specific)
    ]
    if derived:
        return _RowTargets(n_relevant, derived[:MAX_DERIVED_CONTEXTS], "sources")
    if row.reference_contexts:
        return _RowTargets(n_relevant, row.reference_contexts, "dataset")
    return _RowTargets(n_relevant, [], None)


def _unmatched_sources(rows: Sequence[EvalRow], chunks: list[_Chunk]) -> list[str]:
    warnings = []
    for row in rows:
        for spec in row.sources:
            if not any(matches_source(spec, c.source, c.section) for c in chunks):
                warnings.append(f"line {row.line}: source {spec!r} matches no chunk in the store")
    return warnings


def _hit_summary(hits: list[Hit], row: EvalRow) -> list[dict[str, Any]]:
    return [
        {
            "rank": h.rank,
            "source": h.source,
            "section": h.section,
            "chunk_id": h.chunk_id,
            "score": h.score,
            "relevant": bool(matched_targets(h, row.sources, row.reference_contexts)),
        }
        for h in hits
    ]


def _score_row(
    row: EvalRow,
    mode: str,
    k: int,
    deps: Deps,
    answerer: Answerer,
    scorer: RagasScorer,
    targets: _RowTargets,
    repeats: int,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": row.id,
        "line": row.line,
        "question": row.question,
        "stage": row.stage,
        "kind": row.kind,
        "out_of_scope": row.out_of_scope,
        "mode": mode,
        "metrics": {},
        "llm": {},
        "errors": {},
    }
    seconds = record["_seconds"] = {}
    t = time.perf_counter()
    try:
        hits = deps.retriever.search(row.question, k=k, mode=mode)
    except InputError as exc:  # e.g. an over-long question: record it, go on
        hits = []
        record["errors"]["retrieval"] = str(exc)
    seconds["retrieve"] = time.perf_counter() - t
    t = time.perf_counter()
    answered = answerer.answer(row.question, k, mode)
    seconds["answer"] = time.perf_counter() - t
    t = time.perf_counter()
    record.update(
        answerer=answerer.kind,
        answer=answered.answer,
        citations=answered.citations,
        declined=answered.declined,
        route=answered.route,
        answer_seconds=answered.seconds,
        fallback_reason=answered.fallback_reason,
        retrieved=_hit_summary(hits, row),
        reference_contexts_from=targets.reference_contexts_from,
    )
    if answered.error:
        record["errors"]["answer"] = answered.error
    record.update(_answer_checks(row, answered))
    if row.out_of_scope:
        seconds["score"] = time.perf_counter() - t
        return record
    metrics: dict[str, float | None] = {}
    if row.has_targets and "retrieval" not in record["errors"]:
        metrics.update(
            retrieval_scores(hits, row.sources, row.reference_contexts, k, targets.n_relevant)
        )
    inp = ScoreInput(
        question=row.question,
        answer=answered.answer,
        retrieved_contexts=[h.text for h in hits],
        answer_contexts=[h.text for h in answered.contexts],
        reference=row.reference,
        reference_contexts=targets.reference_contexts,
    )
    metrics.update(scorer.score_non_llm(inp))
    if record["answer_has_reference"] is not None:
        metrics["answer_has_reference"] = float(record["answer_has_reference"])
    metrics["fragment_free"] = float(record["fragments"] == 0)
    if scorer.llm_enabled:
        for name, repeated in scorer.score_llm(inp, repeats).items():
            if repeated is None:
                continue
            record["llm"][name] = repeated.to_json()
            metrics[name] = repeated.mean
            if repeated.errors:
                record["errors"][name] = repeated.errors[0]
    record["metrics"] = metrics
    seconds["score"] = time.perf_counter() - t
    return record


def _answer_checks(row: EvalRow, answered) -> dict[str, Any]:
    """The answer metrics that need no LLM (eval.answer_metrics): whether the answer quotes a
    reference sentence or answer span (None without either), and its fragment count."""
    from eval.answer_metrics import answer_has_reference, count_fragments

    headings = {p for c in answered.citations for p in str(c.get("section", "")).split(" > ")}
    has_target = bool(row.reference_contexts or row.answer_spans) and not row.out_of_scope
    return {
        "answer_has_reference": answer_has_reference(
            answered.answer, row.reference_contexts, row.answer_spans
        )
        if has_target
        else None,
        "fragments": count_fragments(answered.answer, headings),
    }


def _import_scorer_in_background() -> threading.Thread:
    """RAGAS takes seconds to import; start it while the store and the model load."""

    def load() -> None:
        try:
            import eval.ragas_metrics as metrics

            metrics.import_non_llm_metrics()
        except Exception as exc:  # reported again, properly, when the scorer is built
            log.debug("background RAGAS import failed: %s", exc)

    thread = threading.Thread(target=load, name="ragas-import", daemon=True)
    thread.start()
    return thread


def run_eval(
    deps: Deps,
    dataset_path: Path | str | None = None,
    modes: Sequence[str] = MODES,
    k: int = 5,
    llm: bool = False,
    repeats: int = 1,
    progress: ProgressFn | None = None,
    judge_llm: Any | None = None,
    max_rows: int | None = None,
) -> EvalReport:
    """Evaluate every row in every mode. Raises MlsdError for bad arguments or datasets.

    At most `max_rows` dataset rows are read (None: all). Ctrl-C returns the rows scored so
    far as a partial report with `interrupted=True`.
    """
    settings = deps.settings
    path = Path(dataset_path) if dataset_path else settings.golden_path
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise ConfigError(f"Unknown retrieval mode(s) {unknown}: choose from {', '.join(MODES)}.")
    if k < 1 or repeats < 1:
        raise InputError("k and repeats must be at least 1.")
    if llm and judge_llm is None and not settings.llm_enabled:
        raise ConfigError("LLM metrics need an endpoint: set OPENAI_API_KEY or OPENAI_BASE_URL.")
    phases = Phases(progress)
    importer = _import_scorer_in_background()
    t = phases.start("reading the dataset")
    dataset = load_dataset(path, max_rows)
    warnings: list[str] = []
    if dataset.truncated_at is not None:
        warnings.append(
            f"only the first {len(dataset.rows)} rows were evaluated (the row cap); "
            f"line {dataset.truncated_at} and later were not read"
        )
    phases.add("dataset", t)
    phases.total = len(dataset.rows) * len(modes)
    t = phases.start("opening the store")
    chunks = _corpus_chunks(deps)
    phases.add("store", t)
    t = phases.start("matching references to chunks")
    targets = {row.id: _targets(row, chunks) for row in dataset.rows}
    warnings += _unmatched_sources(dataset.rows, chunks)
    for warning in warnings:
        log.warning(warning)
    phases.add("targets", t)
    t = phases.start("loading the model and the agent")
    if llm and judge_llm is None:
        from eval.ragas_metrics import build_judge_llm

        judge_llm = build_judge_llm(settings)
    answerer = Answerer(deps, llm=llm)
    answerer.agent()  # a configuration error (e.g. unknown model) stops the run here
    deps.retriever.embedder()
    phases.add("model", t)
    t = phases.start("loading the RAGAS metrics")
    importer.join()
    scorer = RagasScorer(settings, deps.embedder if llm else None, judge_llm if llm else None)
    phases.add("scorer", t)
    results: dict[str, ModeResult] = {}
    interrupted = False
    with scorer:
        try:
            _run_rows(
                dataset.rows, modes, k, deps, answerer, scorer, targets, repeats, phases, results
            )
        except KeyboardInterrupt:
            interrupted = True
            log.warning("evaluation interrupted: reporting the rows done so far")
    t = phases.start("summarising")
    for result in results.values():
        result.metrics = summarize(result.rows)
    phases.add("summary", t)
    return EvalReport(
        dataset=str(path),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        settings=_settings_snapshot(deps, modes, k, llm, repeats, answerer),
        modes=results,
        bad_lines=dataset.bad_lines,
        warnings=warnings,
        timings=phases.report(),
        interrupted=interrupted,
    )


def _run_rows(rows, modes, k, deps, answerer, scorer, targets, repeats, phases, results) -> None:
    """Score every row in every mode into `results` (filled as it goes, for Ctrl-C)."""
    done = 0
    phases.start("answering")
    for mode in modes:
        results[mode] = ModeResult(metrics={}, rows=[])
        for row in rows:
            record = _score_row(row, mode, k, deps, answerer, scorer, targets[row.id], repeats)
            results[mode].rows.append(record)
            for name, seconds in record.pop("_seconds").items():
                phases.seconds[name] = phases.seconds.get(name, 0.0) + seconds
            done += 1
            if phases.progress is not None:
                phases.progress(done, phases.total, f"{mode}: {row.id}")


def _settings_snapshot(deps, modes, k, llm, repeats, answerer) -> dict[str, Any]:
    s = deps.settings
    snapshot = {
        "modes": list(modes),
        "k": k,
        "llm": llm,
        "repeats": repeats,
        "answerer": answerer.kind,
        "ragas_reference_contexts": "store chunks containing the reference passages",
        "store": deps.retriever.location,
        "collection": s.collection,
        "embed_model": model_label(s.embed_model),
        "embed_backend": s.embed_backend,
        "hybrid": {  # every fusion setting, so two reports say whether retrieval changed
            "fusion": s.hybrid_fusion,
            "depth": s.hybrid_depth,
            "alpha": s.hybrid_alpha,
            "alpha_uncovered": s.hybrid_alpha_uncovered,
            "norm": s.hybrid_norm,
            "gate_ratio": s.hybrid_gate_ratio,
            "rrf_k": s.hybrid_rrf_k,
            "dense_weight": s.hybrid_dense_weight,
            "bm25_weight": s.hybrid_bm25_weight,
        },
    }
    if llm:
        snapshot["llm_model"] = s.llm_model
        snapshot["llm_base_url"] = s.openai_base_url
    return snapshot
