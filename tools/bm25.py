"""Okapi BM25 over the stored chunks, as three flat arrays (a CSR matrix, one row per word).

rank-bm25 scores a query with a Python loop over every document per query term (tens of ms
at 10k chunks); here the per-term weights are precomputed, so a query adds a few array
slices (well under a millisecond). The arrays are saved as `.npy` files and loaded with
`mmap_mode="r"` plus a JSON vocabulary: a cold load unpickles nothing and needs no scipy.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

TOKEN = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "should",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "about",
        "also",
        "just",
        "more",
        "most",
        "not",
        "no",
        "any",
        "all",
        "each",
        "other",
        "some",
        "such",
        "only",
        "own",
        "same",
        "very",
    ]
)


def _stem(token: str) -> str:
    # A light plural/suffix fold: "labels"->"label", "splits"->"split". Enough for paraphrases.
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        return token[:-1]
    return token


def tokenize(text: str) -> list[str]:
    return [_stem(t) for t in TOKEN.findall(text.lower()) if t not in STOPWORDS]


def _idf(n_docs, df):
    """BM25's inverse document frequency (the +1 keeps it positive for common words)."""
    return np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))


_ARRAYS = ("indptr", "indices", "data")
INDEX_FORMAT = 1  # bump when the saved arrays change meaning: older folders are rebuilt


class BM25Index:
    """Row `w` of the CSR arrays holds word w's weight in each document that uses it."""

    def __init__(self, texts: list[str], k1: float = 1.5, b: float = 0.75) -> None:
        docs = [tokenize(t) for t in texts]
        vocab: dict[str, int] = {}
        words, cols, tfs = [], [], []
        for d, tokens in enumerate(docs):
            counts: dict[int, int] = {}
            for tok in tokens:
                idx = vocab.setdefault(tok, len(vocab))
                counts[idx] = counts.get(idx, 0) + 1
            words.extend(counts)
            cols.extend([d] * len(counts))
            tfs.extend(counts.values())
        lengths = np.array([len(t) for t in docs], dtype=np.float32)
        avgdl = float(lengths.mean()) if len(docs) else 1.0
        word = np.array(words, dtype=np.int64)
        col = np.array(cols, dtype=np.int32)
        tf = np.array(tfs, dtype=np.float32)
        df = np.bincount(word, minlength=len(vocab))
        idf = _idf(len(docs), df.astype(np.float32))
        norm = k1 * (1.0 - b + b * lengths[col] / max(avgdl, 1e-9))
        weight = (idf[word] * tf * (k1 + 1.0) / (tf + norm)).astype(np.float32)
        order = np.lexsort((col, word))  # row-major: by word, then document
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(df, out=indptr[1:])
        self._set(vocab, len(docs), indptr, col[order], weight[order])

    def _set(self, vocab: dict[str, int], n_docs: int, indptr, indices, data) -> None:
        self.vocab, self.n_docs = vocab, n_docs
        self.indptr, self.indices, self.data = indptr, indices, data

    def idf(self, token: str) -> float:
        """A token's IDF here: a word few passages use weighs more; unknown words the most."""
        i = self.vocab.get(token)
        df = 0 if i is None else int(self.indptr[i + 1] - self.indptr[i])  # the row's length
        return float(_idf(self.n_docs, df))

    def coverage(self, query: str, doc: int) -> float:
        """Share of the query's distinct words, weighted by IDF, that document `doc` holds
        (0..1; a word no document uses weighs the most and is never covered)."""
        total = held = 0.0
        for tok in dict.fromkeys(tokenize(query)):
            weight = self.idf(tok)
            total += weight
            i = self.vocab.get(tok)
            if i is not None:  # a row's documents are sorted: binary search
                row = self.indices[int(self.indptr[i]) : int(self.indptr[i + 1])]
                at = int(np.searchsorted(row, doc))
                held += weight if at < len(row) and int(row[at]) == doc else 0.0
        return held / total if total > 0 else 0.0

    def scores(self, query: str) -> np.ndarray:
        """Each document's BM25 score for the query (a repeated query word counts again)."""
        out = np.zeros(self.n_docs, dtype=np.float32)
        for tok in tokenize(query):
            i = self.vocab.get(tok)
            if i is not None:  # a row's documents are distinct, so fancy-index += is exact
                start, end = int(self.indptr[i]), int(self.indptr[i + 1])
                out[self.indices[start:end]] += self.data[start:end]
        return out

    def top(self, query: str, n: int) -> list[tuple[int, float]]:
        """(document index, score) of the best `n` documents with a positive score."""
        return top_of(self.scores(query), n)

    # -- on disk: three .npy arrays (memory-mapped on load) and a JSON vocabulary -----------
    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name in _ARRAYS:
            np.save(folder / f"{name}.npy", np.ascontiguousarray(getattr(self, name)))
        meta = {"format": INDEX_FORMAT, "n_docs": self.n_docs, "vocab": list(self.vocab)}
        (folder / "vocab.json").write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> BM25Index:
        """Open a saved index without copying its arrays. Raises ValueError if unusable."""
        meta = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        if meta.get("format") != INDEX_FORMAT:
            raise ValueError(f"BM25 index format {meta.get('format')!r} != {INDEX_FORMAT}")
        arrays = [np.load(folder / f"{name}.npy", mmap_mode="r") for name in _ARRAYS]
        vocab = {word: i for i, word in enumerate(meta["vocab"])}
        if len(arrays[0]) != len(vocab) + 1 or len(arrays[1]) != len(arrays[2]):
            raise ValueError("BM25 index arrays do not match its vocabulary")
        index = cls.__new__(cls)
        index._set(vocab, int(meta["n_docs"]), *arrays)
        return index


def top_of(scores: np.ndarray, n: int) -> list[tuple[int, float]]:
    """(index, score) of the `n` largest positive scores, best first (ties: lower index)."""
    if n <= 0 or not scores.any():
        return []
    n = min(n, len(scores))
    idx = np.argpartition(-scores, n - 1)[:n]
    idx = idx[np.lexsort((idx, -scores[idx]))]
    return [(int(i), float(scores[i])) for i in idx if scores[i] > 0]
