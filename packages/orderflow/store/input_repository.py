"""Read-only access to a recording: schema checks, time ordering, and row streams.

Rows must be processed in (instant, id) order, but the ``timestamp`` column is
text in any unit or format, so SQL cannot order it. Recorders almost always
append in time order, so ``scan_order`` makes one cheap pass over
``(id, timestamp)`` that checks this and keeps a sparse index (one sample every
``SAMPLE_EVERY`` rows). Ordered tables are then streamed by primary-key range,
with no sort at all (ids only nearly in time order are read by ranges widened by
a measured margin and ordered locally: ``orderflow.store.near_order``); the rare
shuffled table falls back to SQLite's external
sorter on a registered ``orderflow_instant()`` function, which bounds memory by
the page cache rather than the file size.

That scan is a serial pass over the whole file before any work can start, so
the coordinator plans from ``probe_order`` instead: one primary-key lookup per
``SAMPLE_EVERY`` ids builds the same sparse index in milliseconds, on the
assumption that the table is in time order. Such a scan is marked unverified;
whoever reads rows through it checks the assumption on every row it reads
(``TableOutOfOrder`` when it fails) and, because nobody rejected unparseable
timestamps up front, reports the ones in its share of the ids.
"""

from __future__ import annotations

import bisect
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from itertools import chain
from pathlib import Path

import msgspec

from orderflow.core.errors import InputFileError, TableOutOfOrder
from orderflow.core.timestamps import parse_instant_ns, parse_instants_ns
from orderflow.store.connections import READ_CACHE_KIB, open_readonly
from orderflow.store.near_order import (
    inversion_margin,
    probe_margin,
    readable_by_range,
    reordered_batches,
    sample_envelope,
)
from orderflow.store.schema import BOOK_COLUMNS, TRADE_COLUMNS

__all__ = [
    "UNPARSEABLE_REASON",
    "BookRow",
    "OrderScan",
    "SQLiteOrderflowRepository",
    "TradeRow",
    "check_input_table",
    "row_batches",
    "text_of",
]

SAMPLE_EVERY = 1000
FETCH_ROWS = 2000
SCAN_ROWS = 20_000
"""Rows per fetch of the order scan: (id, timestamp) pairs are small."""
UNPARSEABLE_REASON = "timestamp cannot be parsed (or lies outside 1677-09-21 .. 2262-04-11 UTC)"
"""The recorded reject reason of a row whose timestamp does not parse."""
PROBE_ROWS = 64
"""Rows a probe reads at a time once its first row's timestamp did not parse."""
REQUIRED_COLUMNS = {"book": BOOK_COLUMNS, "trades": TRADE_COLUMNS}

# (id, instrument, bids, asks, timestamp, instant_ns)
BookRow = tuple[int, str, str, str, str, int]
# (id, instrument, price, size, side, timestamp, instant_ns)
TradeRow = tuple[int, str, object, object, object, str, int]


def text_of(column: str) -> str:
    """SQL for ``column`` with INTEGER and REAL cells as text (``cell_text``), so every
    path stores and compares the same instrument names and timestamp texts; a BLOB
    instrument stays a BLOB and is rejected.

    SQLite orders every number before every text and every text before every BLOB,
    and ``''`` is the least text, so ``column < ''`` holds exactly for INTEGER and
    REAL cells (NULL gives NULL) whatever the column's declared type or collation.
    It is a comparison per cell; ``typeof(column) IN ('integer', 'real')`` built
    and compared a string per cell, about 1k instructions a book row (two columns).
    """
    return f"CASE WHEN {column} < '' THEN CAST({column} AS TEXT) ELSE {column} END"


_BOOK_SELECT = f"SELECT id, {text_of('instrument')}, bids, asks, {text_of('timestamp')}"
_TRADE_SELECT = f"SELECT id, {text_of('instrument')}, price, size, side, {text_of('timestamp')}"


