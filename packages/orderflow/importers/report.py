"""Counters for one import run, with the line numbers of every problem kind.

An import of a real recording is judged by what went wrong in it, so problems
are counted in full but only the first few line references are kept: a broken
feed must not make the report itself grow with the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = ["PROBLEM_KINDS", "ImportReport"]

PROBLEM_KINDS = ("gaps", "checksum_failures", "crossed", "malformed")
_KEEP_LINES = 20


def _iso(ns: int | None) -> str:
    if ns is None:
        return "-"
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds")


@dataclass
class ImportReport:
    """What one import saw; line references are ``file:line``."""

    messages: int = 0
    snapshots: int = 0
    trades: int = 0
    gaps: int = 0
    checksum_failures: int = 0
    crossed: int = 0
    malformed: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    lines: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in PROBLEM_KINDS})

    def problem(self, kind: str, where: str) -> None:
        """Count one problem of ``kind`` and keep its line while there is room."""
        setattr(self, kind, getattr(self, kind) + 1)
        kept = self.lines[kind]
        if len(kept) < _KEEP_LINES:
            kept.append(where)

    def observe(self, ns: int) -> None:
        """Widen the time span to include ``ns`` (exchange time, epoch ns)."""
        if self.first_ns is None or ns < self.first_ns:
            self.first_ns = ns
        if self.last_ns is None or ns > self.last_ns:
            self.last_ns = ns

    @property
    def span_s(self) -> float:
        if self.first_ns is None or self.last_ns is None:
            return 0.0
        return (self.last_ns - self.first_ns) / 1e9

    def summary(self) -> str:
        """A small aligned table for the terminal."""
        rows = [
            ("messages", f"{self.messages:,}"),
            ("snapshots", f"{self.snapshots:,}"),
            ("trades", f"{self.trades:,}"),
            ("gaps", f"{self.gaps:,}"),
            ("checksum failures", f"{self.checksum_failures:,}"),
            ("crossed books", f"{self.crossed:,}"),
            ("malformed lines", f"{self.malformed:,}"),
            ("first", _iso(self.first_ns)),
            ("last", _iso(self.last_ns)),
            ("time span", f"{self.span_s:,.3f} s"),
        ]
        out = [f"{name:<18} {value}" for name, value in rows]
        for kind in PROBLEM_KINDS:
            if self.lines[kind]:
                more = getattr(self, kind) - len(self.lines[kind])
                tail = f" (+{more} more)" if more > 0 else ""
                out.append(f"{kind} at: {', '.join(self.lines[kind])}{tail}")
        return "\n".join(out)
