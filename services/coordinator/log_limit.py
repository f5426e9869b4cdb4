"""Warnings about what peers send, at a bounded rate.

Anyone who can reach a bound port can send garbage; logging every frame once
wrote 444k lines (55 MB) and slowed a run eightfold. Each kind of warning is
logged for its first few occurrences per window, and the rest are counted and
reported in one line when the window ends, so a flood costs a counter bump.
"""

from __future__ import annotations

import logging
import time

__all__ = ["RateLimitedLog"]

BURST = 5
"""Lines of one kind logged per window before the rest are only counted."""
WINDOW_S = 10.0


class RateLimitedLog:
    """``warning(kind, msg, *args)``: at most ``BURST`` lines per kind per window."""

    def __init__(self, log: logging.Logger, burst: int = BURST, window_s: float = WINDOW_S) -> None:
        self.log = log
        self.burst = burst
        self.window_s = window_s
        self._windows: dict[str, tuple[float, int]] = {}  # kind -> (window start, count)

    def warning(self, kind: str, msg: str, *args: object) -> None:
        now = time.monotonic()
        start, count = self._windows.get(kind, (now, 0))
        if now - start >= self.window_s:
            self._flush(kind, count)
            start, count = now, 0
        count += 1
        self._windows[kind] = (start, count)
        if count <= self.burst:
            self.log.warning(msg, *args)

    def tick(self) -> None:
        """Report the windows that ended; called from the loop, so a flood that
        stopped is summed up promptly even if that kind is never logged again."""
        now = time.monotonic()
        for kind, (start, count) in list(self._windows.items()):
            if now - start >= self.window_s:
                self._flush(kind, count)
                del self._windows[kind]

    def _flush(self, kind: str, count: int) -> None:
        if count > self.burst:
            self.log.warning(
                "%d more %s in the last %.0fs (not logged one by one)",
                count - self.burst,
                kind,
                self.window_s,
            )

    def close(self) -> None:
        """Report what the open windows suppressed."""
        for kind, (_, count) in self._windows.items():
            self._flush(kind, count)
        self._windows.clear()
