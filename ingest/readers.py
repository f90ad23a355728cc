"""File readers: turn one file into text plus front-matter metadata, or say why not.

llama-index-core ships no PDF or HTML reader without extra packages, and its plain-text
reader hides decoding problems; these thin readers make every failure a one-line reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from core.errors import IngestFileError

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".md", ".markdown", ".txt"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES


@dataclass
class ReadResult:
    text: str
    metadata: dict = field(default_factory=dict)  # front matter (title, type, stages, tags...)
    warnings: list[str] = field(default_factory=list)


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def _decode(raw: bytes, label: str) -> tuple[str, list[str]]:
    if b"\x00" in raw[:8192]:
        raise IngestFileError(label, "binary content in a text file (NUL bytes)")
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        # cp1252 covers most legacy Western text; latin-1 never fails as the last resort.
        for encoding in ("cp1252", "latin-1"):
            try:
                return raw.decode(encoding), [f"{label}: not valid UTF-8, decoded as {encoding}"]
            except UnicodeDecodeError:
                continue
    raise IngestFileError(label, "undecodable text")  # pragma: no cover - latin-1 always decodes


def split_front_matter(text: str) -> tuple[dict, str]:
    """Split a leading `---` YAML block from the body. Malformed front matter is kept as text."""
    if not text.startswith("---"):
        return {}, text
    end = text.find("\n---", 3)
    if end == -1:
        return {}, text
    try:
        meta = yaml.safe_load(text[3:end]) or {}
    except yaml.YAMLError:
        return {}, text
    if not isinstance(meta, dict):
        return {}, text
    body = text[end + 4 :].lstrip("-").lstrip("\n")
    return meta, body


def _read_pdf(path: Path, label: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, OSError, TypeError) as exc:
        raise IngestFileError(label, f"corrupt or unreadable PDF ({type(exc).__name__})") from exc
    return "\n\n".join(p.strip() for p in pages if p.strip())


def _read_html(raw_text: str) -> tuple[dict, str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw_text, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "iframe"]):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else ""
    # Keep headings as markdown headings so chunking stays heading-aware.
    for level in range(1, 7):
        for h in soup.find_all(f"h{level}"):
            h.replace_with(f"\n\n{'#' * level} {h.get_text(' ', strip=True)}\n\n")
    text = soup.get_text("\n")
    lines = [line.strip() for line in text.splitlines()]
    body = "\n".join(lines)
    while "\n\n\n" in body:
        body = body.replace("\n\n\n", "\n\n")
    return ({"title": title} if title else {}), body.strip()


def read_file(path: Path, label: str, max_bytes: int) -> ReadResult:
    """Read one supported file. Raises IngestFileError with a one-line reason."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise IngestFileError(label, f"cannot read ({exc.strerror})") from exc
    if size == 0:
        raise IngestFileError(label, "empty file")
    if size > max_bytes:
        # MB as the limit is set (MLSD_MAX_FILE_MB, binary megabytes), so the numbers agree
        limit = f"limit {max_bytes / 2**20:g} MB, MLSD_MAX_FILE_MB"
        raise IngestFileError(label, f"too large ({size / 2**20:.1f} MB > {limit})")
    suffix = path.suffix.lower()
    if suffix in PDF_SUFFIXES:
        text, meta, warnings = _read_pdf(path, label), {}, []
    else:
        raw = path.read_bytes()
        decoded, warnings = _decode(raw, label)
        if suffix in HTML_SUFFIXES:
            meta, text = _read_html(decoded)
        else:
            meta, text = split_front_matter(decoded)
    if not text.strip():
        raise IngestFileError(label, "no text content")
    for warning in warnings:
        log.warning(warning)
    return ReadResult(text=text, metadata=meta, warnings=warnings)
