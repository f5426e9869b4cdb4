"""Samples rebuilt books onto a time grid and writes them with trades.

Grid rule: for each instrument and each grid cell ``[k*I, (k+1)*I)`` of exchange
time, the book is written once, right after the first applied update whose time
falls in a cell later than the last written one, stamped with that update's own
exchange time. Cells in which the book did not change (or was broken) get no
row: the previous row still describes them, and a broken book must never be
written. ``interval == 0`` writes the book after every update.
"""

from __future__ import annotations

import time as _wall
from collections.abc import Callable, Iterable

from orderflow.importers.events import BookEvent, Event, TradeEvent
from orderflow.importers.report import ImportReport
from orderflow.store.input_writer import InputWriter

__all__ = ["write_events"]

Progress = Callable[[ImportReport], None]


def write_events(
    events: Iterable[Event],
    writer: InputWriter,
    report: ImportReport,
    *,
    interval: int,
    depth: int,
    unit_ns: int,
    progress: Progress | None = None,
    progress_every_s: float = 2.0,
) -> None:
    """Drain ``events`` into ``writer``; ``interval`` is in the feed's time unit
    (``unit_ns`` nanoseconds each), so the grid is exact integer arithmetic."""
    next_cell: dict[str, int] = {}
    observe = report.observe
    next_progress = _wall.monotonic() + progress_every_s
    for n, event in enumerate(events):
        if isinstance(event, BookEvent):
            t = event.time
            observe(t * unit_ns)
            if interval > 0:
                due = next_cell.get(event.instrument)
                if due is not None and t < due:
                    continue
            book = event.book
            if book.crossed():
                continue
            writer.add_snapshot(
                event.instrument, str(t), book.bids.top(depth), book.asks.top(depth)
            )
            report.snapshots += 1
            if interval > 0:
                next_cell[event.instrument] = (t // interval + 1) * interval
        elif isinstance(event, TradeEvent):
            observe(event.time * unit_ns)
            writer.add_trade(
                event.instrument,
                event.trade_id,
                float(event.price),
                float(event.size),
                event.side,
                str(event.time),
            )
            report.trades += 1
        if progress is not None and n % 1024 == 0 and _wall.monotonic() >= next_progress:
            progress(report)
            next_progress = _wall.monotonic() + progress_every_s
