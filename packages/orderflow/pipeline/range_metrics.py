"""Metrics for every snapshot in one time range, with CVD relative to the range start.

This is the unit of work shared by the in-process pipeline (one range: the whole
file) and the ZeroMQ workers (one range per shard). Keeping one implementation
is what makes ``--workers 0`` the reference the sharded path must match: a
worker's CVD plus the running total of earlier shards is, by construction, the
same float sum the in-process path forms.

Trades and snapshots are merged as two (instant, id)-ordered streams; a trade
at the same instant as a snapshot belongs to that snapshot (``<=``).

OFI and multi-level OFI compare a snapshot with the previous valid snapshot of
its instrument. Within the range that is the previous row; the first row of each
instrument has none here, so it is left NULL and the instrument's first and last
``BookTop`` are kept (``heads``, ``tails``): the coordinator fills that row from
the previous range's tail, which is how shard edges change nothing.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from itertools import chain

import numpy as np

from orderflow.core.calculator import (
    InvalidSnapshot,
    number_from_text,
    snapshot_levels,
    trade_sign,
)
from orderflow.core.flow_batch import flow_batch
from orderflow.core.heatmap import HeatmapAccumulator
from orderflow.core.ofi_columns import ofi_columns, top_arrays
from orderflow.core.order_flow import BookTop
from orderflow.core.packed_levels import pack_into
from orderflow.pipeline.result_columns import MetricBatch
from orderflow.store.input_repository import (
    UNPARSEABLE_REASON,
    OrderScan,
    SQLiteOrderflowRepository,
)
from orderflow.store.metrics_repository import MetricRow, RejectRow

__all__ = ["DEFAULT_OFI_LEVELS", "RangeMetrics", "instrument_problem", "trade_reject_reason"]

DEFAULT_OFI_LEVELS = 5
"""Levels of multi-level OFI (profile ``ofi_levels``)."""

SCRATCH_BYTES = 4096
"""A snapshot's packed levels are written here first (``packed_levels.pack_into``): room
for about 220 levels in all; a deeper book grows it."""
_isfinite = math.isfinite
_INF = math.inf


def _nullable(column: np.ndarray) -> list[float | None]:
    """A float column as Python values, NaN as None (SQL NULL)."""
    values = column.tolist()
    for i in np.flatnonzero(np.isnan(column)).tolist():
        values[i] = None
    return values


def _previous_rows(codes: np.ndarray) -> np.ndarray:
    """Per row, the index of the last earlier row with the same code, or -1."""
    order = np.argsort(codes, kind="stable")
    same = codes[order[1:]] == codes[order[:-1]]
    previous = np.full(len(codes), -1, dtype=np.int64)
    previous[order[1:][same]] = order[:-1][same]
    return previous


def _bad_number(value: object) -> bool:
    if type(value) is float or type(value) is int:
        return not (_isfinite(value) and value >= 0)
    if isinstance(value, str):
        number = number_from_text(value)
        return number is None or not (_isfinite(number) and number >= 0)
    return True


def instrument_problem(instrument: object) -> str:
    """The reject reason of an instrument cell that is not text (NULL or a BLOB; readers
    turn numbers into text)."""
    if instrument is None:
        return "instrument is NULL"
    return f"instrument is a {type(instrument).__name__} cell, not text"


def trade_reject_reason(
    instrument: object, price: object, size: object, side: object
) -> str | None:
    """Why a trade row is invalid per metrics.md, or None when it counts."""
    if type(instrument) is not str:
        return instrument_problem(instrument)
    if _bad_number(price):
        return f"price {price!r} is not a finite number >= 0"
    if _bad_number(size):
        return f"size {size!r} is not a finite number >= 0"
    if trade_sign(side) == 0:
        return f"side {side!r} is not buy or sell"
    return None


class RangeMetrics:
    """Streams metric rows for start_ns <= instant < end_ns (None = unbounded).

    After ``rows()`` is exhausted, ``signed_volume`` holds each instrument's net
    traded size over the whole range (trades after the last snapshot included),
    which is the CVD offset the next range of that instrument starts from, and
    ``heads``/``tails`` the ``BookTop`` of each instrument's first and last row.
    """

    def __init__(
        self,
        repo: SQLiteOrderflowRepository,
        conn: sqlite3.Connection,
        book_scan: OrderScan,
        trade_scan: OrderScan,
        start_ns: int | None = None,
        end_ns: int | None = None,
        *,
        depth: int | None = None,
        instruments: Sequence[str] | None = None,
        ofi_levels: int = DEFAULT_OFI_LEVELS,
        heatmap: HeatmapAccumulator | None = None,
        spill_rejects: Callable[[list[RejectRow]], None] | None = None,
        spill_every: int = 1000,
    ) -> None:
        """``spill_rejects``, when given, receives (and must store) the pending rejects
        whenever ``spill_every`` have piled up, so a file of nothing but bad rows
        cannot grow memory; without it they accumulate in ``rejects``."""
        self._spill = spill_rejects
        self._spill_every = spill_every
        self._repo = repo
        self._conn = conn
        self._book_scan = book_scan
        self._trade_scan = trade_scan
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.depth = depth
        self.ofi_levels = ofi_levels
        self.heatmap = heatmap
        """Given, it receives every valid snapshot's counted levels (the depth heatmap)."""
        self.instruments = list(instruments) if instruments else None
        self.signed_volume: dict[str, float] = {}
        self.heads: dict[str, BookTop] = {}
        self.tails: dict[str, BookTop] = {}
        self._codes: dict[str, int] = {}
        self.instrument_names: list[str] = []
        """Names of ``MetricBatch.instrument_index``, numbered by first valid row."""
        self.rejects: list[RejectRow] = []
        self.snapshots = 0
        self.trades = 0

    def rows(self) -> Iterator[MetricRow]:
        """The range's metric rows, one tuple per valid snapshot (None for NULL)."""
        names = self.instrument_names
        for batch in self.batches():
            values = [_nullable(column) for column in batch.values]
            yield from zip(
                batch.snapshot_ids,
                batch.timestamps,
                *values[:4],
                map(names.__getitem__, batch.instrument_index.tolist()),
                batch.ts_ns,
                *values[4:],
                strict=True,
            )

    def batches(self) -> Iterator[MetricBatch]:
        """The range's metric rows a fetch of book rows at a time, as columns.

        Per snapshot, Python merges the trades, decodes the sides and keeps OBI and
        the levels (``snapshot_levels``); everything else is computed per batch in
        numpy (``flow_batch``, ``ofi_columns``, the heatmap's ``add_many``).
        """
        repo, conn = self._repo, self._conn
        span = (self.start_ns, self.end_ns, self.instruments)
        trades = chain.from_iterable(
            repo.trade_batches(conn, self._trade_scan, *span, self._unparseable_trade)
        )
        book_batches = repo.book_batches(conn, self._book_scan, *span, self._unparseable_book)
        cvd = self.signed_volume
        depth = self.depth
        pack = pack_into
        scratch = bytearray(SCRATCH_BYTES)
        add_trade = self._add_trade
        trade = next(trades, None)
        trade_ns = trade[-1] if trade is not None else _INF
        for batch in book_batches:
            kept = []
            levels = []
            for sid, instrument, bids, asks, timestamp, ns in batch:
                while trade_ns <= ns:
                    add_trade(trade, cvd)  # type: ignore[arg-type]
                    trade = next(trades, None)
                    trade_ns = trade[-1] if trade is not None else _INF
                if type(instrument) is not str:
                    self._reject("book", sid, instrument_problem(instrument))
                    continue
                try:
                    pack(snapshot_levels(bids, asks, depth), scratch)
                except InvalidSnapshot as exc:
                    self._reject("book", sid, str(exc))
                    continue
                levels.append(bytes(scratch))
                kept.append((sid, timestamp, instrument, ns, cvd.get(instrument, 0.0)))
            if kept:
                yield self._batch(kept, levels)
        while trade is not None:
            add_trade(trade, cvd)
            trade = next(trades, None)

    def _batch(self, kept: list[tuple], levels: list[bytes]) -> MetricBatch:
        """One batch's columns; OFI against each instrument's previous snapshot, which
        is a row of this batch or the tail the previous batch left (``tails``)."""
        sids, stamps, instruments, ns, cvd = zip(*kept, strict=True)
        codes = self._codes
        index = np.array(
            [codes.setdefault(name, len(codes)) for name in instruments], dtype=np.int32
        )
        names = self.instrument_names
        if len(codes) > len(names):
            names.extend(list(codes)[len(names) :])
        flow = flow_batch(levels)
        m = self.ofi_levels
        carried = list(self.tails)
        tops = flow.tops(m)
        if carried:
            tops = np.concatenate([top_arrays([self.tails[n] for n in carried], m), tops], axis=1)
        carried_index = np.array([codes[n] for n in carried], dtype=np.int32)
        ofi, mlofi = ofi_columns(tops, _previous_rows(np.concatenate([carried_index, index])))
        found, first = np.unique(index, return_index=True)
        for code, row in zip(found.tolist(), first.tolist(), strict=True):
            if names[code] not in self.heads:
                self.heads[names[code]] = flow.book_top(row, m)
        last = len(index) - 1 - np.unique(index[::-1], return_index=True)[1]
        for code, row in zip(found.tolist(), last.tolist(), strict=True):
            self.tails[names[code]] = flow.book_top(row, m)
        if self.heatmap is not None:
            self.heatmap.add_many(
                names, index, np.array(ns, dtype=np.int64), flow.bids.counts,
                *flow.bids.flat(), flow.asks.counts, *flow.asks.flat(),
            )  # fmt: skip
        self.snapshots += len(kept)
        best_bid, best_ask, obi, *family = flow.values
        own = slice(len(carried), None)
        values = np.stack([obi, np.array(cvd), best_bid, best_ask, *family, ofi[own], mlofi[own]])
        return MetricBatch(list(sids), list(stamps), index, list(ns), values)

    def _unparseable_book(self, row_id: int) -> None:
        self._reject("book", row_id, UNPARSEABLE_REASON)

    def _unparseable_trade(self, row_id: int) -> None:
        self._reject("trades", row_id, UNPARSEABLE_REASON)

    def _reject(self, table: str, row_id: int, reason: str) -> None:
        self.rejects.append((table, row_id, reason))
        if self._spill is not None and len(self.rejects) >= self._spill_every:
            self._spill(self.rejects)
            self.rejects.clear()

    def _add_trade(self, trade: tuple, cvd: dict[str, float]) -> None:
        trade_id, instrument, price, size, side = trade[:5]
        if (
            type(size) is float
            and type(price) is float
            and type(instrument) is str
            and 0.0 <= size < _INF
            and 0.0 <= price < _INF
        ):
            # The common well-formed row; anything else takes the full check below.
            if side == "buy":
                self.trades += 1
                cvd[instrument] = cvd.get(instrument, 0.0) + size
                return
            if side == "sell":
                self.trades += 1
                cvd[instrument] = cvd.get(instrument, 0.0) - size
                return
        reason = trade_reject_reason(instrument, price, size, side)
        if reason is not None:
            self._reject("trades", trade_id, reason)
            return
        self.trades += 1
        cvd[instrument] = cvd.get(instrument, 0.0) + trade_sign(side) * float(size)
