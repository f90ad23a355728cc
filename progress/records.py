"""What an attempt looks like once read back, and who the learner is: no database driver here.

The statistics, the study plan and both readers (`history` over SQLAlchemy, `sqlite_read`
over the standard library's sqlite3) share these records, so `mlsd progress` can summarise a
SQLite history without importing SQLAlchemy. `history` re-exports every name.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # not at run time: the quick read path never loads pydantic-settings
    from core.settings import Settings

SCHEMA_VERSION = 2  # of the history database (progress/db.py migrates older ones)

OWN_DESIGN = "own design"

# Set by the app on every run of a tab's script (same thread as the grading it triggers):
# the logged-in user, the tab's "save my history" toggle and the surface ("app").
current_user: ContextVar[str | None] = ContextVar("mlsd_history_user", default=None)
saving_enabled: ContextVar[bool | None] = ContextVar("mlsd_history_saving", default=None)
current_mode: ContextVar[str | None] = ContextVar("mlsd_history_mode", default=None)


@dataclass
class StageScore:
    stage_id: str
    name: str
    score: int
    share_of_design: float
    budget_share: float
    words: int


@dataclass
class CriterionStatus:
    criterion_id: str
    stage_id: str
    status: str
    expected: bool
    description: str
    ref_source: str
    ref_section: str


@dataclass
class Attempt:
    id: int
    user: str
    created_at: datetime
    kind: str
    mode: str
    problem: str
    level: str
    overall: int
    is_design: bool
    words: int
    stages: list[StageScore] = field(default_factory=list)
    criteria: list[CriterionStatus] = field(default_factory=list)
    red_flags: list[str] = field(default_factory=list)


def user_of(settings: Settings) -> str:
    """The learner: the logged-in app user when there is one, else MLSD_HISTORY_USER."""
    return (current_user.get() or settings.history_user or "local")[:200]


def should_save(settings: Settings) -> bool:
    toggle = saving_enabled.get()
    return settings.save_history and (toggle is None or toggle)


def parse_since(value: str | None) -> datetime | None:
    """`2026-01-31` (or a full ISO time) -> an aware UTC datetime; ValueError when malformed."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        parsed = datetime.combine(date.fromisoformat(value.strip()), time())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def aware(moment: datetime) -> datetime:
    """SQLite gives back times without their zone; every stored time is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
