"""The design grader: a pasted ML system design scored against the rubric (`corpus/rubric.yaml`).

Owns everything between the pasted text and the critique report:
  text      splitting a design into verbatim sentences, phrase matching, bare topic labels and
            sentences addressed to the grader (data, never evidence);
  negation  what the design says it will not do is not evidence;
  match     criterion embeddings, stage attribution and red-flag detection;
  evidence  evidence by meaning: the trained classifier (`evidence_model.npz`, built by
            scripts/train_grader.py from eval/datasets/grader_train/) judging each criterion;
  design_check  whether the text proposes a system at all (not-a-design -> 0);
  problem_type  ranking / classification / regression / generative, and criteria that are n/a;
  refs      where the corpus teaches each missing criterion;
  report    the report models (the `mlsd critique --json` contract) and the markdown report;
  grade     `grade_design` / `critique_design`, which put it together.

Callers import from here: `from tools.grader import grade_design, render_markdown`.
"""

from tools.grader.grade import (
    ENCODE_BATCH,
    CriterionResult,
    CritiqueReport,
    StageReport,
    critique_design,
    grade_design,
    render_markdown,
)
from tools.grader.refs import Reference, fallback_reference
from tools.grader.report import RedFlagResult, summarize

__all__ = [
    "ENCODE_BATCH",
    "CriterionResult",
    "CritiqueReport",
    "RedFlagResult",
    "Reference",
    "StageReport",
    "critique_design",
    "fallback_reference",
    "grade_design",
    "render_markdown",
    "summarize",
]
