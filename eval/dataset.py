"""The evaluation dataset: JSONL, one question per line; bad lines are reported and skipped.

Fields: `question` (required), `reference` (answer), `reference_contexts` (passages),
`answer_spans` (verbatim spans a good answer quotes), `sources` (`file#Heading` or `file`,
relative to the ingested root), `stage`, `kind`, `id`. A row with `kind: out-of-scope` is one
where the right behaviour is to decline. A file may start with a UTF-8 byte-order mark.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator

from core.errors import InputError

OUT_OF_SCOPE = "out-of-scope"


class EvalRow(BaseModel):
    id: str
    line: int
    question: str
    reference: str | None = None
    reference_contexts: list[str] = Field(default_factory=list)
    answer_spans: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    stage: str | None = None
    kind: str | None = None

    @field_validator("question")
    @classmethod
    def _question_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question is empty")
        return value.strip()

    @field_validator("reference", "stage", "kind", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("sources", "reference_contexts", "answer_spans", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        if value is None:
            return []
        if isinstance(value, str):  # a single source written without a list
            return [value]
        return value

    @field_validator("sources", "reference_contexts", "answer_spans")
    @classmethod
    def _drop_blank(cls, value: list[str]) -> list[str]:
        return [v.strip() for v in value if v.strip()]

    @property
    def out_of_scope(self) -> bool:
        return (self.kind or "").strip().lower().replace("_", "-") == OUT_OF_SCOPE

    @property
    def has_targets(self) -> bool:
        """Whether retrieval can be judged for this row."""
        return bool(self.sources or self.reference_contexts)


class BadLine(BaseModel):
    line: int
    reason: str


class Dataset(BaseModel):
    path: str
    rows: list[EvalRow]
    bad_lines: list[BadLine] = Field(default_factory=list)
    truncated_at: int | None = None  # rows past the cap were not read (see `max_rows`)


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "row"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def parse_lines(lines: list[str], path: str = "<memory>", max_rows: int | None = None) -> Dataset:
    """Rows from JSONL text; every unusable line becomes a `BadLine` with its 1-based number.

    At most `max_rows` valid rows are kept (None: all); `truncated_at` then names the first
    line left unread, so a runaway file cannot make an evaluation run for days.
    """
    rows: list[EvalRow] = []
    bad: list[BadLine] = []
    seen_ids: set[str] = set()
    for number, raw in enumerate(lines, start=1):
        text = raw.strip().lstrip("\ufeff")  # a BOM on the first line (Windows editors)
        if not text or text.startswith("//"):
            continue
        if max_rows is not None and len(rows) >= max_rows:
            return Dataset(path=path, rows=rows, bad_lines=bad, truncated_at=number)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            bad.append(BadLine(line=number, reason=f"invalid JSON ({exc.msg})"))
            continue
        except RecursionError:  # e.g. [[[[...]]]] nested thousands deep
            bad.append(BadLine(line=number, reason="JSON nested too deeply"))
            continue
        if not isinstance(data, dict):
            bad.append(BadLine(line=number, reason="not a JSON object"))
            continue
        if "question" not in data:
            bad.append(BadLine(line=number, reason="missing 'question'"))
            continue
        data = {**data, "line": number}
        data["id"] = str(data.get("id") or f"line-{number}")
        if data["id"] in seen_ids:  # ids key the per-question comparison: keep them unique
            data["id"] = f"{data['id']}@{number}"
        try:
            row = EvalRow.model_validate(data)
        except ValidationError as exc:
            bad.append(BadLine(line=number, reason=_reason(exc)))
            continue
        seen_ids.add(row.id)
        rows.append(row)
    return Dataset(path=path, rows=rows, bad_lines=bad)


def load_dataset(path: Path, max_rows: int | None = None) -> Dataset:
    """Read a JSONL dataset. Raises InputError when the file is unreadable or has no valid row."""
    try:
        if Path(path).exists() and not Path(path).is_file():  # a folder or a FIFO would hang
            raise InputError(f"Cannot read the dataset {path}: not a regular file.")
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"Cannot read the dataset {path}: {exc}. Check the --dataset path."
        ) from exc
    dataset = parse_lines(text.splitlines(), str(path), max_rows)
    if not dataset.rows:
        detail = "; ".join(f"line {b.line}: {b.reason}" for b in dataset.bad_lines[:5])
        raise InputError(
            f"The dataset {path} has no valid rows"
            + (f" ({detail})" if detail else " (it is empty)")
            + ": each line must be a JSON object with a 'question'."
        )
    return dataset
