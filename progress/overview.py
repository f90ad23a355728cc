"""One call for what the progress views show: statistics, study plan and review queue.

Reads a SQLite history with the standard library (`sqlite_read`) when it can; the SQLAlchemy
path (`history`, `review`) reads every other database and gives the same summary. The rubric
and the worked solutions come as plain objects, from `snapshot` copies when their files and
the code that validates them are unchanged: a fresh `mlsd progress` then imports neither
SQLAlchemy nor pydantic.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Literal

from progress import plan, records, snapshot, sqlite_read, stats

if TYPE_CHECKING:
    from core.settings import Settings

log = logging.getLogger(__name__)


def load_rubric(settings: Settings):
    """The rubric (stage names, criteria, teaching documents), or None when unreadable."""
    try:
        path = Path(settings.rubric_path)
        return _rubric(str(path), path.stat().st_mtime_ns)
    except Exception as exc:  # progress still shows the stored numbers without names
        log.warning("rubric unavailable for progress: %s", str(exc).splitlines()[0])
        return None


@lru_cache(maxsize=4)
def _rubric(path: str, mtime_ns: int):
    """The same validated model as `tools.rubric.load_rubric`, parsed with libyaml when
    present (0.45 -> 0.05 s: `mlsd progress` must answer within a second)."""
    import yaml

    from tools.rubric import Rubric

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=loader)
    return Rubric.model_validate({**data, "source_path": path})


def _stamps(*paths: Path) -> list | None:
    """The snapshot key part for files and this module (whose code shapes the copies)."""
    try:
        return [snapshot.stamp(p) for p in paths] + [snapshot.code_stamp("progress/overview.py")]
    except OSError:
        return None


def rubric_view(settings: Settings) -> SimpleNamespace | None:
    """What the summary reads from the rubric as plain objects: `stages` [.id, .name,
    .criteria [.id, .description, .phrases, .teaches]] and `corpus_dir`. From the snapshot
    when neither the rubric file nor tools/rubric.py changed, else from the validated model
    (then stored). None when the rubric cannot be read (one warning line)."""
    path = Path(settings.rubric_path)
    key = _stamps(path, snapshot.PROJECT_ROOT / "tools" / "rubric.py")
    key = key and [str(settings.rubric_path), *key]
    data = snapshot.get("rubric", key) if key else None
    if data is None:
        rubric = load_rubric(settings)
        if rubric is None:
            return None
        data = {
            "corpus_dir": str(rubric.corpus_dir),
            "stages": [
                {"id": s.id, "name": s.name, "criteria": [
                    {"id": c.id, "description": c.description, "phrases": list(c.phrases),
                     "teaches": c.teaches} for c in s.criteria]}
                for s in rubric.stages
            ],
        }  # fmt: skip
        if key:
            snapshot.put("rubric", key, data)
    stages = [
        SimpleNamespace(**{**s, "criteria": [SimpleNamespace(**c) for c in s["criteria"]]})
        for s in data["stages"]
    ]
    return SimpleNamespace(corpus_dir=Path(data["corpus_dir"]), stages=stages)


@dataclass
class Practice:
    """A worked solution as the study plan reads it: id, title, question, stage sections."""

    id: str
    title: str
    question: str
    sections: list[SimpleNamespace]  # .heading, .stage, .text


def load_solutions(settings: Settings) -> list[Practice]:
    """The worked solutions, front matter read with libyaml (the plan needs no more)."""
    folder = Path(settings.corpus_dir) / "solutions"
    files = sorted(folder.glob("*.md")) if folder.is_dir() else []
    key = _stamps(*files, snapshot.PROJECT_ROOT / "tools" / "solutions.py")
    data = snapshot.get("solutions", key) if key else None
    if data is not None:
        return [
            Practice(
                d["id"], d["title"], d["question"], [SimpleNamespace(**s) for s in d["sections"]]
            )
            for d in data
        ]
    solutions = [_solution(str(f), f.stat().st_mtime_ns) for f in files]
    if key:
        copies = [{**vars(p), "sections": [vars(s) for s in p.sections]} for p in solutions]
        snapshot.put("solutions", key, copies)
    return solutions


@lru_cache(maxsize=64)
def _solution(path: str, mtime_ns: int) -> Practice:
    import yaml

    from tools.solutions import stage_of_heading

    text = Path(path).read_text(encoding="utf-8")
    meta: dict = {}
    if text.startswith("---"):
        head, _, text = text[3:].partition("\n---")
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            meta = yaml.load(head, Loader=loader) or {}
        except yaml.YAMLError:
            meta = {}
    stages = [str(s) for s in meta.get("stages") or []]
    sections = []
    for block in text.split("\n## ")[1:]:
        heading, _, body = block.partition("\n")
        heading = heading.strip()
        stage = stage_of_heading(heading, stages)
        sections.append(SimpleNamespace(heading=heading, stage=stage, text=body.strip()))
    title = str(meta.get("title") or Path(path).stem)
    return Practice(Path(path).stem, title, str(meta.get("question") or ""), sections)


def read_history(
    settings: Settings,
    since: datetime | None = None,
    reader: Literal["auto", "sqlite", "sqlalchemy"] = "auto",
) -> tuple[list[records.Attempt], dict, str]:
    """(attempts with the statistics' criteria window, review queue status, reader used).
    "auto": the stdlib reader for a SQLite file at the current schema, else SQLAlchemy."""
    who = records.user_of(settings)
    if reader != "sqlalchemy":
        quick = sqlite_read.read_inputs(settings, who, since, settings.history_window)
        if quick is not None:
            return quick[0], quick[1], "sqlite"
        if reader == "sqlite":
            raise ValueError(f"{settings.database_url}: not readable without SQLAlchemy")
    from progress import history, review

    window = settings.history_window
    attempts = history.load_attempts(settings, since=since, criteria_window=window)
    return attempts, review.queue_status(settings), "sqlalchemy"


def build(
    settings: Settings,
    since: datetime | None = None,
    reader: Literal["auto", "sqlite", "sqlalchemy"] = "auto",
) -> dict:
    """`stats.summary` plus "user", "since", "plan" and "review"; HistoryError on a bad DB."""
    window = settings.history_window
    attempts, queue, _ = read_history(settings, since, reader)
    rubric = rubric_view(settings)
    out = stats.summary(attempts, rubric, window)
    out["user"] = records.user_of(settings)
    out["since"] = since.isoformat() if since else None
    out["plan"] = plan.study_plan(attempts, rubric, load_solutions(settings), window, out["stages"])
    out["review"] = queue
    return out


def stage_table(summary: dict, last: int = 10) -> list[list[str]]:
    """Rows for a compact table: date, kind, problem, overall, then one column per stage."""
    ids = [s["id"] for s in summary["stages"]]
    by_attempt: dict[int, dict[str, int]] = {}
    for stage in summary["stages"]:
        for p in stage["scores"]:
            by_attempt.setdefault(p["attempt"], {})[stage["id"]] = p["score"]
    rows = []
    for point in summary["overall"][-last:]:
        scores = by_attempt.get(point["attempt"], {})
        rows.append(
            [point["at"][:16].replace("T", " "), point["kind"], point["problem"][:24],
             str(point["overall"]), *(str(scores.get(i, "-")) for i in ids)]
        )  # fmt: skip
    return rows


def short_name(name: str) -> str:
    """'Problem framing' -> 'PF', 'Trade-offs and deep dives' -> 'TD', 'Modeling' -> 'Mod'."""
    words = [w for w in name.replace("-", "").split() if w.lower() not in ("and", "of", "the")]
    if len(words) == 1:
        return words[0][:3]
    return "".join(w[0].upper() for w in words[:2]) or name[:3]
