"""`mlsd progress [--json] [--since DATE]` answered before typer is imported.

The summary must come back within a second (issue #18) and typer alone takes a fifth of that
to import. `answer(argv)` handles exactly the read-only summary: `[-v|--verbose] progress`
followed only by `--json` and one `--since DATE` (or `--since=DATE`). Settings are those of
every command (`core.settings.Settings`: MLSD_* variables, `.env`, defaults); after the first
run in an environment, the few values the summary reads come from a snapshot made for that
exact environment (progress/snapshot.py), so neither pydantic nor pydantic-settings loads.
It prints what the typer command prints. Anything else returns None and typer runs the
command as usual: help, other options or commands, a setting or flag that is not valid (typer
prints the one-line error), text carrying terminal controls (typer's path removes them), a
database error (typer's path reports it in one line). A fallback repeats reads; the history
is never written here. Log lines at the level `-v` selects go to stderr in `setup_logging`'s format.

Imports here: standard library, `core.settings` and `progress` only (no typer, no cli.*).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace

# A superset of what cli/terminal.py removes or escapes (C0/C1 controls, DEL, bidi
# overrides and isolates; every escape sequence starts with one of them): text without
# these is printed unchanged by the typer path, so it may be printed here as it is.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u206f]")
_LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"  # cli.common.setup_logging's


class Fallback(Exception):
    """The typer path must answer this command line."""


def _parse(argv: list[str]) -> tuple[bool, bool, str | None]:
    """(verbose, as_json, since) for the handled forms, else Fallback."""
    args = list(argv)
    verbose = False
    while args and args[0] in ("-v", "--verbose"):
        if verbose:
            raise Fallback
        verbose = True
        args.pop(0)
    if not args or args.pop(0) != "progress":
        raise Fallback
    as_json, since = False, None
    while args:
        arg = args.pop(0)
        if arg == "--json" and not as_json:
            as_json = True
        elif arg == "--since" and since is None and args:
            since = args.pop(0)
        elif arg.startswith("--since=") and since is None:
            since = arg[len("--since=") :]
        else:
            raise Fallback
    return verbose, as_json, since


class _Collect(logging.Handler):
    """Log lines of the run, kept until the answer is known to be printable here."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.setFormatter(logging.Formatter(_LOG_FORMAT))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


# The settings the summary reads (a snapshot holds these; any other attribute is a Fallback).
_FIELDS = ("database_url", "database_busy_timeout_s", "history_user", "history_window",
           "rubric_path", "corpus_dir", "store_dir")  # fmt: skip
_PATHS = ("rubric_path", "corpus_dir", "store_dir")


def _settings_key() -> list | None:
    """Everything `Settings()` reads: MLSD_* variables (any case, as pydantic-settings reads
    them), OPENAI_BASE_URL (the endpoint warning; the key's value never matters here, so only
    its presence is kept), the working directory and its `.env`, the code of core/settings.py
    (the defaults)."""
    from progress import snapshot

    env = sorted([k, v] for k, v in os.environ.items() if k.upper().startswith("MLSD_"))
    base_url = [[k, v] for k, v in os.environ.items() if k.upper() == "OPENAI_BASE_URL"]
    has_key = sorted(k for k in os.environ if k.upper() == "OPENAI_API_KEY")
    try:
        dotenv = Path(".env")
        digest = hashlib.sha256(dotenv.read_bytes()).hexdigest() if dotenv.is_file() else None
        return [os.getcwd(), env, base_url, has_key, digest,
                snapshot.code_stamp("core/settings.py")]  # fmt: skip
    except OSError:
        return None


def _check_store_dir(store_dir: Path) -> None:
    for part in (store_dir, *store_dir.parents):
        if part.exists():
            if not part.is_dir():
                raise Fallback  # make_settings: "--store ...: is a file" and exit 2
            return


def _settings():
    """Settings as `cli.common.make_settings` builds them; Fallback where it would stop.
    With a snapshot of the same environment (progress.snapshot), the values the summary
    reads come back without importing pydantic; else `Settings()` runs and is snapshotted."""
    from progress import snapshot, sqlite_read

    key = _settings_key()
    copy = snapshot.get("settings", key) if key else None
    if copy is not None and copy.get("plain"):
        values = {f: Path(copy[f]) if f in _PATHS else copy[f] for f in _FIELDS}
        _check_store_dir(values["store_dir"])
        return SimpleNamespace(**values)
    from pydantic import ValidationError

    from core.endpoint import endpoint_origin, log_endpoint_from_env_file
    from core.settings import Settings

    try:
        settings = Settings()
    except ValidationError:
        raise Fallback from None
    if settings.chroma_url is not None:
        raise Fallback  # make_settings checks the URL; progress never uses it
    _check_store_dir(settings.store_dir)
    log_endpoint_from_env_file(settings)
    # Only a SQLite file URL is kept (a server URL may hold a password; it needs SQLAlchemy
    # anyway), and only when the start is silent (no endpoint warning to repeat).
    plain = (
        sqlite_read.sqlite_file(settings.database_url) is not None
        and endpoint_origin(settings).source != ".env"
    )
    if key:
        values = {f: str(getattr(settings, f)) if f in _PATHS else getattr(settings, f)
                  for f in _FIELDS} if plain else {}  # fmt: skip
        snapshot.put("settings", key, {"plain": plain, **values})
    return settings


