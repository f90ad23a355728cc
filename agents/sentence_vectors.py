"""Vectors of the units an offline answer scores, cached per process.

Units are embedded one per run: the int8 scorer quantizes activations per batch, so a unit's
vector would otherwise depend on its batch mates and an answer on what was asked before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from ingest.embeddings import Embedder

CLIP_WORDS = 40  # a unit's first words carry its topic; the cost of a run grows with its length


class SentenceVectors:
    """Embeds sentences with a bounded cache: passages recur across questions."""

    def __init__(self, embedder: Embedder, capacity: int = 20000) -> None:
        self.embedder = embedder
        self.capacity = capacity
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            # One sentence per run: the int8 scorer quantizes activations per batch, so a
            # sentence's vector would depend on its batch mates (cosine ~0.99), and an answer
            # on what was asked before.
            clipped = [" ".join(t.split()[:CLIP_WORDS]) for t in missing]
            vectors = self.embedder.encode(clipped, batch_size=1)
            with self._lock:
                for text, vector in zip(missing, vectors):
                    self._cache[text] = vector
                while len(self._cache) > self.capacity:
                    self._cache.popitem(last=False)
        with self._lock:
            for t in texts:
                self._cache.move_to_end(t)
            return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 1))
