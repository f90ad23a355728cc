"""Writes the index: reads files, chunks them, embeds the chunks and stores them in Chroma.

Owns: file readers, heading-aware chunking, the embedding model (loaded once per process),
the Chroma client and collection, the ingest pipeline and its lock.
Must not: import `tools`, `agents`, `eval`, `cli` or `app` (imports flow app/cli -> agents ->
tools -> ingest), or print: it logs, and returns typed reports for the CLI to present.
"""
