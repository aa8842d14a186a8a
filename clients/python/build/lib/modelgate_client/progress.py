"""A one-line progress bar on stderr, drawn only when stderr is a terminal (a CI
log gets no carriage-return noise). No dependency: it is twenty lines."""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO


class Progress(Protocol):
    def start(self, label: str, total: int) -> None: ...

    def advance(self, n: int) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    def start(self, label: str, total: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def finish(self) -> None:
        pass


class TerminalBar:
    """``model.bin  42% |█████····| 430.1/1024.0 MiB  212.3 MiB/s``, redrawn at most 10 times a second."""

    WIDTH = 24

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.label = ""
        self.total = 0
        self.done = 0
        self.started = 0.0
        self.drawn = 0.0

    def start(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0
        self.started = self.drawn = time.monotonic()
        self._draw()

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.drawn >= 0.1:
            self.drawn = now
            self._draw()

    def finish(self) -> None:
        self._draw()
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self) -> None:
        share = self.done / self.total if self.total else 1.0
        filled = int(share * self.WIDTH)
        elapsed = max(time.monotonic() - self.started, 1e-6)
        mib = 1024 * 1024
        self.stream.write(
            f"\r{self.label[:40]:<40} {share:4.0%} |{'█' * filled}{'·' * (self.WIDTH - filled)}| "
            f"{self.done / mib:.1f}/{self.total / mib:.1f} MiB  {self.done / mib / elapsed:.1f} MiB/s"
        )
        self.stream.flush()


def default_progress() -> Progress:
    """A bar when stderr is a terminal, else nothing."""
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    return TerminalBar() if tty else NoProgress()
