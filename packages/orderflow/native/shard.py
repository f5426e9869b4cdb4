"""One time range's metrics through the compiled kernel, as ``RangeMetrics`` computes them.

The kernel steps the range's book and trade rows in C and hands back columns; this
module does what is left per range, over arrays: the rows the kernel declined go to
the Python reference one by one (``parse_instant_ns``, ``snapshot_metrics``,
``trade_reject_reason``), the order checks of an unverified scan, the time and
instrument filters, the (instant, id) ordering, then OFI and the CVD merge in C.
So results, rejects and reasons are those of ``RangeMetrics``, without a Python
object per row or per level on the common path.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from orderflow.core.calculator import InvalidSnapshot, snapshot_values, trade_sign
from orderflow.core.errors import TableOutOfOrder
from orderflow.core.flow_batch import FLOW_VALUES
from orderflow.core.heatmap import (
    DEFAULT_BUCKET_MS,
    HeatmapAccumulator,
    HeatmapPartials,
    merge_partials,
)
from orderflow.core.order_flow import BookTop
from orderflow.core.timestamps import cell_text, parse_instant_ns
from orderflow.native import KERNEL, UNAVAILABLE_REASON
from orderflow.pipeline.range_metrics import instrument_problem, trade_reject_reason
from orderflow.store.input_repository import UNPARSEABLE_REASON, OrderScan
from orderflow.store.near_order import check_columns

__all__ = ["KERNEL_COLUMNS", "KernelRange", "RangeColumns", "supports"]

KERNEL_COLUMNS = FLOW_VALUES
"""The per-snapshot float columns the kernel computes, in the reference's order (NaN = NULL)."""
CHUNK_ROWS = 4096
"""Rows per kernel call at most: the caller's tick runs between calls."""
CHUNK_BYTES = 4 << 20
"""Side text per kernel call at most, so books of thousands of levels tick as often."""
_FETCH_IDS = 500
_MIN_NS = -(2**63)
_MAX_NS = 2**63 - 1
_COMPUTED, _OUTSIDE, _DECLINED = 0, 1, 2
_ALL_LEVELS = 1 << 62


def supports(book_scan: OrderScan, trade_scan: OrderScan, order_index: str | None) -> bool:
    """Whether the kernel reads these tables as fast as the Python path: by primary-key
    range when they are in time order. A table out of order is read whole and
    ordered locally, which is what the Python path's SQL sort costs too, unless the
    coordinator built an order index for it; then the Python path reads that."""
    return order_index is None or (book_scan.time_ordered and trade_scan.time_ordered)


@dataclass
class RangeColumns:
    """A range's valid snapshots in (instant, id) order, column by column."""

    ids: np.ndarray
    ns: np.ndarray
    codes: np.ndarray
    """Index into ``names`` per snapshot."""
    names: list[str]
    timestamps: bytes
    """The raw ``timestamp`` text of every snapshot, one after another (UTF-8)."""
    timestamp_offsets: np.ndarray
    """Row i's text is ``timestamps[o[i]:o[i + 1]]``."""
    values: dict[str, np.ndarray]
    """``KERNEL_COLUMNS`` plus ``cvd``, ``ofi`` and ``mlofi``, float64, NaN = NULL."""
    levels: np.ndarray
    """(n, 4 * ofi_levels): bid prices, bid sizes, ask prices, ask sizes, best first."""
    counts: np.ndarray
    """(n, 2): levels per side in ``levels``."""
    heatmap: HeatmapPartials | None = None
    """With heatmap ticks: the range's depth heatmap, as ``HeatmapAccumulator.partials``
    gives it for the same snapshots (sums equal up to the order of float additions)."""
    rejects: list[tuple[str, int, str]] = field(default_factory=list)
    signed_volume: dict[str, float] = field(default_factory=dict)
    trades: int = 0

    def top(self, row: int) -> BookTop:
        """Row ``row``'s best aggregated levels as ``order_flow.BookTop``."""
        m = self.levels.shape[1] // 4
        nb, na = self.counts[row].tolist()
        level = self.levels[row].tolist()
        return (
            tuple(level[:nb]),
            tuple(level[m : m + nb]),
            tuple(level[2 * m : 2 * m + na]),
            tuple(level[3 * m : 3 * m + na]),
        )

    def heads_and_tails(self) -> tuple[dict[str, BookTop], dict[str, BookTop]]:
        """Each instrument's first and last snapshot's ``BookTop`` (OFI across ranges)."""
        heads: dict[str, BookTop] = {}
        tails: dict[str, BookTop] = {}
        if len(self.codes):
            found, first = np.unique(self.codes, return_index=True)
            _, last_reversed = np.unique(self.codes[::-1], return_index=True)
            last = len(self.codes) - 1 - last_reversed
            for code, a, b in zip(found.tolist(), first.tolist(), last.tolist(), strict=True):
                heads[self.names[code]] = self.top(a)
                tails[self.names[code]] = self.top(b)
        return heads, tails


