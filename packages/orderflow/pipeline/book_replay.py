"""Replays a recording as the seed's ``Book`` objects, for ``on_booktick`` consumers.

The metrics pipeline never builds snapshot objects (it reduces each row to its
metrics at once); strategies and scripts written against the seed's integration
point ``Strategy.on_booktick(book)`` / ``Visualizer.update_from_book(book)``
want whole snapshots instead. This streams them in (instant, id) order with the
trades that arrived since the instrument's previous snapshot attached, keeping
only the last ``keep`` snapshots per book so memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from orderflow.core.calculator import InvalidSnapshot, decode_side, summarize_side, trade_sign
from orderflow.core.models import Book, BookSnapshot, Trade
from orderflow.pipeline.range_metrics import trade_reject_reason
from orderflow.store.input_repository import BookRow, SQLiteOrderflowRepository, TradeRow

__all__ = ["BookReplay", "snapshot_from_row"]


def snapshot_from_row(row: BookRow, trades: Sequence[Trade] = ()) -> BookSnapshot:
    """A snapshot object from a stored book row; raises InvalidSnapshot like the pipeline."""
    sid, instrument, bids, asks, timestamp, ns = row
    if instrument is None:
        raise InvalidSnapshot("instrument is NULL")
    levels = {side: decode_side(raw, side) for side, raw in (("bids", bids), ("asks", asks))}
    for side, side_levels in levels.items():
        summarize_side(side_levels, side)  # the pipeline's level checks: NaN, negative, ...
    return BookSnapshot(
        id=sid,
        instrument=instrument,
        instant_ns=ns,
        bids=levels["bids"],
        asks=levels["asks"],
        trades=list(trades),
        timestamp=str(timestamp),
    )


def _trade(row: TradeRow) -> Trade | None:
    trade_id, instrument, price, size, side, _timestamp, ns = row
    if trade_reject_reason(instrument, price, size, side) is not None:
        return None
    return Trade(
        id=trade_id,
        instrument=instrument,
        price=float(price),
        size=float(size),
        side="buy" if trade_sign(side) > 0 else "sell",
        instant_ns=ns,
    )


class BookReplay:
    """Iterate to get, after every valid snapshot, the ``Book`` of its instrument."""

    def __init__(
        self,
        path: str | Path,
        *,
        instruments: Sequence[str] | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
        keep: int = 1000,
    ) -> None:
        self.repo = SQLiteOrderflowRepository(path)
        self.instruments = list(instruments) if instruments else None
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.keep = keep
        self.skipped = 0
        """Invalid snapshots and trades passed over (the pipeline records why)."""

    def __iter__(self) -> Iterator[Book]:
        conn = self.repo.connect()
        try:
            book_scan = self.repo.scan_order(conn, "book")
            trade_scan = self.repo.scan_order(conn, "trades")
            rows = self.repo.iterate_book_rows(
                conn, book_scan, self.start_ns, self.end_ns, self.instruments
            )
            trade_rows = self.repo.iterate_trade_rows(
                conn, trade_scan, self.start_ns, self.end_ns, self.instruments
            )
            yield from self._replay(rows, trade_rows)
        finally:
            conn.close()

    def _replay(self, rows: Iterator[BookRow], trade_rows: Iterator[TradeRow]) -> Iterator[Book]:
        books: dict[str, Book] = {}
        pending: dict[str, list[Trade]] = {}
        trade_row = next(trade_rows, None)
        for row in rows:
            while trade_row is not None and trade_row[-1] <= row[-1]:
                trade = _trade(trade_row)
                if trade is None:
                    self.skipped += 1
                else:
                    pending.setdefault(trade.instrument, []).append(trade)
                trade_row = next(trade_rows, None)
            try:
                snapshot = snapshot_from_row(row, pending.get(row[1], ()))
            except InvalidSnapshot:
                self.skipped += 1  # its trades wait for the instrument's next valid snapshot
                continue
            pending.pop(snapshot.instrument, None)
            book = books.setdefault(snapshot.instrument, Book(snapshot.instrument))
            book.add_snapshot(snapshot)
            if len(book.snapshots) > self.keep:
                del book.snapshots[: len(book.snapshots) - self.keep]
            yield book