def summary_lines(summary: dict) -> list[str]:
    """`mlsd progress` as text (before terminal-safety, which the caller applies)."""
    from progress.overview import short_name, stage_table

    who = summary["user"]
    if not summary["attempts"]:
        lines = [f"No saved critiques or interviews for {who} yet: run `mlsd critique`."]
    else:
        lines = [
            f"{who}: {summary['attempts']} attempts, {summary['designs']} graded designs, "
            f"{summary['first'][:10]} to {summary['last'][:10]}."
        ]
    header = ["when", "kind", "problem", "all", *(short_name(s["name"]) for s in summary["stages"])]
    rows = stage_table(summary)
    if rows:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            lines.append("  ".join(c.rjust(w) if i > 2 else c.ljust(w)
                                   for i, (c, w) in enumerate(zip(row, widths))))  # fmt: skip
        means = [
            f"{short_name(s['name'])} {s['recent_mean']:g}"
            + (f" ({s['change']:+g})" if s["change"] is not None else "")
            for s in summary["stages"]
            if s["recent_mean"] is not None
        ]
        lines.append(f"Recent means (change): {', '.join(means)}")
    if summary["missed_criteria"]:
        lines.append(f"\nMissed most often (last {summary['window']} designs):")
        for m in summary["missed_criteria"][:8]:
            ref = m["teaches"]
            where = ref["source"] + (f" — {ref['section']}" if ref.get("section") else "")
            lines.append(
                f"  {m['missed']}/{m['graded']} {m['id']} ({m['stage']}, {m['trend']}): "
                f"study {where}"
            )
    for t in summary["time_plan"]:
        lines.append(
            f"Time plan: {t['name']} got {t['mean_share']:.0%} of your designs against "
            f"{t['budget_share']:.0%} of the time (short in {t['short_in']}/{t['of']})."
        )
    plan = summary.get("plan")
    if plan:
        lines.append(f"\nNext: {plan['problem']} — {plan['question']}")
        lines.append(f"  {plan['why']}  Start: mlsd interview --question {plan['problem']}")
        lines.extend(f"  read: {r['source']} — {r['section']}" for r in plan["read_first"])
    queue = summary.get("review") or {}
    due, total = queue.get("due", 0), queue.get("total", 0)
    lines.append(f"\nReview: {due} due of {total} cards (mlsd review).")
    return lines


def _run(as_json: bool, since_text: str | None) -> str:
    """What `mlsd progress` prints; Fallback when typer must answer instead."""
    from progress import records

    try:
        since = records.parse_since(since_text)
    except ValueError:
        raise Fallback from None  # typer prints "--since ...: not a date" and exits 2
    settings = _settings()
    from progress import overview

    try:
        summary = overview.build(settings, since)
    except Exception:  # a database error: typer's path reports it in one line
        raise Fallback from None
    if as_json:
        return json.dumps(summary, ensure_ascii=False, default=str)
    return "\n".join(summary_lines(summary))


def answer(argv: list[str]) -> int | None:
    """Exit status after answering `argv` here; None when typer must run it."""
    try:
        verbose, as_json, since = _parse(argv)
    except Fallback:
        return None
    root = logging.getLogger()
    collect = _Collect(logging.INFO if verbose else logging.WARNING)
    saved = (root.handlers[:], root.level)
    root.handlers[:] = [collect]
    root.setLevel(collect.level)
    try:
        out = _run(as_json, since)
    except Fallback:
        return None
    except KeyboardInterrupt:  # cli.common.user_errors
        sys.stderr.write("error: interrupted\n")
        return 130
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    if _UNSAFE.search(out) or any(_UNSAFE.search(line) for line in collect.lines):
        return None
    for stream in (sys.stdout, sys.stderr):  # cli.terminal.lenient_output
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="replace")  # type: ignore[union-attr]
    for line in collect.lines:
        sys.stderr.write(line + "\n")
    sys.stdout.write(out + "\n")
    sys.stdout.flush()
    return 0
