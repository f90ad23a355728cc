"""Chunk benchmark (issue #14): how much text the embedder never sees, chunk counts, sections.

For each corpus (the shipped `corpus/`, `../shared/seeds`, `../shared/dev-corpus/notes`; a
missing folder is skipped and reported) every file is read and chunked as `mlsd ingest` does.
Each chunk's `embed_text` is counted with the embedding model's own tokenizer; what lies past
`max_seq_length` is cut off by the model. "never embedded" is the share of the chunked text's
non-space characters that no chunk's embedded part covers (overlap can rescue a cut tail).

    .venv/bin/python bench/bench_chunks.py --label after   # merges into bench/results/chunks.json
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.settings import Settings  # noqa: E402

CORPORA = {
    "corpus": ROOT / "corpus",
    "seeds": ROOT.parent / "shared" / "seeds",
    "notes": ROOT.parent / "shared" / "dev-corpus" / "notes",
}
OUT = ROOT / "bench" / "results" / "chunks.json"


def _chunk(doc, source: str, settings: Settings):
    from ingest import chunking

    args = [doc.text, source, doc.metadata, "h", settings.chunk_size, settings.chunk_overlap]
    if "model" in inspect.signature(chunking.chunk_document).parameters:
        return chunking.chunk_document(*args, model=settings.embed_model)
    return chunking.chunk_document(*args)


def _base_text(text: str) -> str:
    """The text the chunker splits (with detected headings, when the chunker adds them)."""
    from ingest import chunking

    prepare = getattr(chunking, "prepared_text", None)
    return prepare(text) if prepare else text


def _embedded_chars(chunk, budget) -> int:
    """How many characters of `chunk.text` fall inside the model's window."""
    embed_text = chunk.embed_text.strip()
    offsets = budget.offsets(embed_text)
    if len(offsets) <= budget.window:
        return len(chunk.text)
    cut = offsets[budget.window][0]  # first character of the first token past the window
    prefix = len(embed_text) - len(embed_text.lstrip()) + len(chunk.metadata["section"]) + 1
    return max(0, cut - prefix)


def measure(folder: Path, settings: Settings, budget) -> dict:
    from ingest.readers import is_supported, read_file

    files = [
        (path, path.relative_to(folder).as_posix())
        for path in sorted(folder.rglob("*"))
        if path.is_file() and is_supported(path)
    ]
    chunk_tokens: list[int] = []
    covered_total = embedded_total = 0
    over = 0
    cut_tokens = 0
    files_out = {}
    for path, source in files:
        if path.resolve() == settings.rubric_path.resolve():
            continue
        doc = read_file(path, source, 10**8)
        chunks = _chunk(doc, source, settings)
        base = _base_text(doc.text)
        chunked = [0] * len(base)  # 1: inside some chunk, 2: inside some chunk's embedded part
        cursor = 0
        for chunk in chunks:
            n = budget.embedded_count(chunk.embed_text)
            chunk_tokens.append(n)
            over += n > budget.max_seq_length
            cut_tokens += max(0, n - budget.max_seq_length)
            start = base.find(chunk.text, cursor)
            if start < 0:
                start = base.find(chunk.text)
            if start < 0:
                continue
            cursor = start
            end_embedded = start + _embedded_chars(chunk, budget)
            for i in range(start, start + len(chunk.text)):
                chunked[i] = max(chunked[i], 2 if i < end_embedded else 1)
        covered = sum(1 for i, c in enumerate(base) if chunked[i] and not c.isspace())
        embedded = sum(1 for i, c in enumerate(base) if chunked[i] == 2 and not c.isspace())
        covered_total += covered
        embedded_total += embedded
        sections = list(dict.fromkeys(c.metadata["section"] for c in chunks))
        files_out[source] = {
            "title": chunks[0].metadata["title"] if chunks else None,
            "chunks": len(chunks),
            "never_embedded": round(1 - embedded / covered, 4) if covered else 0.0,
            "sections": sections,
        }
    return {
        "files": len(files_out),
        "chunks": len(chunk_tokens),
        "chunks_over_window": over,
        "tokens_per_chunk": {
            "min": min(chunk_tokens, default=0),
            "median": statistics.median(chunk_tokens) if chunk_tokens else 0,
            "max": max(chunk_tokens, default=0),
        },
        "chunks_under_32_tokens": sum(1 for n in chunk_tokens if n < 32),
        "never_embedded": round(1 - embedded_total / covered_total, 4) if covered_total else 0.0,
        # the same per chunk, in tokens, without crediting the overlap that repeats a cut tail
        "tokens_past_window": round(cut_tokens / max(1, sum(chunk_tokens)), 4),
        "per_file": files_out,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="after", help="key in chunks.json (before/after)")
    args = parser.parse_args()
    from ingest.embeddings import load_token_budget

    settings = Settings()
    budget = load_token_budget(settings.embed_model)
    result = {
        "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
        "max_seq_length": budget.max_seq_length,
        "corpora": {},
        "skipped": [],
    }
    for name, folder in CORPORA.items():
        if not folder.is_dir():
            result["skipped"].append(f"{name}: {folder} absent")
            print(f"skip {name}: {folder} absent")
            continue
        result["corpora"][name] = stats = measure(folder, settings, budget)
        print(
            f"{name:7s} files {stats['files']:3d} chunks {stats['chunks']:4d} "
            f"over window {stats['chunks_over_window']:3d} "
            f"tiny {stats['chunks_under_32_tokens']:3d} "
            f"never embedded {stats['never_embedded']:.1%} "
            f"(tokens past window {stats['tokens_past_window']:.1%})"
        )
    previous = json.loads(OUT.read_text()) if OUT.exists() else {}
    previous[args.label] = result
    OUT.write_text(json.dumps(previous, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)} [{args.label}]")


if __name__ == "__main__":
    main()
