"""What tools need, passed as one argument (like pydantic-ai's `Deps`).

Built once per process by an entry point (CLI command, app resource, test fixture) and shared;
each resource is created on first use, so a command that never embeds never loads the model.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property

from core.settings import Settings
from ingest.embeddings import Embedder
from tools.search import Retriever


@dataclass
class Deps:
    settings: Settings
    embedder_override: Embedder | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever(self.settings, embedder=self.embedder_override)

    @property
    def embedder(self) -> Embedder:
        """The query-side model, checked against the store when one exists."""
        if self.embedder_override is not None:
            return self.embedder_override
        from ingest.embeddings import load_embedder

        s = self.settings
        return load_embedder(s.embed_model, s.embed_backend, str(s.model_cache_dir))

    @cached_property
    def rubric(self):
        from tools.rubric import load_rubric

        return load_rubric(self.settings.rubric_path)
