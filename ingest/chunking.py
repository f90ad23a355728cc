"""Heading-aware chunking with llama-index: split on markdown headings, then by size.

Every chunk carries `source`, `title`, `section` (heading path such as
`Delivery framework > Data and features > Labels`), `doc_type`, `chunk_index`,
`content_hash`; ids are stable (source + index + hash), so a re-ingest of the same text
produces the same ids.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

DOC_TYPES = {"framework", "concept", "solution"}
# Bump when chunk boundaries or metadata change, so stores re-chunk files whose bytes did not.
CHUNKER_VERSION = 2


@dataclass(frozen=True)
class Chunk:
    id: str
    text: str
    metadata: dict

    @property
    def embed_text(self) -> str:
        """What the embedding model sees: the heading path gives a short section its topic."""
        return f"{self.metadata['section']}\n{self.text}"


def file_fingerprint(raw: bytes, chunk_size: int, chunk_overlap: int) -> str:
    """What a file's stored chunks depend on: its bytes, the chunker and the chunk settings."""
    digest = hashlib.sha256(raw)
    digest.update(f"|chunker={CHUNKER_VERSION}|size={chunk_size}|overlap={chunk_overlap}".encode())
    return digest.hexdigest()


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chunk_id(source: str, index: int, text_hash: str) -> str:
    return f"{source}::{index:04d}::{text_hash[:12]}"


@lru_cache(maxsize=4)
def _splitter(chunk_size: int, chunk_overlap: int):
    from llama_index.core.node_parser import SentenceSplitter

    return SentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)


def _heading_of(text: str) -> tuple[str | None, str]:
    first, _, rest = text.partition("\n")
    if first.startswith("#"):
        return first.lstrip("#").strip(), rest.strip()
    return None, text.strip()


# llama-index joins heading paths with "/" by default, which splits headings like "A/B tests".
_PATH_SEP = "\u241f"


def _sections(text: str) -> list[tuple[list[str], str]]:
    """(heading path, section text including its heading line) for each markdown section."""
    from llama_index.core import Document
    from llama_index.core.node_parser import MarkdownNodeParser

    parser = MarkdownNodeParser(include_metadata=True, header_path_separator=_PATH_SEP)
    nodes = parser.get_nodes_from_documents([Document(text=text)])
    out = []
    for node in nodes:
        parents = [p for p in node.metadata.get("header_path", "").split(_PATH_SEP) if p]
        heading, body = _heading_of(node.text)
        if not body:  # a heading with nothing under it before the next heading
            continue
        out.append((parents + ([heading] if heading else []), node.text.strip()))
    return out


def chunk_document(
    text: str,
    source: str,
    front_matter: dict,
    file_hash: str,
    chunk_size: int,
    chunk_overlap: int,
) -> list[Chunk]:
    """Split one document's text into chunks with full metadata."""
    fallback_title = source.rsplit("/", 1)[-1].rsplit(".", 1)[0].replace("-", " ").replace("_", " ")
    sections = _sections(text)
    first_h1 = next((path[0] for path, _ in sections if path), None)
    title = str(front_matter.get("title") or first_h1 or fallback_title).strip()
    doc_type = str(front_matter.get("type", "other")).strip().lower()
    doc_type = doc_type if doc_type in DOC_TYPES else "other"
    stages = front_matter.get("stages") or []
    tags = front_matter.get("tags") or []
    as_list = lambda v: ",".join(map(str, v)) if isinstance(v, list) else str(v)  # noqa: E731

    pieces: list[tuple[str, str]] = []
    splitter = _splitter(chunk_size, chunk_overlap)
    for path, section_text in sections or [([], text)]:
        if path and path[0] == first_h1:  # the front-matter title names the document
            path = [title, *path[1:]]
        section = " > ".join(path) if path else title
        for piece in splitter.split_text(section_text):
            if piece.strip():
                pieces.append((section, piece.strip()))

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
