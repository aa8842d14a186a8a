"""Whole-catalogue upkeep: work that touches every indexed version, such as the
policy re-evaluation after a policy change or the lineage re-harvest after an
upgrade.

A server runs it in the background once it serves search (over a million
versions it takes minutes, and readiness must not wait for it). Its progress
is in ``/readyz`` and the log. Cancelling it (SIGTERM) stops it between two
statements: each batch is its own transaction, and the work is recorded as done
only once it finished, so the next start does it again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

LOG_EVERY_SECONDS = 10.0


@dataclass
class UpkeepProgress:
    """One upkeep task's progress, as ``/readyz`` shows it."""

    task: str  # "policyReevaluation" | "lineageReharvest"
    unit: str  # what ``done`` and ``total`` count
    state: str = "pending"  # pending | running | done | failed | stopped
    done: int = 0
    total: int | None = None
    _started: float = field(default=0.0, repr=False)
    _logged: float = field(default=0.0, repr=False)

    def begin(self, total: int | None) -> None:
        self.state, self.total, self.done = "running", total, 0
        self._started = self._logged = time.monotonic()
        log.info("upkeep: %s started (%s %s)", self.task, total if total is not None else "?", self.unit)

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._logged >= LOG_EVERY_SECONDS:
            self._logged = now
            log.info("upkeep: %s %s", self.task, self.summary())

    def finish(self, state: str) -> None:
        self.state = state
        log.info("upkeep: %s %s after %.1fs (%s)", self.task, state, self.elapsed(), self.summary())

    def elapsed(self) -> float:
        return time.monotonic() - self._started if self._started else 0.0

    def summary(self) -> str:
        of = f"/{self.total}" if self.total is not None else ""
        return f"{self.done}{of} {self.unit}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "state": self.state,
            "done": self.done,
            "total": self.total,
            "unit": self.unit,
            "seconds": round(self.elapsed(), 1),
        }
