"""A sorted (instant, id) index for input tables whose ids are not in time order.

``SQLiteOrderflowRepository`` reads a time-ordered table by primary-key range,
but a table whose ids are out of time order can only be read by sorting it, and
sorting the whole table once per shard makes a sharded run quadratic. So the
coordinator sorts such a table once into a scratch SQLite file (never into the
user's recording), clustered by ``(ns, id)``; every shard is then one range scan
of that index joined to the input by primary key. Workers attach the same file
read-only; ``TimeOrderedReader`` hides the difference from ``RangeMetrics``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from itertools import chain
from pathlib import Path

from orderflow.core.timestamps import parse_instant_ns
from orderflow.store.connections import sqlite_uri
from orderflow.store.input_repository import (
    OrderScan,
    SQLiteOrderflowRepository,
    check_input_table,
    row_batches,
    text_of,
)

__all__ = ["TimeOrderedReader", "build_order_index", "indexed_instants"]

_SCHEMA = "orderflow_order"
_COLUMNS = {
    "book": f"t.id, {text_of('t.instrument')}, t.bids, t.asks, {text_of('t.timestamp')}, o.ns",
    "trades": (
        f"t.id, {text_of('t.instrument')}, t.price, t.size, t.side, {text_of('t.timestamp')}, o.ns"
    ),
}
FETCH_ROWS = 2000


def build_order_index(
    input_path: str | Path, index_path: str | Path, tables: Sequence[str]
) -> None:
    """Write ``<table>_order(ns, id)`` for each table, sorted by SQLite's external sorter
    (memory bounded by its cache, not by the table)."""
    conn = sqlite3.connect(index_path, isolation_level=None)
    try:
        conn.create_function("orderflow_instant", 1, parse_instant_ns, deterministic=True)
        conn.execute("ATTACH DATABASE ? AS input", (sqlite_uri(input_path, "ro"),))
        conn.execute("BEGIN")
        for table in tables:
            check_input_table(table)
            conn.execute(
                f"CREATE TABLE {table}_order (ns INTEGER NOT NULL, id INTEGER NOT NULL,"
                " PRIMARY KEY (ns, id)) WITHOUT ROWID"
            )
            conn.execute(
                f"INSERT INTO {table}_order (ns, id) SELECT ns, id FROM"
                f" (SELECT orderflow_instant(timestamp) AS ns, id FROM input.{table})"
                " WHERE ns IS NOT NULL ORDER BY ns, id"
            )
        conn.execute("COMMIT")
    finally:
        conn.close()


def indexed_instants(index_path: str | Path, table: str) -> Iterator[int]:
    """Every parseable instant of ``table`` in (instant, id) order, for shard planning."""
    check_input_table(table)
    conn = sqlite3.connect(sqlite_uri(index_path, "ro"), uri=True)
    try:
        cursor = conn.execute(f"SELECT ns FROM {table}_order ORDER BY ns, id")
        while batch := cursor.fetchmany(FETCH_ROWS):
            for (ns,) in batch:
                yield ns
    finally:
        conn.close()


class TimeOrderedReader:
    """The repository's row streams, served from the order index for unordered tables.

    Passed to ``RangeMetrics`` in place of the repository; time-ordered tables
    go straight to the repository's primary-key range reads.
    """

    def __init__(
        self,
        repo: SQLiteOrderflowRepository,
        conn: sqlite3.Connection,
        index_path: str | None,
    ) -> None:
        self.repo = repo
        self.index_path = index_path
        if index_path is not None:
            conn.execute(f"ATTACH DATABASE ? AS {_SCHEMA}", (sqlite_uri(index_path, "ro"),))

    def detach(self, conn: sqlite3.Connection) -> None:
        if self.index_path is not None:
            conn.execute(f"DETACH DATABASE {_SCHEMA}")
            self.index_path = None

    def iterate_book_rows(
        self,
        conn: sqlite3.Connection,
        scan: OrderScan,
        start_ns: int | None = None,
        end_ns: int | None = None,
        instruments: Sequence[str] | None = None,
    ) -> Iterator[tuple]:
        return chain.from_iterable(self.book_batches(conn, scan, start_ns, end_ns, instruments))

    def iterate_trade_rows(
        self,
        conn: sqlite3.Connection,
        scan: OrderScan,
        start_ns: int | None = None,
        end_ns: int | None = None,
        instruments: Sequence[str] | None = None,
    ) -> Iterator[tuple]:
        return chain.from_iterable(self.trade_batches(conn, scan, start_ns, end_ns, instruments))

    def book_batches(
        self,
        conn: sqlite3.Connection,
        scan: OrderScan,
        start_ns: int | None = None,
        end_ns: int | None = None,
        instruments: Sequence[str] | None = None,
        unparseable: Callable[[int], None] | None = None,
    ) -> Iterator[list[tuple]]:
        if scan.time_ordered or self.index_path is None:
            return self.repo.book_batches(conn, scan, start_ns, end_ns, instruments, unparseable)
        return self._indexed(conn, "book", start_ns, end_ns, instruments)

    def trade_batches(
        self,
        conn: sqlite3.Connection,
        scan: OrderScan,
        start_ns: int | None = None,
        end_ns: int | None = None,
        instruments: Sequence[str] | None = None,
        unparseable: Callable[[int], None] | None = None,
    ) -> Iterator[list[tuple]]:
        if scan.time_ordered or self.index_path is None:
            return self.repo.trade_batches(conn, scan, start_ns, end_ns, instruments, unparseable)
        return self._indexed(conn, "trades", start_ns, end_ns, instruments)

    def _indexed(
        self,
        conn: sqlite3.Connection,
        table: str,
        start_ns: int | None,
        end_ns: int | None,
        instruments: Sequence[str] | None,
    ) -> Iterator[list[tuple]]:
        wanted = set(instruments) if instruments else None
        lo = start_ns if start_ns is not None else -(2**63)
        hi = end_ns if end_ns is not None else 2**63 - 1
        upper = "o.ns < ?" if end_ns is not None else "o.ns <= ?"
        # CROSS JOIN keeps the index as the outer loop, so rows come in its order.
        cursor = conn.execute(
            f"SELECT {_COLUMNS[table]} FROM {_SCHEMA}.{table}_order AS o"
            f" CROSS JOIN main.{table} AS t ON t.id = o.id"
            f" WHERE o.ns >= ? AND {upper} ORDER BY o.ns, o.id",
            (lo, hi),
        )
        yield from row_batches(cursor, wanted)
