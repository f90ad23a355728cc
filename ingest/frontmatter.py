"""YAML front matter, parsed defensively: a few bytes of YAML must not cost gigabytes.

YAML aliases can expand exponentially (a 436-byte "billion laughs" block built a 217 MB
store) and deep nesting overflows the parser's recursion. The block is therefore checked
event by event (PyYAML's parser is iterative) before anything is constructed: no anchors or
aliases, at most `MAX_DEPTH` levels, at most `MAX_BLOCK_CHARS` characters. What survives is
flattened to scalars and lists of scalars, each value capped at `MAX_VALUE_CHARS`.
"""

from __future__ import annotations

import datetime as dt
import logging

import yaml

log = logging.getLogger(__name__)

MAX_BLOCK_CHARS = 16_384  # the shipped corpus's largest block is under 200 characters
MAX_DEPTH = 3  # mapping > list > list: more is never document metadata
MAX_VALUE_CHARS = 1_000  # one title, question or tag list; longer values are cut
MAX_LIST_ITEMS = 50
LIST_KEYS = ("tags", "stages")  # read as lists of labels by chunking

_SCALARS = (str, int, float, bool, dt.date)


class FrontMatterRejected(ValueError):
    """The block is not plain metadata (aliases, deep nesting, too large)."""


def _check_events(block: str) -> None:
    depth = 0
    for event in yaml.parse(block, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise FrontMatterRejected("YAML anchors or aliases are not allowed")
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise FrontMatterRejected(f"nested more than {MAX_DEPTH} levels")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _scalar(value: object) -> str | int | float | bool | None:
    if isinstance(value, (bool, int, float)):
        return value
    text = str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS]


def _clean(meta: dict, label: str) -> tuple[dict, list[str]]:
    """Only scalars, and lists of scalars, survive; everything else is dropped with a warning."""
    out: dict = {}
    warnings: list[str] = []
    for key, value in meta.items():
        if not isinstance(key, str) or len(key) > 100:
            warnings.append(f"{label}: front matter key {str(key)[:40]!r} dropped (not a name)")
            continue
        if value is None:
            continue
        if isinstance(value, _SCALARS):
            out[key] = [_scalar(value)] if key in LIST_KEYS else _scalar(value)
        elif isinstance(value, list) and all(isinstance(v, _SCALARS) for v in value):
            items = [_scalar(v) for v in value[:MAX_LIST_ITEMS]]
            joined = ",".join(map(str, items))
            if len(joined) > MAX_VALUE_CHARS:  # the stored value is the joined list
                items = joined[:MAX_VALUE_CHARS].split(",")
            out[key] = items
        else:
            kind = type(value).__name__
            warnings.append(
                f"{label}: front matter {key!r} dropped (a {kind}, expected text or a list of text)"
            )
    return out, warnings


def parse_front_matter(text: str, label: str = "") -> tuple[dict, str, list[str]]:
    """(metadata, body, warnings). A leading `---` block that is not valid YAML is kept as
    text (it may be a thematic break); a block that is rejected is dropped with a warning."""
    if not text.startswith("---"):
        return {}, text, []
    end = text.find("\n---", 3)
    if end == -1:
        return {}, text, []
    block = text[3:end]
    body = text[end + 4 :].lstrip("-").lstrip("\n")
    try:
        if len(block) > MAX_BLOCK_CHARS:
            raise FrontMatterRejected(f"longer than {MAX_BLOCK_CHARS} characters")
        _check_events(block)
        meta = yaml.safe_load(block) or {}
    except FrontMatterRejected as exc:
        return {}, body, [f"{label}: front matter ignored ({exc})"]
    except (yaml.YAMLError, RecursionError):
        return {}, text, []
    if not isinstance(meta, dict):
        return {}, text, []
    meta, warnings = _clean(meta, label)
    return meta, body, warnings
