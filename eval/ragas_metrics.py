"""RAGAS scoring: the metrics that need no LLM (always) and the LLM-judged ones (`--llm`).

ragas, langchain and the OpenAI client are imported only inside these functions, so importing
`eval` stays cheap. Every LLM score is bounded (client timeout, one ragas attempt, an overall
per-score timeout) and a failure becomes NaN with its reason on that row, never an exception.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import statistics
import warnings
from dataclasses import dataclass, field
from typing import Any

from core.settings import Settings

log = logging.getLogger(__name__)

NON_LLM_METRICS = (
    "non_llm_context_precision_with_reference",
    "non_llm_context_recall",
    "non_llm_string_similarity",
    "rouge_score",
)
LLM_METRICS = ("faithfulness", "answer_relevancy", "llm_context_precision_with_reference")


@dataclass
class ScoreInput:
    question: str
    answer: str
    retrieved_contexts: list[str]  # the retriever's top k
    answer_contexts: list[str]  # the passages the answer used (faithfulness checks against them)
    reference: str | None = None
    reference_contexts: list[str] = field(default_factory=list)


@dataclass
class RepeatedScore:
    """One LLM metric on one row, run `len(runs)` times. NaN runs carry a reason."""

    runs: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def valid(self) -> list[float]:
        return [v for v in self.runs if not math.isnan(v)]

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.valid) if self.valid else None

    @property
    def std(self) -> float | None:
        valid = self.valid
        if not valid:
            return None
        return statistics.pstdev(valid) if len(valid) > 1 else 0.0

    @property
    def straddles(self) -> bool:
        """True when repeats disagree about the 0.5 line: the verdict is not stable."""
        valid = self.valid
        return len(valid) > 1 and min(valid) < 0.5 <= max(valid)

    def to_json(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "std": self.std,
            "runs": [None if math.isnan(v) else v for v in self.runs],
            "straddles_0_5": self.straddles,
            "errors": self.errors,
        }


def _applicable_non_llm(inp: ScoreInput) -> dict[str, bool]:
    has_contexts = bool(inp.retrieved_contexts and inp.reference_contexts)
    has_reference = bool(inp.reference and inp.answer)
    return {
        "non_llm_context_precision_with_reference": has_contexts,
        "non_llm_context_recall": has_contexts,
        "non_llm_string_similarity": has_reference,
        "rouge_score": has_reference,
    }


def _applicable_llm(inp: ScoreInput) -> dict[str, bool]:
    return {
        "faithfulness": bool(inp.answer and (inp.answer_contexts or inp.retrieved_contexts)),
        "answer_relevancy": bool(inp.answer),
        "llm_context_precision_with_reference": bool(inp.reference and inp.retrieved_contexts),
    }


def _sample(inp: ScoreInput, metric_name: str):
    from ragas.dataset_schema import SingleTurnSample

    contexts = inp.retrieved_contexts
    if metric_name == "faithfulness" and inp.answer_contexts:
        contexts = inp.answer_contexts
    return SingleTurnSample(
        user_input=inp.question,
        response=inp.answer,
        retrieved_contexts=contexts,
        reference=inp.reference,
        reference_contexts=inp.reference_contexts or None,
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "TimeoutError: the LLM metric took longer than its time limit"
    text = " ".join(str(exc).split())[:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def import_non_llm_metrics() -> dict[str, Any]:
    """The four non-LLM metric objects (importing ragas takes seconds: call it early)."""
    os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
    with warnings.catch_warnings():  # the legacy metric API warns about deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        from ragas.metrics import (
            NonLLMContextPrecisionWithReference,
            NonLLMContextRecall,
            NonLLMStringSimilarity,
            RougeScore,
        )

        return {
            m.name: m
            for m in (
                NonLLMContextPrecisionWithReference(),
                NonLLMContextRecall(),
                NonLLMStringSimilarity(),
                RougeScore(),
            )
        }


class RagasScorer:
    """Scores rows with RAGAS on one private event loop (the async HTTP client is bound to it).

    Use as a context manager. `judge_llm` is a langchain chat model; without it only the
    non-LLM metrics are available.
    """

    def __init__(
        self,
        settings: Settings,
        embedder: Any | None = None,
        judge_llm: Any | None = None,
    ) -> None:
        # ragas sends usage analytics unless told not to; the product never phones home.
        self._non_llm = import_non_llm_metrics()
        with warnings.catch_warnings():  # the legacy metric API warns about deprecation
            warnings.simplefilter("ignore", DeprecationWarning)
            self._llm = self._build_llm_metrics(settings, embedder, judge_llm) if judge_llm else {}
        self.timeout = settings.eval_llm_metric_timeout_s
        self._loop = asyncio.new_event_loop()

    @staticmethod
    def _build_llm_metrics(settings: Settings, embedder: Any, judge_llm: Any) -> dict[str, Any]:
        from ragas.embeddings import LangchainEmbeddingsWrapper
        from ragas.llms import LangchainLLMWrapper
        from ragas.metrics import Faithfulness, LLMContextPrecisionWithReference, ResponseRelevancy
        from ragas.run_config import RunConfig

        # One attempt per call inside ragas: the OpenAI client already retries transient errors.
        run_config = RunConfig(
            timeout=max(1, int(settings.llm_timeout_s)), max_retries=1, max_wait=5
        )
        # bypass_n: many OpenAI-compatible servers ignore `n`; send n separate prompts instead.
        llm = LangchainLLMWrapper(judge_llm, run_config=run_config, bypass_n=True)
        embeddings = LangchainEmbeddingsWrapper(local_embeddings(embedder), run_config=run_config)
        metrics = (
            Faithfulness(llm=llm),
            ResponseRelevancy(llm=llm, embeddings=embeddings),
            LLMContextPrecisionWithReference(llm=llm),
        )
        return {m.name: m for m in metrics}

    @property
    def llm_enabled(self) -> bool:
        return bool(self._llm)

    def __enter__(self) -> RagasScorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._loop.is_closed():
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def score_non_llm(self, inp: ScoreInput) -> dict[str, float | None]:
        """The four non-LLM metrics; None where the row lacks what a metric needs."""
        out: dict[str, float | None] = {}
        for name, applicable in _applicable_non_llm(inp).items():
            if not applicable:
                out[name] = None
                continue
            value = self._loop.run_until_complete(
                self._non_llm[name].single_turn_ascore(_sample(inp, name))
            )
            out[name] = None if value is None or math.isnan(value) else float(value)
        return out

    def score_llm(self, inp: ScoreInput, repeats: int = 1) -> dict[str, RepeatedScore | None]:
        """Each LLM metric `repeats` times; None where not applicable (e.g. no reference)."""
        out: dict[str, RepeatedScore | None] = {}
        for name, applicable in _applicable_llm(inp).items():
            if not applicable or name not in self._llm:
                out[name] = None
                continue
            result = RepeatedScore()
            for _ in range(max(1, repeats)):
                value, error = self._loop.run_until_complete(self._score_once(name, inp))
                result.runs.append(value)
                if error:
                    result.errors.append(error)
            out[name] = result
        return out

    async def _score_once(self, name: str, inp: ScoreInput) -> tuple[float, str | None]:
        metric = self._llm[name]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                value = await metric.single_turn_ascore(_sample(inp, name), timeout=self.timeout)
        except Exception as exc:  # any fault of the judge stays on this row
            log.warning("%s failed: %s", name, _reason(exc))
            return math.nan, _reason(exc)
        if value is None or math.isnan(float(value)):
            return math.nan, "the judge's output gave no score (e.g. no statements extracted)"
        return float(value), None


def local_embeddings(embedder: Any):
    """Our local sentence-transformers model as a langchain `Embeddings` (never a remote API)."""
    from langchain_core.embeddings import Embeddings

    class LocalEmbeddings(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return embedder.encode(list(texts)).tolist()

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

    return LocalEmbeddings()


def build_judge_llm(settings: Settings):
    """The langchain chat model of the configured endpoint (the agents' own factory, bounded
    by `llm_timeout_s`, `llm_max_retries` and `llm_max_tokens`)."""
    from agents.factory import infer_model

    return infer_model(settings)
