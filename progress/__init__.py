"""The learner's memory: history of critiques and mock interviews, progress, plan, review.

Owns: the history database (`db`: SQLAlchemy 2 schema, schema version table and versioned
migrations, engines with WAL and a busy timeout for SQLite), saving and reading attempts
(`history`), progress statistics over time (`stats`), the study plan (`plan`), the spaced
review queue scheduled with FSRS (`review`, `cards`) and the markdown/PNG export (`export`).

Must not: import `agents`, `cli`, `ui` or `app` (layer: app/cli -> agents -> progress ->
tools -> ingest -> core); grade designs (it stores the grader's reports as they are); block
grading (callers use `history.save_attempt_safely`, which logs one line on any database
error); import matplotlib or the embedding model at module level.
"""