class OrderScan(msgspec.Struct, frozen=True):
    """What one pass over (id, timestamp) of a table learned; small enough to ship.

    ``time_ordered`` means that, skipping rows whose timestamp does not parse,
    id order is (instant, id) order. ``sample_ids``/``sample_ns`` are every
    ``SAMPLE_EVERY``-th parseable row, the sparse index used for range queries
    and for planning shards.
    """

    table: str
    rows: int
    unparseable: int
    time_ordered: bool
    min_id: int | None
    max_id: int | None
    first_ns: int | None
    last_ns: int | None
    sample_ids: list[int]
    sample_ns: list[int]
    verified: bool = True
    """False for ``probe_order``'s scans: time order and ``unparseable`` are assumed,
    and ``rows`` is the id span."""
    sample_every: int = SAMPLE_EVERY
    """Rows (full scan) or ids (probes) between samples."""
    margin_ns: int = 0
    """How far a row's instant may lag rows with smaller ids (``orderflow.store.near_order``);
    0 for a table in time order. ``sample_ns`` is then the running maximum of the sampled
    instants and ``sample_min`` the running minimum from the end."""
    sample_min: list[int] = []

    def sample_lows(self) -> list[int]:
        """Running minimum from the end of the sampled instants."""
        return self.sample_min if self.margin_ns else self.sample_ns

    def sample_range(self, start_ns: int | None, end_ns: int | None) -> tuple[int, int]:
        """Indexes ``i, j`` of the samples bracketing a range: rows with start_ns <=
        instant < end_ns lie after sample ``i - 1`` (if any) and before sample ``j``."""
        i = (
            0
            if start_ns is None
            else bisect.bisect_left(self.sample_lows(), start_ns - self.margin_ns)
        )
        j = (
            len(self.sample_ns)
            if end_ns is None
            else bisect.bisect_left(self.sample_ns, end_ns + self.margin_ns)
        )
        return i, j

    def id_bounds(self, start_ns: int | None, end_ns: int | None) -> tuple[int, int]:
        """Primary-key range that holds every row with start_ns <= instant < end_ns.

        Only valid for a table read by id range (``time_ordered``): the last sample
        before ``start_ns`` and the first sample at or after ``end_ns`` bracket the
        range, both widened by the margin.
        """
        lo = self.min_id if self.min_id is not None else 0
        hi = self.max_id if self.max_id is not None else -1
        i, j = self.sample_range(start_ns, end_ns)
        if i > 0:
            lo = self.sample_ids[i - 1]
        if j < len(self.sample_ids):
            hi = self.sample_ids[j]
        return lo, hi


def _instant_or_none(value: object) -> int | None:
    return parse_instant_ns(value)


