"""Check that corpus documents share no run of N words with reference articles.

Usage: python scripts/check_originality.py SEEDS_DIR [CORPUS_DIR] [--n 12]

Exits 1 and lists each shared run when any corpus file repeats N consecutive words
(case and punctuation folded) from any seed file. The seeds are domain references the
corpus must not copy from; they are not part of the product and are not needed to run it.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words(text: str) -> list[str]:
    return WORD.findall(text.lower().replace("\u2019", "'"))


def ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def shared_runs(seeds_dir: Path, corpus_dir: Path, n: int = 12) -> dict[str, list[str]]:
    seed_grams: set[tuple[str, ...]] = set()
    for seed in sorted(seeds_dir.glob("*")):
        if seed.is_file():
            seed_grams |= ngrams(words(seed.read_text(errors="replace")), n)
    found: dict[str, list[str]] = {}
    for doc in sorted(corpus_dir.rglob("*.md")):
        hits = ngrams(words(doc.read_text(errors="replace")), n) & seed_grams
        if hits:
            found[str(doc.relative_to(corpus_dir))] = sorted(" ".join(h) for h in hits)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seeds", type=Path)
    parser.add_argument(
        "corpus", type=Path, nargs="?", default=Path(__file__).parents[1] / "corpus"
    )
    parser.add_argument("--n", type=int, default=12)
    args = parser.parse_args()
    found = shared_runs(args.seeds, args.corpus, args.n)
    for doc, runs in found.items():
        for run in runs:
            print(f"{doc}: {run}")
    print(f"{sum(map(len, found.values()))} shared {args.n}-word runs in {len(found)} files")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
