"""Okapi BM25 over the stored chunks, as one sparse matrix.

rank-bm25 scores a query with a Python loop over every document per query term (tens of ms
at 10k chunks); here the per-term weights are precomputed into a CSR matrix, so a query is
one sparse row-sum (well under a millisecond).
"""

from __future__ import annotations

import re

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


class BM25Index:
    def __init__(self, texts: list[str], k1: float = 1.5, b: float = 0.75) -> None:
        from scipy.sparse import csr_matrix

        docs = [tokenize(t) for t in texts]
        self.n_docs = len(docs)
        vocab: dict[str, int] = {}
        rows, cols, tfs = [], [], []
        for d, tokens in enumerate(docs):
            counts: dict[int, int] = {}
            for tok in tokens:
                idx = vocab.setdefault(tok, len(vocab))
                counts[idx] = counts.get(idx, 0) + 1
            for idx, tf in counts.items():
                rows.append(idx)
                cols.append(d)
                tfs.append(tf)
        self.vocab = vocab
        lengths = np.array([len(t) for t in docs], dtype=np.float32)
        avgdl = float(lengths.mean()) if len(docs) else 1.0
        tf = np.array(tfs, dtype=np.float32)
        col = np.array(cols, dtype=np.int64)
        df = np.bincount(np.array(rows, dtype=np.int64), minlength=len(vocab)).astype(np.float32)
        idf = _idf(self.n_docs, df)
        norm = k1 * (1.0 - b + b * lengths[col] / max(avgdl, 1e-9))
        weights = idf[np.array(rows, dtype=np.int64)] * tf * (k1 + 1.0) / (tf + norm)
        self.matrix = csr_matrix(
            (weights, (np.array(rows), col)), shape=(len(vocab), self.n_docs), dtype=np.float32
        )

    def idf(self, token: str) -> float:
        """A token's IDF here: a word few passages use weighs more; unknown words the most."""
        i = self.vocab.get(token)
        rows = self.matrix.indptr  # one row per vocabulary word: its length is the word's df
        return float(_idf(self.n_docs, 0 if i is None else int(rows[i + 1] - rows[i])))

    def scores(self, query: str) -> np.ndarray:
        ids = [self.vocab[t] for t in tokenize(query) if t in self.vocab]
        if not ids or self.n_docs == 0:
            return np.zeros(self.n_docs, dtype=np.float32)
        return np.asarray(self.matrix[ids].sum(axis=0)).ravel()

    def top(self, query: str, n: int) -> list[tuple[int, float]]:
        """(document index, score) of the best `n` documents with a positive score."""
        s = self.scores(query)
        if n <= 0 or not s.any():
            return []
        n = min(n, len(s))
        idx = np.argpartition(-s, n - 1)[:n]
        idx = idx[np.argsort(-s[idx], kind="stable")]
        return [(int(i), float(s[i])) for i in idx if s[i] > 0]
