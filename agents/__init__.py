"""Orchestrates tools and models: the offline agent, the langchain LLM agent, the interviewer.

Owns: routing a conversation turn, composing cited answers, the LLM factory (`infer_model`),
fallback from LLM to offline on any fault, prompts (data files in `agents/prompts/`).
Must not: import `eval`, `cli` or `app`; write to the store; print. Both agents expose the
same interface (`respond(messages) -> Iterator[Event]`, see `agents.events`), so callers do
not care which one runs.
"""
