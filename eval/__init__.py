"""Batch evaluation: measures retrieval and answers against a dataset of questions.

Owns: the dataset format (`eval.dataset`), retrieval metrics (`eval.retrieval_metrics`),
RAGAS scoring (`eval.ragas_metrics`, ragas imported lazily), the run (`eval.runner.run_eval`),
reports and plots (`eval.report`, `eval.plots`) and the regression gate (`eval.gate`).
May import `agents`, `tools`, `ingest`, `core`. Must not be imported by them: eval measures the
product, the product never depends on its measurement.
"""
