"""The problem a design solves, and the rubric criteria that cannot apply to it.

The type (ranking / recommendation, classification, regression / forecasting, generative) is
read from what the design says it predicts: cue words counted over its affirmed sentences,
with the framing sentences (the ML task) counting double. A criterion that cannot apply is
reported as "n/a" and left out of its stage's score: class imbalance and a candidate-retrieval
funnel mean nothing for an ETA regression. When no type clearly wins, every criterion applies.
"""

from __future__ import annotations

import re

RANKING = "ranking"
CLASSIFICATION = "classification"
REGRESSION = "regression"
GENERATIVE = "generative"

_CUES = {
    RANKING: r"\b(rank\w*|recommend\w*|feed|ndcg|mrr|candidate generation|retriev\w* candidates|"
    r"learning to rank|top[- ]k|carousel|search results)\b",
    CLASSIFICATION: r"\b(classif\w*|binary|fraud|spam|abuse|harmful|moderat\w*|pr[- ]auc|"
    r"precision|recall|false positives?|threshold|churn|positive class)\b",
    REGRESSION: r"\b(regression|forecast\w*|eta|arrival time|duration|delivery time|demand|"
    r"price prediction|mae|rmse|mape|quantile loss|huber|minutes late|in minutes)\b",
    GENERATIVE: r"\b(llm|large language model|generat\w*|prompt\w*|rag|completion|"
    r"decoder|tokens?|hallucinat\w*|diffusion|text to image|chatbot|assistant)\b",
}
_PATTERNS = {kind: re.compile(p, re.IGNORECASE) for kind, p in _CUES.items()}
MIN_SHARE = 0.45  # the winning type's share of all cue hits
MIN_HITS = 4

# criteria that cannot apply to a problem type
NOT_APPLICABLE = {
    REGRESSION: ("imbalance_sampling", "multi_stage"),
}


def detect_problem_type(texts: list[str], framing: list[bool]) -> str:
    """ "ranking", "classification", "regression", "generative", or "" when unclear."""
    score = dict.fromkeys(_PATTERNS, 0.0)
    for text, is_framing in zip(texts, framing):
        for kind, pattern in _PATTERNS.items():
            hits = len(pattern.findall(text))
            score[kind] += hits * (2.0 if is_framing else 1.0)
    total = sum(score.values())
    kind, best = max(score.items(), key=lambda kv: (kv[1], kv[0]))
    if total < MIN_HITS or best / total < MIN_SHARE:
        return ""
    return kind


def not_applicable(problem_type: str) -> set[str]:
    return set(NOT_APPLICABLE.get(problem_type, ()))
