"""Heading-aware chunking sized by the embedding model: split on headings, then by size.

Sizes are counted in the embedding model's own tokenizer (`ingest.embeddings.TokenBudget`):
what gets embedded is `Chunk.embed_text` (heading path + newline + text), and it never holds
more word pieces than the model's window (`max_seq_length` minus its special tokens), so no
text of a chunk is cut off by the model. `chunk_size` caps that further (0: the window).

Text without markdown headings gets sections from `ingest.sections` first. A heading with
no text of its own is merged into the next section (no heading-only chunks), and an enormous
section is cut into bounded pieces before the sentence splitter sees it (nltk's regexes run
under a timeout that a multi-megabyte line trips).

Every chunk carries `source`, `title`, `section` (heading path such as
`Delivery framework > Data and features > Labels`), `doc_type`, `chunk_index`,
`content_hash`; ids are stable (source + index + hash), so a re-ingest of the same text
produces the same ids.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass

from ingest.sections import humanised_name, structure

log = logging.getLogger(__name__)

DOC_TYPES = {"framework", "concept", "solution"}
# Bump when chunk boundaries or metadata change, so stores re-chunk files whose bytes did not.
CHUNKER_VERSION = 3
MAX_PIECE_CHARS = 20_000  # what the sentence splitter gets at once (a few dozen chunks)
MAX_UNBROKEN_CHARS = 200  # longer runs without whitespace are cut by tokens, not by sentences
MIN_SECTION_TOKENS = 24  # an untitled preamble shorter than this joins the first section
MAX_LABEL_SHARE = 3  # the heading path takes at most 1/3 of an embedded text


@dataclass(frozen=True)
class Chunk:
    id: str
    text: str
    metadata: dict

    @property
    def embed_text(self) -> str:
        """What the embedding model sees: the heading path gives a short section its topic."""
        return f"{self.metadata['section']}\n{self.text}"


def _budget(model: str | None):
    from core.settings import default_embed_model
    from ingest.embeddings import load_token_budget

    return load_token_budget(model or default_embed_model())


def chunk_limit(chunk_size: int, model: str | None = None) -> int:
    """Word pieces one embedded text may hold: the model's window, or `chunk_size` if smaller."""
    window = _budget(model).window
    return min(chunk_size, window) if chunk_size > 0 else window


def file_fingerprint(
    raw: bytes, chunk_size: int, chunk_overlap: int, model: str | None = None
) -> str:
    """What a file's stored chunks depend on: its bytes, the chunker, the chunk settings and
    the embedding model's tokenizer and window."""
    digest = hashlib.sha256(raw)
    digest.update(f"|chunker={CHUNKER_VERSION}|size={chunk_size}|overlap={chunk_overlap}".encode())
    digest.update(f"|tokens={_budget(model).key}".encode())
    return digest.hexdigest()


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chunk_id(source: str, index: int, text_hash: str) -> str:
    return f"{source}::{index:04d}::{text_hash[:12]}"


_splitters: dict[tuple[str, int, int], object] = {}


def _splitter(budget, chunk_size: int, chunk_overlap: int):
    from llama_index.core.node_parser import SentenceSplitter

    key = (budget.key, chunk_size, chunk_overlap)
    if key not in _splitters:
        _splitters[key] = SentenceSplitter(
            chunk_size=chunk_size, chunk_overlap=chunk_overlap, tokenizer=budget.tokens
        )
    return _splitters[key]


def _heading_of(text: str) -> tuple[str | None, str]:
    first, _, rest = text.partition("\n")
    if first.startswith("#"):
        return first.lstrip("#").strip(), rest.strip()
    return None, text.strip()


# llama-index joins heading paths with "/" by default, which splits headings like "A/B tests".
_PATH_SEP = "\u241f"


def _sections(text: str) -> list[tuple[list[str], str, str]]:
    """(heading path, section text including its heading line, body) per markdown section."""
    from llama_index.core import Document
    from llama_index.core.node_parser import MarkdownNodeParser

    parser = MarkdownNodeParser(include_metadata=True, header_path_separator=_PATH_SEP)
    nodes = parser.get_nodes_from_documents([Document(text=text)])
    out = []
    for node in nodes:
        parents = [p for p in node.metadata.get("header_path", "").split(_PATH_SEP) if p]
        heading, body = _heading_of(node.text)
        out.append((parents + ([heading] if heading else []), node.text.strip(), body))
    return out


def _merge_small(sections: list[tuple[list[str], str, str]], budget) -> list[tuple[list, str]]:
    """Join sections that mean little alone to the next one: a heading with no text under it
    (it introduces what follows) and a short untitled preamble (a menu, a byline)."""
    merged: list[tuple[list[str], str]] = []
    carry = ""
    for i, (path, text, body) in enumerate(sections):
        text = f"{carry}\n\n{text}".strip() if carry else text
        carry = ""
        preamble = not path and budget.count(body) < MIN_SECTION_TOKENS
        if (not body or preamble) and i + 1 < len(sections):
            carry = text
            continue
        if not body and merged:  # a last heading with nothing under it
            merged[-1] = (merged[-1][0], f"{merged[-1][1]}\n\n{text}")
            continue
        merged.append((path, text))
    return merged


