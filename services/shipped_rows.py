"""Rows shipped to a worker that cannot open the recording, both ends of the trip.

A remote worker without the file asks for a shard's rows; the coordinator reads
them exactly as a worker would (same ranges, same (instant, id) order) and sends
them as columns. On the worker, ``ShippedRows`` stands in for the input
repository so the rows go through the same ``RangeMetrics`` computation as rows
read from the file: there is one computation path, fed from two places.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain

from orderflow_services.coordinator.planner import Shard, ShardPlan
from orderflow_services.protocol import Rows

from orderflow.store.input_repository import OrderScan
from orderflow.store.order_index import TimeOrderedReader

__all__ = ["ShippedRows", "collect_rows", "columns_of"]


def collect_rows(
    reader: TimeOrderedReader,
    conn: sqlite3.Connection,
    plan: ShardPlan,
    task_id: int,
    shard: Shard,
    instruments: Sequence[str] | None,
) -> Rows:
    """A shard's raw input rows as columns (book: 6 columns, trades: 7); raises
    TableOutOfOrder as a worker reading them would."""
    span = (shard.start_ns, shard.end_ns, instruments)
    book_unparseable: list[int] = []
    trade_unparseable: list[int] = []
    books = reader.book_batches(conn, plan.book_scan, *span, book_unparseable.append)
    trades = reader.trade_batches(conn, plan.trade_scan, *span, trade_unparseable.append)
    book_columns = columns_of(chain.from_iterable(books), 6)
    trade_columns = columns_of(chain.from_iterable(trades), 7)
    return Rows(
        task_id,
        *book_columns,
        *trade_columns,
        book_unparseable=book_unparseable,
        trade_unparseable=trade_unparseable,
    )


def columns_of(rows: Iterable[tuple], width: int) -> list[list]:
    """Rows turned into ``width`` column lists: messages ship columns, not rows."""
    table = list(rows)
    return [list(c) for c in zip(*table, strict=True)] if table else [[] for _ in range(width)]


class ShippedRows:
    """Quacks like the input repository for ``RangeMetrics``, over shipped columns."""

    def __init__(self, rows: Rows) -> None:
        self.rows = rows

    def book_batches(
        self,
        conn: object,
        scan: OrderScan,
        start_ns: object,
        end_ns: object,
        instruments: object,
        unparseable: Callable[[int], None] | None = None,
    ) -> Iterator[list[tuple]]:
        r = self.rows
        if unparseable is not None:
            for row_id in r.book_unparseable:
                unparseable(row_id)
        columns = (r.book_ids, r.book_instruments, r.book_bids, r.book_asks)
        yield list(zip(*columns, r.book_timestamps, r.book_ns, strict=True))

    def trade_batches(
        self,
        conn: object,
        scan: OrderScan,
        start_ns: object,
        end_ns: object,
        instruments: object,
        unparseable: Callable[[int], None] | None = None,
    ) -> Iterator[list[tuple]]:
        r = self.rows
        if unparseable is not None:
            for row_id in r.trade_unparseable:
                unparseable(row_id)
        columns = (r.trade_ids, r.trade_instruments, r.trade_prices, r.trade_sizes)
        yield list(zip(*columns, r.trade_sides, r.trade_timestamps, r.trade_ns, strict=True))
