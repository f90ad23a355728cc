"""Reads the index and grades: search, rubric lookup, example solutions, the design grader.

Owns: plain typed functions (their docstrings are their schemas) and the typed results they
return; the same functions serve the offline agent, the langchain agent, the CLI and tests.
A tool reports a failure as a value the agent can read (`ToolError`), not as a crash.
Must not: import `agents`, `eval`, `cli` or `app`, write to the store, or call an LLM.
"""