def _concat(chunks: list[dict[str, bytes]], name: str, dtype: str) -> np.ndarray:
    return np.frombuffer(b"".join(c[name] for c in chunks), dtype=dtype)


class KernelRange:
    """``RangeMetrics`` for ``start_ns <= instant < end_ns`` through ``_kernel.Reader``.

    ``conn`` (the Python connection to the same file) serves only the rows the
    kernel declined, fetched by id.
    """

    def __init__(
        self,
        reader: object,
        conn: sqlite3.Connection,
        book_scan: OrderScan,
        trade_scan: OrderScan,
        start_ns: int | None = None,
        end_ns: int | None = None,
        *,
        depth: int | None = None,
        ofi_levels: int = 5,
        instruments: Sequence[str] | None = None,
        tick: Callable[[], None] = lambda: None,
        heatmap: Mapping[str, float] | None = None,
        heatmap_bucket_ms: int = DEFAULT_BUCKET_MS,
    ) -> None:
        if KERNEL is None:
            raise RuntimeError(f"the native kernel is unavailable: {UNAVAILABLE_REASON}")
        self._k = KERNEL
        self._reader = reader
        self._conn = conn
        self._book_scan = book_scan
        self._trade_scan = trade_scan
        self._start_ns = start_ns
        self._end_ns = end_ns
        self._lo = start_ns if start_ns is not None else _MIN_NS
        self._hi = end_ns if end_ns is not None else _MAX_NS
        self._depth = depth
        self._m = ofi_levels
        self._wanted = set(instruments) if instruments else None
        self._tick = tick
        self._heatmap = (
            HeatmapAccumulator(heatmap, heatmap_bucket_ms) if heatmap is not None else None
        )
        """The reference accumulator: the declined rows' heatmap, and the ticks."""
        self.rejects: list[tuple[str, int, str]] = []
        self._reject_keys: list[tuple[int, int, int]] = []

    def compute(self) -> RangeColumns:
        """Raises TableOutOfOrder as ``RangeMetrics`` does for an unverified scan."""
        book = self._book()
        trade_ns, trade_codes, signed = self._trades()
        names = self._reader.instruments()  # type: ignore[attr-defined]
        cvd, totals, traded = self._k.cvd(
            book["ns"], book["codes"], trade_ns, trade_codes, signed, max(len(names), 1)
        )
        totals = np.frombuffer(totals, dtype="<f8")
        traded = np.frombuffer(traded, dtype=np.uint8)
        ofi, mlofi = self._k.order_flow(book["codes"], book["levels"], book["counts"], self._m)
        values = dict(book["values"])
        values["cvd"] = np.frombuffer(cvd, dtype="<f8")
        values["ofi"] = np.frombuffer(ofi, dtype="<f8")
        values["mlofi"] = np.frombuffer(mlofi, dtype="<f8")
        return RangeColumns(
            ids=book["ids"],
            ns=book["ns"],
            codes=book["codes"],
            names=names,
            timestamps=book["timestamps"],
            timestamp_offsets=book["timestamp_offsets"],
            values=values,
            levels=book["levels"],
            counts=book["counts"],
            heatmap=book["heatmap"],
            rejects=[r for _, r in sorted(zip(self._reject_keys, self.rejects, strict=True))],
            signed_volume={names[c]: float(totals[c]) for c in np.flatnonzero(traded)},
            trades=len(signed),
        )

    # ---- book ----

    def _book(self) -> dict:
        m = self._m
        id_lo, id_hi = self._book_scan.id_bounds(self._start_ns, self._end_ns)
        chunks = []
        heat, heat_names = self._native_heatmap()
        after: int | None = id_lo - 1
        while after is not None:
            after, _, columns = self._reader.book(  # type: ignore[attr-defined]
                after + 1,
                id_hi,
                self._lo,
                self._hi,
                self._depth,
                m,
                CHUNK_ROWS,
                True,
                CHUNK_BYTES,
                heat,
            )
            chunks.append(columns)
            self._tick()
        ids = _concat(chunks, "id", "<i8")
        ns = _concat(chunks, "ns", "<i8").copy()
        status = _concat(chunks, "status", np.uint8).copy()
        codes = _concat(chunks, "instrument", "<i4").copy()
        values = {name: _concat(chunks, name, "<f8").copy() for name in KERNEL_COLUMNS}
        levels = _concat(chunks, "levels", "<f8").reshape(-1, 4 * m).copy()
        counts = _concat(chunks, "counts", np.uint8).reshape(-1, 2).copy()
        blob, offsets = _timestamp_blob(chunks)
        valid = status == _COMPUTED
        declined = np.flatnonzero(status == _DECLINED)
        if len(declined):
            rows = self._fetch("book", ids[declined])
            for i in declined:
                valid[i] = self._book_row(rows[int(ids[i])], i, ns, codes, values, levels, counts)
        self._check_order("book", ids, ns, status)
        if self._wanted is not None:
            valid &= self._wanted_codes(codes)
        keep = _time_order(ids, ns, valid)
        kept_blob, kept_offsets = _gather_texts(blob, offsets, keep)
        return {
            "ids": ids[keep],
            "ns": ns[keep],
            "codes": codes[keep],
            "values": {name: column[keep] for name, column in values.items()},
            "levels": np.ascontiguousarray(levels[keep]),
            "counts": np.ascontiguousarray(counts[keep]),
            "timestamps": kept_blob,
            "timestamp_offsets": kept_offsets,
            "heatmap": self._heatmap_partials(heat, heat_names),
        }

    def _native_heatmap(self) -> tuple[object | None, list[str]]:
        """The kernel's accumulator for this range: a tick per instrument code (the
        ticked names get their codes now; the rows' names join the same numbering),
        for the wanted instruments only, as the reference skips the others."""
        if self._heatmap is None:
            return None, []
        ticks = {
            self._code(name): tick
            for name, tick in self._heatmap.ticks.items()
            if self._wanted is None or name in self._wanted
        }
        by_code = np.zeros(max(ticks, default=-1) + 1, "<f8")
        by_code[list(ticks)] = list(ticks.values())
        names = self._reader.instruments()[: len(by_code)]  # type: ignore[attr-defined]
        return self._k.Heatmap(by_code, self._heatmap.bucket_ns), names

    def _heatmap_partials(self, heat: object | None, names: list[str]) -> HeatmapPartials | None:
        """The kernel's partial cells, with those of the rows the reference computed."""
        if heat is None or self._heatmap is None:
            return None
        rank = np.empty(len(names), "<i4")
        rank[sorted(range(len(names)), key=names.__getitem__)] = np.arange(len(names))
        codes, *columns = heat.partials(rank)  # type: ignore[attr-defined]
        got = HeatmapPartials([names[c] for c in codes], *columns)
        if self._heatmap.pending_span() is None:
            return got
        return merge_partials([got, self._heatmap.partials()])

    def _book_row(
        self,
        row: tuple,
        i: int,
        ns: np.ndarray,
        codes: np.ndarray,
        values: dict[str, np.ndarray],
        levels: np.ndarray,
        counts: np.ndarray,
    ) -> bool:
        """The reference's verdict on one declined snapshot, written into row ``i``
        (its timestamp text stays the cell's own, as the kernel stored it; with a
        heatmap, its aggregated levels go to the reference accumulator)."""
        row_id, instrument, bids, asks, timestamp = row
        timestamp = cell_text(timestamp)  # an INTEGER or REAL cell is stored as SQLite's text
        instrument = cell_text(instrument)
        instant = parse_instant_ns(timestamp)
        ns[i] = instant if instant is not None else _MIN_NS
        if instant is None or not self._lo <= instant < self._hi:
            return False
        if self._wanted is not None and instrument not in self._wanted:
            return False
        if type(instrument) is not str:
            self._reject("book", row_id, instrument_problem(instrument), instant)
            return False
        try:
            top = _ALL_LEVELS if self._heatmap is not None else self._m
            reference = snapshot_values(bids, asks, self._depth, top)
        except InvalidSnapshot as exc:
            self._reject("book", row_id, str(exc), instant)
            return False
        for name, value in zip(KERNEL_COLUMNS, reference[:11], strict=True):
            values[name][i] = np.nan if value is None else value
        m = self._m
        if self._heatmap is not None:
            self._heatmap.add(instrument, instant, *reference[11])
        bid_prices, bid_sizes, ask_prices, ask_sizes = (side[:m] for side in reference[11])
        levels[i] = 0.0
        levels[i, : len(bid_prices)] = bid_prices
        levels[i, m : m + len(bid_sizes)] = bid_sizes
        levels[i, 2 * m : 2 * m + len(ask_prices)] = ask_prices
        levels[i, 3 * m : 3 * m + len(ask_sizes)] = ask_sizes
        counts[i] = (len(bid_prices), len(ask_prices))
        codes[i] = self._code(instrument)
        return True

    # ---- trades ----

    def _trades(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        id_lo, id_hi = self._trade_scan.id_bounds(self._start_ns, self._end_ns)
        chunks = []
        after: int | None = id_lo - 1
        while after is not None:
            after, _, columns = self._reader.trades(  # type: ignore[attr-defined]
                after + 1, id_hi, self._lo, self._hi, CHUNK_ROWS
            )
            chunks.append(columns)
            self._tick()
        ids = _concat(chunks, "id", "<i8")
        ns = _concat(chunks, "ns", "<i8").copy()
        status = _concat(chunks, "status", np.uint8).copy()
        codes = _concat(chunks, "instrument", "<i4").copy()
        signed = _concat(chunks, "signed_size", "<f8").copy()
        valid = status == _COMPUTED
        declined = np.flatnonzero(status == _DECLINED)
        if len(declined):
            rows = self._fetch("trades", ids[declined])
            for i in declined:
                valid[i] = self._trade_row(rows[int(ids[i])], i, ns, codes, signed)
        self._check_order("trades", ids, ns, status)
        if self._wanted is not None:
            valid &= self._wanted_codes(codes)
        keep = _time_order(ids, ns, valid)
        return ns[keep], codes[keep], signed[keep]

    def _trade_row(
        self, row: tuple, i: int, ns: np.ndarray, codes: np.ndarray, signed: np.ndarray
    ) -> bool:
        row_id, instrument, price, size, side, timestamp = row
        instrument = cell_text(instrument)
        instant = parse_instant_ns(timestamp)
        ns[i] = instant if instant is not None else _MIN_NS
        if instant is None or not self._lo <= instant < self._hi:
            return False
        if self._wanted is not None and instrument not in self._wanted:
            return False
        reason = trade_reject_reason(instrument, price, size, side)
        if reason is not None:
            self._reject("trades", row_id, reason, instant)
            return False
        signed[i] = trade_sign(side) * float(size)
        codes[i] = self._code(instrument)
        return True

    # ---- shared ----

    def _fetch(self, table: str, ids: np.ndarray) -> dict[int, tuple]:
        columns = (
            "id, instrument, bids, asks, timestamp"
            if table == "book"
            else "id, instrument, price, size, side, timestamp"
        )
        rows: dict[int, tuple] = {}
        wanted = ids.tolist()
        for start in range(0, len(wanted), _FETCH_IDS):
            part = wanted[start : start + _FETCH_IDS]
            marks = ",".join("?" * len(part))
            query = f"SELECT {columns} FROM {table} WHERE id IN ({marks})"  # table: book|trades
            for row in self._conn.execute(query, part):
                rows[row[0]] = row
        return rows

    def _code(self, instrument: object) -> int:
        """The kernel's code of a name it did not read itself (it declined the row)."""
        return self._reader.code(str(instrument))  # type: ignore[attr-defined]

    def _wanted_codes(self, codes: np.ndarray) -> np.ndarray:
        names = self._reader.instruments()  # type: ignore[attr-defined]
        wanted = [c for c, name in enumerate(names) if name in self._wanted]  # type: ignore[operator]
        return np.isin(codes, wanted)

    def _check_order(self, table: str, ids: np.ndarray, ns: np.ndarray, status: np.ndarray) -> None:
        """What an unverified scan assumed (``_OrderCheck``): instants never go back in
        id order, and unparseable rows are this range's when the last parseable
        instant before them lies in it."""
        scan = self._book_scan if table == "book" else self._trade_scan
        if scan.verified or not len(ns):
            return
        if scan.margin_ns:  # ids nearly in time order: the envelope (orderflow.store.near_order)
            samples = (scan.sample_ids, scan.sample_ns, scan.sample_min)
            parsed = ns != _MIN_NS
            span = (self._lo, self._hi)
            for row_id in check_columns(table, ids, ns, parsed, samples, scan.margin_ns, span):
                self._reject(table, row_id, UNPARSEABLE_REASON)
            return
        parsed = ns != _MIN_NS
        running = np.maximum.accumulate(np.where(parsed, ns, _MIN_NS))
        before = np.concatenate(([_MIN_NS], running[:-1]))
        back = np.flatnonzero(parsed & (ns < before))
        for i in np.flatnonzero(~parsed):
            if len(back) and back[0] < i:
                break
            if self._lo <= before[i] < self._hi:
                self._reject(table, int(ids[i]), UNPARSEABLE_REASON)
        if len(back):
            raise TableOutOfOrder(table, int(ids[back[0]]))

    def _reject(self, table: str, row_id: int, reason: str, ns: int = _MIN_NS) -> None:
        """Record a reject; ``ns`` (the row's instant) orders it as ``RangeMetrics``
        meets it: merged by instant, a trade before a snapshot of the same instant,
        unparseable rows (no instant) first, as a range's first fetch reports them."""
        self._reject_keys.append((ns, 1 if table == "book" else 0, row_id))
        self.rejects.append((table, row_id, reason))


def _timestamp_blob(chunks: list[dict[str, bytes]]) -> tuple[np.ndarray, np.ndarray]:
    """Every row's timestamp text as one byte array and its row offsets."""
    blob = np.frombuffer(b"".join(c["ts_blob"] for c in chunks), dtype=np.uint8)
    offsets = [np.zeros(1, np.int64)]
    base = 0
    for c in chunks:
        part = np.frombuffer(c["ts_offsets"], dtype="<i8")
        offsets.append(part[1:] + base)
        base += int(part[-1])
    return blob, np.concatenate(offsets)


def _gather_texts(
    blob: np.ndarray, offsets: np.ndarray, keep: np.ndarray
) -> tuple[bytes, np.ndarray]:
    """The texts of rows ``keep``, in that order, without a Python object per row."""
    starts = offsets[keep]
    lengths = offsets[keep + 1] - starts
    kept_offsets = np.zeros(len(keep) + 1, np.int64)
    np.cumsum(lengths, out=kept_offsets[1:])
    picks = np.repeat(starts - kept_offsets[:-1], lengths) + np.arange(kept_offsets[-1])
    return blob[picks].tobytes(), kept_offsets


def _time_order(ids: np.ndarray, ns: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Indices of the valid rows in (instant, id) order (ids arrive ascending)."""
    keep = np.flatnonzero(valid)
    picked = ns[keep]
    if len(picked) > 1 and np.any(picked[1:] < picked[:-1]):
        keep = keep[np.lexsort((ids[keep], picked))]
    return keep
