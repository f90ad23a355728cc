"""Text crossing the terminal boundary, both ways.

Out: passages, file names, model output and error messages can carry terminal control
sequences (OSC 52 writes the clipboard, OSC 8 hides a link behind harmless text, OSC 0/2 set
the window title, CSI moves the cursor or clears the screen, a bare CR overwrites a line).
`terminal_safe` removes them, whole, plus every other C0/C1 control except newline and tab,
and the bidirectional overrides that reorder what is shown. JSON output keeps the data but
escapes those characters (`json_safe`).

In: bytes that are not UTF-8 in arguments (Python hands them over as lone surrogates) or on
stdin become U+FFFD with one warning line naming the input (`repair_text`); a command never
crashes on them, and `mlsd chat` goes on to the next line.
"""

from __future__ import annotations

import contextlib
import re
import sys

import typer

# CSI: ESC [ (or 8-bit 0x9b), parameter bytes, intermediate bytes, a final byte.
# OSC, DCS, SOS, PM, APC: ESC ] P X ^ _ (or 0x9d 0x90 0x98 0x9e 0x9f) up to BEL or ST (ESC \,
# 0x9c); an unterminated one runs to the end of the text, as a terminal would swallow it.
# Other escapes: ESC, intermediates, one final byte (charset switches, ESC c resets).
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def terminal_safe(text: str) -> str:
    """Untrusted text for a terminal: control sequences and controls removed (newline and tab
    kept). Safe to apply chunk by chunk: a sequence split across chunks loses its ESC."""
    return _CONTROL.sub("", _SEQUENCE.sub("", text))


def json_safe(serialized: str) -> str:
    """JSON text with the controls json.dumps(ensure_ascii=False) leaves raw (DEL, C1, bidi
    overrides) written as \\u escapes: the same data, inert on a terminal. They can only occur
    inside strings, so the result is valid JSON."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", serialized)


def echo(text: str = "", err: bool = False, nl: bool = True) -> None:
    """typer.echo of untrusted text, made terminal-safe."""
    typer.echo(terminal_safe(text), err=err, nl=nl)


def repair_text(text: str, what: str) -> str:
    """`text` with lone surrogates (undecodable bytes) replaced by U+FFFD; warns once on
    stderr naming `what` (e.g. "the question") when any were found."""
    if not _SURROGATE.search(text):
        return text
    fixed = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    fixed = _SURROGATE.sub("\ufffd", fixed)  # surrogates that were never bytes
    warning = f"warning: {terminal_safe(what)} has bytes that are not UTF-8 (replaced by \ufffd)"
    typer.echo(warning, err=True)
    return fixed


def lenient_stdin() -> None:
    """Read stdin as UTF-8 with undecodable bytes kept as surrogates (`repair_text` turns them
    into U+FFFD), whatever the locale: a bad byte must not end `mlsd chat`."""
    reconfigure = getattr(sys.stdin, "reconfigure", None)
    if reconfigure is not None:
        # ValueError/OSError: already read from, or not a real text stream
        with contextlib.suppress(ValueError, OSError):
            reconfigure(encoding="utf-8", errors="surrogateescape")


def lenient_output() -> None:
    """stdout/stderr replace what they cannot encode instead of raising mid-answer."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="replace")