class SQLiteOrderflowRepository:
    """The seed's read-only repository over one recording file.

    The caller owns the connection (seed: "caller manages connection
    lifecycle"); the repository holds only the path.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def connect(self, cache_kib: int = READ_CACHE_KIB) -> sqlite3.Connection:
        """Open read-only and check the input tables; raises InputFileError."""
        conn = open_readonly(self.path, cache_kib)
        try:
            self.validate_schema(conn)
        except InputFileError:
            conn.close()
            raise
        conn.create_function("orderflow_instant", 1, _instant_or_none, deterministic=True)
        return conn

    def validate_schema(self, conn: sqlite3.Connection) -> None:
        for table, columns in REQUIRED_COLUMNS.items():
            try:
                present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            except sqlite3.DatabaseError as exc:
                raise InputFileError(self.path, f"cannot be read as SQLite ({exc})") from None
            if not present:
                raise InputFileError(self.path, f"has no '{table}' table")
            missing = [c for c in columns if c not in present]
            if missing:
                raise InputFileError(
                    self.path, f"table '{table}' lacks column(s) {', '.join(missing)}"
                )

    def count_rows(self, conn: sqlite3.Connection, table: str) -> int:
        check_input_table(table)
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def id_range(self, conn: sqlite3.Connection, table: str) -> tuple[int, int] | None:
        """First and last id, from the primary-key b-tree (a few page reads, however
        big the file; ``SELECT min(id), max(id)`` in one statement would scan it)."""
        check_input_table(table)
        first = conn.execute(f"SELECT min(id) FROM {table}").fetchone()[0]
        last = conn.execute(f"SELECT max(id) FROM {table}").fetchone()[0]
        return None if first is None else (first, last)

    def id_span(self, conn: sqlite3.Connection, table: str) -> int:
        """Ids from the first to the last: the row count when ids are dense, free where
        ``count(*)`` reads every page."""
        ids = self.id_range(conn, table)
        return 0 if ids is None else ids[1] - ids[0] + 1

    def input_fingerprint(self, conn: sqlite3.Connection) -> str:
        """First and last id of each input table: a recording that grew since its
        metrics were computed gets a new fingerprint, so its metrics are not taken as
        done."""
        parts = []
        for table in REQUIRED_COLUMNS:
            first, last = self.id_range(conn, table) or (None, None)
            parts.append(f"{table}:{first}-{last}")
        return ";".join(parts)

    def instruments(self, conn: sqlite3.Connection) -> list[str]:
        rows = conn.execute("SELECT DISTINCT instrument FROM book ORDER BY instrument")
        return [r[0] for r in rows if r[0] is not None]

    def scan_order(self, conn: sqlite3.Connection, table: str) -> OrderScan:
        """One pass over (id, timestamp): ordering check and exact margin, counts and the
        sparse index."""
        check_input_table(table)
        cursor = conn.execute(f"SELECT id, timestamp FROM {table} ORDER BY id")
        rows = unparseable = margin = 0
        min_id = max_id = first_ns = last_ns = None
        peak = -(2**63)
        sample_ids: list[int] = []
        sampled: list[int] = []
        while batch := cursor.fetchmany(SCAN_ROWS):
            ids, stamps = zip(*batch, strict=True)
            instants = parse_instants_ns(stamps)
            if min_id is None:
                min_id = ids[0]
            max_id = ids[-1]
            if None in instants:
                unparseable += instants.count(None)
                kept = [(i, ns) for i, ns in zip(ids, instants, strict=True) if ns is not None]
                if not kept:
                    continue
                ids, instants = zip(*kept, strict=True)  # type: ignore[assignment]
            if instants[0] >= peak and list(instants) == sorted(instants):
                peak = instants[-1]
            else:
                lag, peak = inversion_margin(instants, peak)  # type: ignore[arg-type]
                margin = max(margin, lag)
            low, high = min(instants), max(instants)
            first_ns = low if first_ns is None else min(first_ns, low)
            last_ns = high if last_ns is None else max(last_ns, high)
            offset = -rows % SAMPLE_EVERY
            sample_ids.extend(ids[offset::SAMPLE_EVERY])
            sampled.extend(instants[offset::SAMPLE_EVERY])  # type: ignore[arg-type]
            rows += len(instants)
        ordered = readable_by_range(margin, first_ns, last_ns)
        highs, lows = sample_envelope(sampled) if ordered else ([], [])
        return OrderScan(
            table=table,
            rows=rows + unparseable,
            unparseable=unparseable,
            time_ordered=ordered,
            min_id=min_id,
            max_id=max_id,
            first_ns=first_ns,
            last_ns=last_ns,
            sample_ids=sample_ids if ordered else [],
            sample_ns=highs,
            margin_ns=margin if ordered else 0,
            sample_min=lows if ordered and margin else [],
        )

    def probe_order(
        self, conn: sqlite3.Connection, table: str, every: int = SAMPLE_EVERY
    ) -> OrderScan | None:
        """``scan_order``'s sparse index from one probe per ``every`` ids, assuming time
        order within a margin estimated from the probes (``verified=False``); None when
        the probes look shuffled (``near_order.readable_by_range``)."""
        check_input_table(table)
        min_id, max_id = self.id_range(conn, table) or (None, None)
        sample_ids: list[int] = []
        sampled: list[int] = []
        target = min_id
        while target is not None and target <= max_id:
            found = self._parseable_from(conn, table, target, descending=False)
            if found is None:
                break
            row_id, ns = found
            sample_ids.append(row_id)
            sampled.append(ns)
            target += every * ((row_id - target) // every + 1)
        last = self._parseable_from(conn, table, max_id, descending=True) if sampled else None
        probed = sampled if last is None else [*sampled, last[1]]
        margin = 0
        if min_id is not None and max_id is not None and probed:
            margin = probe_margin(conn, table, min_id, max_id, probed)
        first_ns = min(probed) if probed else None
        last_ns = max(probed) if probed else None
        if not readable_by_range(margin, first_ns, last_ns):
            return None
        highs, lows = sample_envelope(sampled)
        return OrderScan(
            table=table,
            rows=self.id_span(conn, table),  # only sizes shards and the progress bar
            unparseable=0,
            time_ordered=True,
            min_id=min_id,
            max_id=max_id,
            first_ns=first_ns,
            last_ns=last_ns,
            sample_ids=sample_ids,
            sample_ns=highs,
            verified=False,
            sample_every=every,
            margin_ns=margin,
            sample_min=lows if margin else [],
        )

    def _parseable_from(
        self, conn: sqlite3.Connection, table: str, row_id: int, *, descending: bool
    ) -> tuple[int, int] | None:
        """(id, instant) of the first row from ``row_id`` on (or back) whose timestamp parses."""
        step, order = ("<=", "DESC") if descending else (">=", "ASC")
        query = f"SELECT id, timestamp FROM {table} WHERE id {step} ? ORDER BY id {order} LIMIT ?"
        limit = 1  # almost always enough; a run of bad timestamps reads further
        while True:
            batch = conn.execute(query, (row_id, limit)).fetchall()
            for found_id, raw in batch:
                ns = parse_instant_ns(raw)
                if ns is not None:
                    return found_id, ns
            if len(batch) < limit:
                return None
            row_id = batch[-1][0] + (-1 if descending else 1)
            limit = PROBE_ROWS

    def iterate_unparseable(self, conn: sqlite3.Connection, table: str) -> Iterator[int]:
        """Ids of rows whose timestamp does not parse (they are rejected, never processed)."""
        check_input_table(table)
        cursor = conn.execute(
            f"SELECT id FROM {table} WHERE orderflow_instant(timestamp) IS NULL ORDER BY id"
        )
        while batch := cursor.fetchmany(FETCH_ROWS):
            for (row_id,) in batch:
                yield row_id

    def iterate_book_rows(
        self,
        conn: sqlite3.Connection,
        scan: OrderScan,
        start_ns: int | None = None,
        end_ns: int | None = None,
        instruments: Sequence[str] | None = None,
    ) -> Iterator[BookRow]:
        """Snapshots with start_ns <= instant < end_ns, in (instant, id) order."""
        return self._iterate(conn, scan, _BOOK_SELECT, "book", start_ns, end_ns, instruments)

    def iterate_trade_rows(
        self,
        conn: sqlite3.Connection,
        scan: OrderScan,
        start_ns: int | None = None,
        end_ns: int | None = None,
        instruments: Sequence[str] | None = None,
    ) -> Iterator[TradeRow]:
        """Trades with start_ns <= instant < end_ns, in (instant, id) order."""
        return self._iterate(conn, scan, _TRADE_SELECT, "trades", start_ns, end_ns, instruments)

    def load_trades_by_timestamp(
        self,
        conn: sqlite3.Connection,
        scan: OrderScan,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> dict[int, list[TradeRow]]:
        """The seed's grouping of trades by instant, for callers that want random access."""
        grouped: dict[int, list[TradeRow]] = {}
        for row in self.iterate_trade_rows(conn, scan, start_ns, end_ns):
            grouped.setdefault(row[-1], []).append(row)
        return grouped

    def book_batches(
        self,
        conn: sqlite3.Connection,
        scan: OrderScan,
        start_ns: int | None = None,
        end_ns: int | None = None,
        instruments: Sequence[str] | None = None,
        unparseable: Callable[[int], None] | None = None,
    ) -> Iterator[list[BookRow]]:
        """``iterate_book_rows`` a fetch at a time (the hot path avoids a yield per row).

        Through an unverified scan, rows are checked for time order and the ids of
        this range's rows whose timestamp does not parse go to ``unparseable``.
        """
        return self._batches(
            conn, scan, _BOOK_SELECT, "book", start_ns, end_ns, instruments, unparseable
        )

    def trade_batches(
        self,
        conn: sqlite3.Connection,
        scan: OrderScan,
        start_ns: int | None = None,
        end_ns: int | None = None,
        instruments: Sequence[str] | None = None,
        unparseable: Callable[[int], None] | None = None,
    ) -> Iterator[list[TradeRow]]:
        """``iterate_trade_rows`` a fetch at a time (see ``book_batches``)."""
        return self._batches(
            conn, scan, _TRADE_SELECT, "trades", start_ns, end_ns, instruments, unparseable
        )

    def _iterate(
        self,
        conn: sqlite3.Connection,
        scan: OrderScan,
        select: str,
        table: str,
        start_ns: int | None,
        end_ns: int | None,
        instruments: Sequence[str] | None,
    ) -> Iterator[tuple]:
        batches = self._batches(conn, scan, select, table, start_ns, end_ns, instruments)
        return chain.from_iterable(batches)

    def _batches(
        self,
        conn: sqlite3.Connection,
        scan: OrderScan,
        select: str,
        table: str,
        start_ns: int | None,
        end_ns: int | None,
        instruments: Sequence[str] | None,
        unparseable: Callable[[int], None] | None = None,
    ) -> Iterator[list[tuple]]:
        wanted = set(instruments) if instruments else None
        lo_ns = start_ns if start_ns is not None else -(2**63)
        hi_ns = end_ns if end_ns is not None else 2**63
        if scan.time_ordered:
            id_lo, id_hi = scan.id_bounds(start_ns, end_ns)
            cursor = conn.execute(
                f"{select} FROM {table} WHERE id BETWEEN ? AND ? ORDER BY id", (id_lo, id_hi)
            )
            if scan.margin_ns:
                yield from reordered_batches(
                    cursor,
                    table,
                    scan.sample_ids,
                    scan.sample_ns,
                    scan.sample_min,
                    scan.margin_ns,
                    (lo_ns, hi_ns),
                    wanted,
                    check=not scan.verified,
                    unparseable=unparseable,
                )
                return
            check = None if scan.verified else _OrderCheck(table, start_ns, end_ns)
            while batch := cursor.fetchmany(FETCH_ROWS):
                instants = parse_instants_ns([row[-1] for row in batch])
                if check is not None:
                    check.batch(batch, instants, unparseable)
                kept = [
                    (*row, ns)
                    for row, ns in zip(batch, instants, strict=True)
                    if ns is not None and lo_ns <= ns < hi_ns
                ]
                if wanted is not None:
                    kept = [row for row in kept if row[1] in wanted]
                if kept:
                    yield kept
            return
        upper = "t < ?" if end_ns is not None else "t <= ?"
        cursor = conn.execute(
            f"{select}, orderflow_instant(timestamp) AS t FROM {table}"
            f" WHERE t >= ? AND {upper} ORDER BY t, id",
            (lo_ns, min(hi_ns, 2**63 - 1)),
        )
        yield from row_batches(cursor, wanted)