def _bounded(text: str, limit: int = MAX_PIECE_CHARS) -> list[str]:
    """Cut `text` into pieces of at most `limit` characters, at a paragraph, line, sentence
    or word boundary when there is one in the second half of the window."""
    pieces = []
    while len(text) > limit:
        window = text[:limit]
        cut = -1
        for sep in ("\n\n", "\n", ". ", " "):
            at = window.rfind(sep, limit // 2)
            if at > 0:
                cut = at + len(sep)
                break
        cut = cut if cut > 0 else limit
        pieces.append(text[:cut])
        text = text[cut:]
    pieces.append(text)
    return [p for p in pieces if p.strip()]


_UNBROKEN = re.compile(rf"\S{{{MAX_UNBROKEN_CHARS},}}")


def _split_by_tokens(text: str, size: int, overlap: int, budget) -> list[str]:
    """Windows of `size` word pieces (with `overlap`), cut at token boundaries."""
    offsets = budget.offsets(text)
    size = max(1, size)
    step = max(1, size - overlap)
    pieces = []
    for start in range(0, len(offsets), step):
        end = min(start + size, len(offsets))
        piece = text[offsets[start][0] : offsets[end - 1][1]].strip()
        if piece:
            while budget.count(piece) > size and len(piece) > 1:  # re-tokenized cut differs
                piece = piece[: int(len(piece) * 0.9)].strip()
            pieces.append(piece)
        if end == len(offsets):
            break
    return pieces


def _fit_label(label: str, limit: int, budget) -> str:
    """The heading path, shortened to its last heading (then cut) if it would crowd the text."""
    most = max(1, limit // MAX_LABEL_SHARE)
    if budget.count(label) <= most:
        return label
    label = label.rsplit(" > ", 1)[-1]
    if budget.count(label) <= most:
        return label
    return _split_by_tokens(label, most, 0, budget)[0]


def _split_section(text: str, label: str, limit: int, overlap: int, budget) -> list[str]:
    room = max(1, limit - budget.count(label))
    overlap = max(0, min(overlap, room // 4))
    out = []
    for piece in _bounded(text):
        if _UNBROKEN.search(piece) or room < 16:
            parts = _split_by_tokens(piece, room, overlap, budget)
        else:
            try:
                parts = _splitter(budget, room, overlap).split_text(piece)
            except (ValueError, TimeoutError) as exc:  # an unsplittable unit, a slow regex
                log.warning("sentence splitting failed (%s); cutting by tokens", exc)
                parts = _split_by_tokens(piece, room, overlap, budget)
        # The splitter's pieces join splits cut at spaces or punctuation, where word pieces
        # never straddle, so a piece's count is the sum it checked; only a word it had to cut
        # by characters (a space-free run as long as the room) can re-tokenize longer.
        long_word = re.compile(rf"\S{{{min(room, MAX_UNBROKEN_CHARS)},}}")
        for part in (p.strip() for p in parts):
            if not part:
                continue
            if long_word.search(part) and budget.count(f"{label}\n{part}") > limit:
                out.extend(_split_by_tokens(part, room, overlap, budget))
            else:
                out.append(part)
    return out


def prepared_text(text: str) -> str:
    """The markdown the chunker splits: `text` with detected headings when it has none."""
    return structure(text).text


def chunk_document(
    text: str,
    source: str,
    front_matter: dict,
    file_hash: str,
    chunk_size: int,
    chunk_overlap: int,
    model: str | None = None,
) -> list[Chunk]:
    """Split one document's text into chunks with full metadata.

    `model` names the embedding model whose tokenizer and window size the chunks (default:
    the shipped model); `chunk_size` > 0 caps a chunk's word pieces below that window.
    """
    budget = _budget(model)
    limit = chunk_limit(chunk_size, model)
    structured = structure(text)
    sections = _sections(structured.text)
    first_h1 = next((path[0] for path, _, _ in sections if path), None)
    title = front_matter.get("title") or structured.title
    if not title and not structured.detected:
        title = first_h1
    title = str(title or humanised_name(source)).strip()
    doc_type = str(front_matter.get("type", "other")).strip().lower()
    doc_type = doc_type if doc_type in DOC_TYPES else "other"
    stages = front_matter.get("stages") or []
    tags = front_matter.get("tags") or []
    as_list = lambda v: ",".join(map(str, v)) if isinstance(v, list) else str(v)  # noqa: E731

    pieces: list[tuple[str, str]] = []
    merged = _merge_small(sections, budget) or [([], structured.text)]
    for path, section_text in merged:
        if path and path[0] == first_h1 and (structured.title or not structured.detected):
            path = [title, *path[1:]]  # the front-matter title names the document
        label = _fit_label(" > ".join(path) if path else title, limit, budget)
        for piece in _split_section(section_text, label, limit, chunk_overlap, budget):
            pieces.append((label, piece))

    chunks = []
    for index, (section, piece) in enumerate(pieces):
        h = content_hash(piece)
        meta = {
            "source": source,
            "title": title,
            "section": section,
            "doc_type": doc_type,
            "chunk_index": index,
            "content_hash": h,
            "file_hash": file_hash,
            "n_chunks": len(pieces),
            "stages": as_list(stages),
            "tags": as_list(tags),
        }
        chunks.append(Chunk(id=chunk_id(source, index, h), text=piece, metadata=meta))
    return chunks
