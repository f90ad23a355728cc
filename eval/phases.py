"""Phases of an evaluation run, announced as they start and timed (cheap to import: the CLI
prints its first progress line before it loads anything heavy)."""

from __future__ import annotations

import time
from collections.abc import Callable

ProgressFn = Callable[[int, int, str], None]  # (done, total, label)
PHASE = "phase: "  # label prefix of a phase announcement (done=0)


class Phases:
    """Announces each phase to `progress` as it starts and adds up its wall time."""

    def __init__(self, progress: ProgressFn | None, total: int = 0) -> None:
        self.progress, self.total = progress, total
        self.seconds: dict[str, float] = {}
        self.started = time.perf_counter()

    def start(self, name: str) -> float:
        if self.progress is not None:
            self.progress(0, self.total, f"{PHASE}{name}")
        return time.perf_counter()

    def add(self, name: str, since: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - since

    def report(self) -> dict[str, float]:
        out = {name: round(value, 3) for name, value in self.seconds.items()}
        out["total"] = round(time.perf_counter() - self.started, 3)
        return out