class _OrderCheck:
    """Checks, row by row, what an unverified scan assumed of the rows one range reads.

    A row whose timestamp does not parse belongs to the range holding the instant
    of the nearest parseable row before it (the first range when there is none):
    a rule every range applies alike, whatever its samples, so each such row is
    reported exactly once per plan, resumed runs included.
    """

    def __init__(self, table: str, start_ns: int | None, end_ns: int | None) -> None:
        self.table = table
        self.lo_ns = start_ns if start_ns is not None else -(2**63)
        self.hi_ns = end_ns if end_ns is not None else 2**63
        self.previous_ns = -(2**63)

    def batch(
        self,
        rows: Sequence[tuple],
        instants: list[int | None],
        unparseable: Callable[[int], None] | None,
    ) -> None:
        """Raises TableOutOfOrder; reports this range's unparseable rows."""
        previous = self.previous_ns
        if None not in instants and instants[0] >= previous and instants == sorted(instants):
            self.previous_ns = instants[-1]
            return
        for row, ns in zip(rows, instants, strict=True):
            if ns is None:
                if unparseable is not None and self.lo_ns <= previous < self.hi_ns:
                    unparseable(row[0])
            elif ns < previous:
                raise TableOutOfOrder(self.table, row[0])
            else:
                previous = ns
        self.previous_ns = previous


def row_batches(cursor: sqlite3.Cursor, instruments: set[str] | None) -> Iterator[list[tuple]]:
    """Fetch batches of an already ordered query, keeping rows whose instrument (second
    column) is wanted; None wants every instrument."""
    while batch := cursor.fetchmany(FETCH_ROWS):
        if instruments is not None:
            batch = [row for row in batch if row[1] in instruments]
        if batch:
            yield batch


def check_input_table(table: str) -> None:
    """Table names cannot be SQL parameters; only the two input tables are ever
    interpolated into SQL, and this is the gate."""
    if table not in REQUIRED_COLUMNS:
        raise ValueError(f"unknown input table {table!r}")
