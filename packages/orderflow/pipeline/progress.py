"""Progress lines for long runs: a redrawn bar on a terminal, plain lines in logs.

CI logs and ``nohup`` files fill with carriage-return garbage if a bar is drawn
to them, so a non-TTY stream gets one ordinary line per reporting interval.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressReporter", "format_rate"]


def format_rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s" if seconds > 0 else "-"


class ProgressReporter:
    """Reports ``done`` of ``total`` snapshots for one database, with rate and ETA."""

    def __init__(
        self,
        label: str,
        total: int,
        *,
        stream: TextIO | None = None,
        quiet: bool = False,
        updates: int = 20,
        min_interval_s: float = 0.5,
    ) -> None:
        self.label = label
        self.total = max(total, 0)
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty()
        self.step = max(1, self.total // max(updates, 1))
        self.min_interval_s = min_interval_s if self.tty else 0.0
        self.started = time.perf_counter()
        self._next = self.step
        self._last_draw = 0.0
        self._drawn_at = -1
        self.done = 0

    def update(self, done: int) -> None:
        self.done = done
        if self.quiet or done < self._next:
            return
        now = time.perf_counter()
        if now - self._last_draw < self.min_interval_s:
            return
        self._last_draw = now
        self._next = done + self.step
        self._draw(now)

    def _draw(self, now: float) -> None:
        self._drawn_at = self.done
        elapsed = now - self.started
        fraction = self.done / self.total if self.total else 1.0
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        text = (
            f"{self.label}: {self.done:,}/{self.total:,} snapshots ({fraction:5.1%})"
            f" {rate:,.0f}/s ETA {eta:4.1f}s"
        )
        if self.tty:
            width = 24
            filled = int(width * fraction)
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r[{bar}] {text}")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.quiet:
            return
        if self._drawn_at != self.done:
            self._draw(time.perf_counter())
        if self.tty:
            self.stream.write("\n")
        self.stream.flush()
