"""Safe rendering of untrusted text (model output, passages, uploaded designs, file names).

Streamlit renders markdown without raw HTML, but a markdown image still makes the browser
fetch its URL, a link or a bare URL becomes clickable, and `$...$` turns into maths. Every
piece of text that did not come from this code goes through `sanitize_markdown` (blocks) or
`inline` (labels) first:

- images `![alt](url)` become the text "[image: alt]" with the URL shown as inert code;
- links `[text](url)` become "text (`url`)"; bare URLs are wrapped in code (no autolink);
- every other `[` is escaped, so no link, image, reference or footnote can form at all,
  even when a construct is split across stream chunks or lines;
- `<` becomes `&lt;` (no HTML, no `<http://...>` autolinks), `$` is escaped (no maths);
- code spans and fenced code blocks are left exactly as written (they render literally).

`StreamSanitizer` does the same on a token stream: it emits only text whose rendering cannot
change when more text arrives (whole lines, or a line up to its last space when no code
syntax is open), so a partial chunk never renders as something the full text would not.
"""

from __future__ import annotations

import re

ASCII_PUNCTUATION = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_CHAR_ESCAPES = {"[": "\\[", "]": "\\]", "<": "&lt;", "$": "\\$"}
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_IMAGE = r"!\[(?P<alt>[^\[\]\n]*)\]\(\s*<?(?P<src>[^)\s>]*)>?(?:\s+[\"'(][^\n]*?[\"')])?\s*\)"
_LINK = r"\[(?P<text>[^\[\]\n]*)\]\(\s*<?(?P<href>[^)\s>]*)>?(?:\s+[\"'(][^\n]*?[\"')])?\s*\)"
_URL = r"(?P<url>(?:https?|ftp)://[^\s<>`]+|\bwww\.[^\s<>`]+)"
_INLINE = re.compile(f"{_IMAGE}|{_LINK}|{_URL}", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\")]*_~"


def _escape_text(text: str) -> str:
    """Escape link, HTML and maths syntax in plain text; keep existing backslash escapes."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "\\":
            if i + 1 < n and text[i + 1] in ASCII_PUNCTUATION:
                out.append(text[i : i + 2])  # already an escape: keep the pair as it is
                i += 2
                continue
            # a lone backslash at the end of a piece could escape what we append next
            out.append("&#92;" if i + 1 == n else char)
        else:
            out.append(_CHAR_ESCAPES.get(char, char))
        i += 1
    return "".join(out)


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def _neutralize(text: str) -> str:
    """Turn images, links and bare URLs into inert text, and escape everything else."""
    out: list[str] = []
    last = 0
    for match in _INLINE.finditer(text):
        out.append(_escape_text(text[last : match.start()]))
        last = match.end()
        if match.group("src") is not None or match.group("alt") is not None:
            alt = match.group("alt").strip() or "image"
            src = match.group("src") or ""
            shown = f"\\[image: {_escape_text(alt)}\\]"
            out.append(shown + (f" ({_code(src)})" if src else ""))
        elif match.group("href") is not None or match.group("text") is not None:
            label, href = match.group("text"), match.group("href") or ""
            shown = _escape_text(label)
            out.append(f"{shown} ({_code(href)})" if href and href != label else shown)
        else:
            url = match.group("url")
            stripped = url.rstrip(_URL_TRAILING)
            out.append(_code(stripped) + _escape_text(url[len(stripped) :]))
    out.append(_escape_text(text[last:]))
    return "".join(out)


def _split_code_spans(line: str) -> list[tuple[bool, str]]:
    """(is_code, piece) pairs following CommonMark code-span rules within one line."""
    pieces: list[tuple[bool, str]] = []
    i, start, n = 0, 0, len(line)
    while i < n:
        char = line[i]
        if char == "\\" and i + 1 < n and line[i + 1] in ASCII_PUNCTUATION:
            i += 2  # an escaped backtick cannot open a code span
            continue
        if char != "`":
            i += 1
            continue
        run_end = i
        while run_end < n and line[run_end] == "`":
            run_end += 1
        run = run_end - i
        k, close = run_end, -1
        while k < n:  # the closing run must have exactly the same length
            if line[k] == "`":
                m = k
                while m < n and line[m] == "`":
                    m += 1
                if m - k == run:
                    close = k
                    break
                k = m
            else:
                k += 1
        if close < 0:
            i = run_end  # unmatched backticks are literal text
            continue
        pieces.append((False, line[start:i]))
        pieces.append((True, line[i : close + run]))
        i = start = close + run
    pieces.append((False, line[start:]))
    return pieces


def _sanitize_line(line: str) -> str:
    return "".join(
        piece if is_code else _neutralize(piece) for is_code, piece in _split_code_spans(line)
    )


class StreamSanitizer:
    """Sanitize markdown that arrives in chunks; `feed` returns what is safe to show now."""

    def __init__(self) -> None:
        self._buffer = ""
        self._fence: str | None = None  # the opening fence while inside a fenced block
        self._mid_line = False  # part of the current line was already emitted

    def feed(self, text: str) -> str:
        self._buffer += text
        out: list[str] = []
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            out.append(self._line(line) + "\n")
            self._mid_line = False
        out.append(self._partial())
        return "".join(out)

    def flush(self) -> str:
        line, self._buffer = self._buffer, ""
        return self._line(line) if line else ""

    def _line(self, line: str) -> str:
        if self._mid_line:
            return _sanitize_line(line)
        if self._fence is not None:
            stripped = line.strip()
            if stripped and set(stripped) == {self._fence[0]} and len(stripped) >= len(self._fence):
                self._fence = None
            return line  # code inside a fence renders literally
        opening = _FENCE_OPEN.match(line)
        if opening and not (opening.group(1)[0] == "`" and "`" in line[opening.end() :]):
            self._fence = opening.group(1)
            return line
        return _sanitize_line(line)

    def _partial(self) -> str:
        """Emit the current line up to its last space when nothing there can change meaning."""
        buf = self._buffer
        if self._fence is not None or "`" in buf or " " not in buf:
            return ""
        if not self._mid_line:
            head = buf.lstrip(" ")
            if not head or (len(buf) - len(head) <= 3 and head[0] in "`~"):
                return ""  # may still become a fence line
        cut = buf.rfind(" ") + 1  # URLs hold no spaces, so a cut never splits one
        piece, self._buffer = buf[:cut], buf[cut:]
        self._mid_line = True
        return _sanitize_line(piece)


def sanitize_markdown(text: str | None) -> str:
    """Markdown that displays the same words but cannot fetch, link, run HTML or do maths."""
    if not text:
        return ""
    sanitizer = StreamSanitizer()
    return sanitizer.feed(text) + sanitizer.flush()


_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


def demote_headings(text: str) -> str:
    """Headings as bold lines: a passage's `## Section` should not shout inside a card."""
    return _HEADING.sub(lambda m: f"**{m.group(1)}**", text)


def inline(text: str | None, limit: int = 160) -> str:
    """One safe line for labels (expander, status, badge): no newlines, bounded length."""
    flat = " ".join(str(text or "").split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return sanitize_markdown(flat)


# -- Streamlit pieces built on the sanitizer ------------------------------------------------
def markdown(text: str | None, container=None) -> None:
    """Render untrusted markdown safely (in `container`, default the current one)."""
    import streamlit as st

    (container or st).markdown(sanitize_markdown(text))


def source_cards(citations: list[dict], container=None) -> None:
    """One collapsible card per citation: source, section and the cited passage."""
    import streamlit as st

    where = container or st
    if not citations:
        return
    where.markdown("**Sources**")
    for cite in citations:
        title = f"[{cite.get('n', '?')}] {cite.get('source', '')} — {cite.get('section', '')}"
        with where.expander(inline(title), icon=":material/description:"):
            passage = demote_headings(cite.get("text") or "_(passage not included)_")
            st.markdown(sanitize_markdown(passage))
            if cite.get("chunk_id"):
                st.caption(f"chunk {inline(cite['chunk_id'])}")


def mode_badge(meta: dict, container=None) -> None:
    """offline / LLM model name / fallback with its reason, plus the answer time."""
    import streamlit as st

    where = container or st
    seconds = meta.get("seconds")
    took = f" · {seconds:.1f} s" if isinstance(seconds, int | float) and seconds else ""
    if meta.get("fallback_reason"):
        reason = inline(meta["fallback_reason"], 100)
        where.badge(f"offline fallback: {reason}{took}", icon=":material/warning:", color="orange")
    elif meta.get("mode") == "llm":
        model = inline(meta.get("model") or "LLM", 60)
        where.badge(f"LLM · {model}{took}", icon=":material/smart_toy:", color="blue")
    else:
        where.badge(f"offline{took}", icon=":material/cloud_off:", color="gray")
