"""File readers: turn one file into text plus front-matter metadata, or say why not.

llama-index-core ships no PDF or HTML reader without extra packages, and its plain-text
reader hides decoding problems; these thin readers make every failure a one-line reason.
"""

from __future__ import annotations

import logging
import stat
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import IngestFileError
from ingest.frontmatter import parse_front_matter

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
    """Split a leading `---` YAML block from the body (see `ingest.frontmatter`)."""
    meta, body, warnings = parse_front_matter(text)
    for warning in warnings:
        log.warning(warning)
    return meta, body


def _read_pdf(raw: bytes, label: str) -> str:
    import io

    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(raw))
        pages = [page.extract_text() or "" for page in reader.pages]
    except RecursionError as exc:  # deeply nested objects: not caught by the generic branch
        raise IngestFileError(label, "corrupt or unreadable PDF (nested too deeply)") from exc
    except Exception as exc:  # pypdf raises many types on mutated files (LimitReachedError,
        # NotImplementedError, AttributeError...): each is this one file's failure
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


def read_file(path: Path, label: str, max_bytes: int, raw: bytes | None = None) -> ReadResult:
    """Read one supported file. Raises IngestFileError with a one-line reason.

    `raw`: the file's bytes, already read (the ingest hashes and parses the same bytes, so a
    file edited meanwhile is never stored under the hash of another version). Without it the
    size is checked before the file is read.
    """
    if raw is None:
        raw = read_bytes_checked(path, label, max_bytes)
    if not raw:
        raise IngestFileError(label, "empty file")
    if len(raw) > max_bytes:
        raise IngestFileError(label, too_large(len(raw), max_bytes))
    suffix = path.suffix.lower()
    if suffix in PDF_SUFFIXES:
        text, meta, warnings = _read_pdf(raw, label), {}, []
    else:
        decoded, warnings = _decode(raw, label)
        if suffix in HTML_SUFFIXES:
            meta, text = _read_html(decoded)
        else:
            meta, text, fm_warnings = parse_front_matter(decoded, label)
            warnings += fm_warnings
    if not text.strip():
        raise IngestFileError(label, "no text content")
    for warning in warnings:
        log.warning(warning)
    return ReadResult(text=text, metadata=meta, warnings=warnings)


def too_large(size: int, max_bytes: int) -> str:
    # MB as the limit is set (MLSD_MAX_FILE_MB, binary megabytes), so the numbers agree
    limit = f"limit {max_bytes / 2**20:g} MB, MLSD_MAX_FILE_MB"
    return f"too large ({size / 2**20:.1f} MB > {limit})"


def file_kind(mode: int) -> str:
    """What a non-regular file is, for messages."""
    for test, name in (
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISDIR, "directory"),
    ):
        if test(mode):
            return name
    return "special file"


def read_bytes_checked(path: Path, label: str, max_bytes: int) -> bytes:
    """The file's bytes, read once, after checking (stat) that it is a regular file within the
    size limit: a 3 GB file is refused before a byte is read, and a FIFO never blocks."""
    try:
        info = path.stat()
    except OSError as exc:
        raise IngestFileError(label, f"cannot read ({exc.strerror})") from exc
    if not stat.S_ISREG(info.st_mode):
        raise IngestFileError(label, f"not a regular file ({file_kind(info.st_mode)})")
    if info.st_size == 0:
        raise IngestFileError(label, "empty file")
    if info.st_size > max_bytes:
        raise IngestFileError(label, too_large(info.st_size, max_bytes))
    try:
        with path.open("rb") as fh:
            raw = fh.read(max_bytes + 1)  # a file growing meanwhile is still bounded
    except OSError as exc:
        raise IngestFileError(label, f"cannot read ({exc.strerror})") from exc
    if len(raw) > max_bytes:
        raise IngestFileError(label, too_large(max(len(raw), info.st_size), max_bytes))
    return raw
