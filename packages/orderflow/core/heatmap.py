"""The depth heatmap of metrics.md "Aggregates over time": an accumulator of partial buckets.

Cell (instrument, side, bucket k, bin j) is the mean, over the valid snapshots
of the instrument with instant in ``[k*w, (k+1)*w)`` (epoch aligned), of the
summed counted size of that side's levels with ``floor(price / tick) == j``
(0 where a snapshot has none). A mean does not merge, but its parts do: each
range of snapshots yields, per (instrument, bucket, side), the per-bin **sums**
and the **count** of valid snapshots, and two parts of a bucket cut by a shard
edge merge by adding both. So workers accumulate their range in the same pass
as the other metrics, and the coordinator adds the parts of edge buckets; the
result does not depend on how the file was split.

Binning: ``floor(price / tick)`` read as decimal arithmetic means. In binary
floating point ``0.3 / 0.1`` is ``2.9999999999999996`` and plain ``floor``
would put a price on the grid into the bin below; ``price_bins`` nudges the
quotient up by a relative 1e-12 first (far below a tick for any price on the
grid, far above the division's rounding error), but by at most a quarter of a
bin: from quotients of 1e12 up (10000.0 at tick 1e-8) a relative nudge alone
would reach a whole bin. So a price within that margin below an edge (a float
artefact such as ``0.7 + 0.1``, 16 significant digits) counts as on the edge;
prices of up to 12 significant digits land exactly where the decimal floor says.

The accumulator is cheap on the hot path: ``add`` appends a snapshot's levels
to flat lists; the binning and summing run in numpy when ``partials`` is
called (once per range).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain

import msgspec
import numpy as np

__all__ = [
    "BIDS",
    "BIN_LIMIT",
    "DEFAULT_BUCKET_MS",
    "HeatmapAccumulator",
    "HeatmapPacked",
    "HeatmapPartials",
    "infer_tick",
    "merge_partials",
    "price_bins",
    "storable_bins",
    "tick_from_gap",
]

DEFAULT_BUCKET_MS = 1000
"""Bucket width ``w`` (profile ``heatmap_bucket_ms``)."""
COMPACT_LEVELS = 400_000
"""Pending levels after which the accumulator bins what it holds: a long range
then keeps partial cells in memory, not a Python float per level."""
BIDS, ASKS = 0, 1
_NUDGE = 1e-12
_MAX_NUDGE = 0.25
BIN_LIMIT = 2.0**62
"""Bins lie strictly within +-2^62, so a row's span of bins fits an int64
(``HM_BIN_LIMIT`` in ``native/kernel_heatmap.h``)."""
NS_PER_MS = 1_000_000


def _nudged_quotients(prices: np.ndarray, tick: float) -> np.ndarray:
    with np.errstate(over="ignore"):  # 100 / 1e-320 is inf: a bin no int64 holds
        quotient = np.asarray(prices, dtype=np.float64) / tick
    nudge = np.minimum(np.abs(quotient) * _NUDGE, _MAX_NUDGE)
    return quotient + nudge


def price_bins(prices: np.ndarray, tick: float) -> np.ndarray:
    """``floor(price / tick)`` per price (int64), robust to binary rounding (module doc).
    Every bin must lie within +-``BIN_LIMIT`` (see ``storable_bins``)."""
    return np.floor(_nudged_quotients(prices, tick)).astype(np.int64)


def storable_bins(prices: np.ndarray, tick: float) -> tuple[np.ndarray, np.ndarray]:
    """(bins, kept): ``price_bins`` of the prices whose bin lies strictly within
    +-``BIN_LIMIT``, and the mask of those prices.

    A bin beyond (1e17 at tick 0.01, 100 at tick 1e-320) is no SQLite INTEGER and
    its distance to a level near the price no int64, so such a level has no cell
    and is left out; the kernel declines those snapshots to this code."""
    quotients = _nudged_quotients(prices, tick)
    kept = np.abs(quotients) < BIN_LIMIT  # NaN is not kept
    return np.floor(quotients[kept]).astype(np.int64), kept


def infer_tick(prices: Iterable[float]) -> float | None:
    """The smallest positive difference between distinct prices (the spec's inferred tick).

    Rounded at the 15th significant digit of the highest price, below which a
    double's difference is noise (43250.1 - 43250.0 reads as 0.1, not
    0.1000000000021828), as ``orderflow.query.footprint.infer_tick`` does for
    trades. None with fewer than two distinct prices.
    """
    ordered = np.sort(np.asarray(list(prices), dtype=np.float64))
    ordered = ordered[np.isfinite(ordered)]
    gaps = np.diff(ordered)
    gaps = gaps[gaps > 0]  # between distinct prices: ``np.unique`` (see _distinct_codes)
    if not len(gaps):
        return None
    return tick_from_gap(float(gaps.min()), float(np.abs(ordered).max()))


def tick_from_gap(gap: float, top: float) -> float:
    """``gap`` rounded at the 15th significant digit of ``top`` (the largest price seen),
    below which a double's difference is noise. Where that rounding would give zero or
    leave the doubles (prices near 1.8e308, which a hostile file can hold: ``round``
    raises there), the gap itself, so an odd file never stops a run."""
    if not (math.isfinite(top) and top != 0):
        return gap
    try:
        rounded = round(gap, 14 - math.floor(math.log10(abs(top))))
    except OverflowError:
        return gap
    return rounded if rounded > 0 and math.isfinite(rounded) else gap


class HeatmapPacked(msgspec.Struct, frozen=True, array_like=True):
    """Every row of a ``HeatmapPartials`` in its stored packing (``heatmap_store``'s
    ``PackedRows``, little-endian bytes): what a worker adds so the coordinator's
    serial write does not pack them. Row r's offsets and sums are the blobs cut at
    ``offset_ends[r]:offset_ends[r+1]`` and ``sum_ends[r]:sum_ends[r+1]``."""

    first_bin: bytes
    """int64 per row."""
    empty: bytes
    """uint8 per row: 1 for a row without cells."""
    offsets: bytes
    offset_ends: bytes
    """int64, rows + 1."""
    no_offsets: bytes
    """uint8 per row: 1 for a dense or empty row."""
    sums: bytes
    """float32 sums of every row, one row after the other."""
    sum_ends: bytes
    """int64, rows + 1 (byte positions in ``sums``)."""


class HeatmapPartials(msgspec.Struct, frozen=True, array_like=True):
    """Partial cells of one range, columnar (it crosses the worker-coordinator wire).

    Row r is (instrument ``instruments[row_instrument[r]]``, ``row_bucket[r]``,
    ``row_side[r]``) with ``row_snapshots[r]`` valid snapshots; its bins and
    summed sizes are ``bins[ends[r-1]:ends[r]]``, ``sums[...]``, ascending by
    bin. Arrays are raw little-endian bytes: int32 instrument index, int64
    bucket, int8 side, int64 snapshots and ends, int64 bins, float64 sums.
    ``packed``, when a worker sent it, holds the same rows packed for storage.
    """

    instruments: list[str]
    row_instrument: bytes
    row_bucket: bytes
    row_side: bytes
    row_snapshots: bytes
    ends: bytes
    bins: bytes
    sums: bytes
    packed: HeatmapPacked | None = None

    def columns(self) -> tuple[np.ndarray, ...]:
        """(instrument index, bucket, side, snapshots, ends, bins, sums) as arrays."""
        return (
            np.frombuffer(self.row_instrument, dtype="<i4"),
            np.frombuffer(self.row_bucket, dtype="<i8"),
            np.frombuffer(self.row_side, dtype="<i1"),
            np.frombuffer(self.row_snapshots, dtype="<i8"),
            np.frombuffer(self.ends, dtype="<i8"),
            np.frombuffer(self.bins, dtype="<i8"),
            np.frombuffer(self.sums, dtype="<f8"),
        )

    def rows(self) -> Iterable[tuple[str, int, int, int, np.ndarray, np.ndarray]]:
        """(instrument, bucket, side, snapshots, bins, sums) per row."""
        instr, bucket, side, snaps, ends, bins, sums = self.columns()
        start = 0
        for r in range(len(bucket)):
            end = int(ends[r])
            yield (
                self.instruments[int(instr[r])],
                int(bucket[r]),
                int(side[r]),
                int(snaps[r]),
                bins[start:end],
                sums[start:end],
            )
            start = end

    def __len__(self) -> int:
        return len(self.row_bucket) // 8


class _Pending:
    """One instrument's snapshots since the last binning: instants and level tuples.

    Keeping the snapshot's own level sequences (no copy per level) and turning
    them into arrays once per binning (``np.fromiter`` over the chained
    sequences) is the cheapest way from Python floats to numpy found. Snapshots
    added in bulk (``add_many``) arrive as arrays already and wait as blocks;
    ``seal`` turns the loose snapshots into a block, so the order is kept.
    """

    __slots__ = ("blocks", "levels", "ts")

    def __init__(self) -> None:
        self.ts: list[int] = []
        self.levels: list[tuple[Sequence[float], ...]] = []
        self.blocks: list[tuple[np.ndarray, ...]] = []
        """(ts, then per side: levels per snapshot, prices, sizes)."""

    def seal(self) -> None:
        if self.ts:
            block: list[np.ndarray] = [np.asarray(self.ts, dtype=np.int64)]
            for side in (BIDS, ASKS):
                per_snapshot = np.fromiter(
                    (len(lv[2 * side]) for lv in self.levels), np.int64, len(self.levels)
                )
                n = int(per_snapshot.sum())
                block += [
                    per_snapshot,
                    _flat(self.levels, 2 * side, n),
                    _flat(self.levels, 2 * side + 1, n),
                ]
            self.blocks.append(tuple(block))
            self.ts, self.levels = [], []

    def arrays(self) -> tuple[np.ndarray, ...]:
        """Every snapshot in the order added: (ts, bid counts, bid prices, bid sizes,
        ask counts, ask prices, ask sizes)."""
        self.seal()
        return tuple(np.concatenate(column) for column in zip(*self.blocks, strict=True))


def _flat(levels: list[tuple[Sequence[float], ...]], field: int, count: int) -> np.ndarray:
    return np.fromiter(chain.from_iterable(lv[field] for lv in levels), np.float64, count)


class HeatmapAccumulator:
    """Collects valid snapshots' levels; ``partials()`` bins and sums them per bucket.

    ``ticks`` maps instrument to bin width; an instrument without one is not
    accumulated (its snapshots are skipped here, and nowhere else).
    """

    def __init__(self, ticks: Mapping[str, float], bucket_ms: int = DEFAULT_BUCKET_MS) -> None:
        if bucket_ms <= 0:
            raise ValueError(f"heatmap bucket {bucket_ms} ms must be positive")
        self.ticks = {name: float(t) for name, t in ticks.items() if t is not None and t > 0}
        self.bucket_ns = bucket_ms * NS_PER_MS
        self._pending: dict[str, _Pending] = {}
        self._pending_levels = 0
        self._chunks: list[HeatmapPartials] = []
        self._span: list[int] = []

    def add(
        self,
        instrument: str,
        ts_ns: int,
        bid_prices: Sequence[float],
        bid_sizes: Sequence[float],
        ask_prices: Sequence[float],
        ask_sizes: Sequence[float],
    ) -> None:
        """One valid snapshot; levels are its counted levels (size > 0), any order."""
        if instrument not in self.ticks:
            return
        p = self._pending.get(instrument)
        if p is None:
            p = self._pending[instrument] = _Pending()
        p.ts.append(ts_ns)
        p.levels.append((bid_prices, bid_sizes, ask_prices, ask_sizes))
        span = self._span
        if not span:
            span += (ts_ns, ts_ns)
        elif ts_ns > span[1]:
            span[1] = ts_ns
        elif ts_ns < span[0]:
            span[0] = ts_ns
        self._pending_levels += len(bid_prices) + len(ask_prices)
        if self._pending_levels > COMPACT_LEVELS:
            self._chunks.append(self._bin_pending())

    def pending_span(self) -> tuple[int, int] | None:
        """(first, last) instant added since the last ``partials``; None when nothing was.

        A caller flushing a time-ordered stream in pieces writes the buckets of
        these two instants as edges: the pieces before and after may share them.
        """
        return (self._span[0], self._span[1]) if self._span else None

    def add_many(
        self,
        names: Sequence[str],
        codes: np.ndarray,
        ts_ns: np.ndarray,
        bid_counts: np.ndarray,
        bid_prices: np.ndarray,
        bid_sizes: np.ndarray,
        ask_counts: np.ndarray,
        ask_prices: np.ndarray,
        ask_sizes: np.ndarray,
    ) -> None:
        """``add`` for many snapshots at once, in row order: row r is instrument
        ``names[codes[r]]`` at ``ts_ns[r]`` with ``bid_counts[r]`` bid levels (the
        next ones of the flat ``bid_prices``/``bid_sizes``) and likewise asks.

        The compiled kernel hands its rows over this way, without a Python object
        per level. The result is bit for bit that of calling ``add`` row by row:
        same levels in the same order, binned at the same snapshots.
        """
        codes = np.asarray(codes)
        ts_ns = np.asarray(ts_ns, dtype=np.int64)
        bid_counts = np.asarray(bid_counts, dtype=np.int64)
        ask_counts = np.asarray(ask_counts, dtype=np.int64)
        bid_starts = np.cumsum(bid_counts) - bid_counts
        ask_starts = np.cumsum(ask_counts) - ask_counts
        taken = [c for c, name in enumerate(names) if name in self.ticks]
        rows = np.flatnonzero(np.isin(codes, taken))
        while len(rows):
            # add() bins once the pending levels exceed COMPACT_LEVELS after a snapshot
            running = self._pending_levels + np.cumsum(bid_counts[rows] + ask_counts[rows])
            over = np.flatnonzero(running > COMPACT_LEVELS)
            cut = int(over[0]) + 1 if len(over) else len(rows)
            part, rows = rows[:cut], rows[cut:]
            for code in _distinct_codes(codes[part]):
                mine = part[codes[part] == code]
                p = self._pending.get(names[code])
                if p is None:
                    p = self._pending[names[code]] = _Pending()
                p.seal()
                p.blocks.append(
                    (
                        ts_ns[mine],
                        bid_counts[mine],
                        *_gather(bid_prices, bid_sizes, bid_starts[mine], bid_counts[mine]),
                        ask_counts[mine],
                        *_gather(ask_prices, ask_sizes, ask_starts[mine], ask_counts[mine]),
                    )
                )
            low, high = int(ts_ns[part].min()), int(ts_ns[part].max())
            self._span = (
                [min(self._span[0], low), max(self._span[1], high)] if self._span else [low, high]
            )
            self._pending_levels = int(running[cut - 1])
            if self._pending_levels > COMPACT_LEVELS:
                self._chunks.append(self._bin_pending())

    def partials(self) -> HeatmapPartials:
        """Everything added so far as partial cells, and a fresh start."""
        self._span = []
        last = self._bin_pending()
        if not self._chunks:
            return last
        chunks, self._chunks = [*self._chunks, last], []
        return merge_partials(chunks)

    def _bin_pending(self) -> HeatmapPartials:
        instruments = sorted(self._pending)
        keys, snaps, rows, bins, sizes_ = [], [], [], [], []
        n_rows = 0
        for index, name in enumerate(instruments):
            ts, *sides = self._pending[name].arrays()
            buckets = ts // self.bucket_ns
            unique_buckets, snapshot_row, counts = np.unique(
                buckets, return_inverse=True, return_counts=True
            )
            tick = self.ticks[name]
            for side in (BIDS, ASKS):
                per_snapshot, prices, sizes = sides[3 * side : 3 * side + 3]
                # rows run bucket by bucket, bids then asks: row = first + 2 * bucket_row + side
                bucket_row = np.repeat(snapshot_row.reshape(-1), per_snapshot)
                binned, kept = storable_bins(prices, tick)
                if not kept.all():
                    bucket_row, sizes = bucket_row[kept], sizes[kept]
                if len(binned):
                    cell = _sum_cells(bucket_row, binned, sizes)
                    rows.append(n_rows + 2 * cell[0] + side)
                    bins.append(cell[1])
                    sizes_.append(cell[2])
            block = np.empty((2 * len(unique_buckets), 3), dtype=np.int64)
            block[:, 0] = index
            block[:, 1] = np.repeat(unique_buckets, 2)
            block[:, 2] = np.tile([BIDS, ASKS], len(unique_buckets))
            keys.append(block)
            snaps.append(np.repeat(counts, 2))
            n_rows += len(block)
        self._pending.clear()
        self._pending_levels = 0
        return _pack(instruments, keys, snaps, rows, bins, sizes_, summed=True)


def _distinct_codes(codes: np.ndarray) -> list[int]:
    """The distinct instrument codes (>= 0), ascending.

    Not ``np.unique(codes)``: without ``return_index`` or the like, numpy 2.4's
    ``unique`` asks ``np.ma.is_masked``, and the first call in a process imports
    ``numpy.ma`` (84M instructions, callgrind: a fifth of the heatmap's cost in a
    worker's first task over a 4,000-snapshot file)."""
    return np.flatnonzero(np.bincount(codes)).tolist()


def _gather(
    prices: np.ndarray, sizes: np.ndarray, starts: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The levels of the rows starting at ``starts`` (``counts`` each), in row order."""
    ends = np.cumsum(counts)
    total = int(ends[-1]) if len(ends) else 0
    picks = np.repeat(starts - (ends - counts), counts) + np.arange(total)
    return np.asarray(prices, np.float64)[picks], np.asarray(sizes, np.float64)[picks]


def _pack(
    instruments: list[str],
    keys: list[np.ndarray],
    snaps: list[np.ndarray],
    rows: list[np.ndarray],
    bins: list[np.ndarray],
    sizes: list[np.ndarray],
    *,
    summed: bool = False,
) -> HeatmapPartials:
    """Partials from row keys (instrument index, bucket, side) and their levels
    (row, bin, size), summing the sizes of equal (row, bin). ``summed``: each part
    already holds distinct (row, bin) sorted, and no row spans two parts."""
    key = np.concatenate(keys) if keys else np.empty((0, 3), dtype=np.int64)
    row = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    bin_ = np.concatenate(bins) if bins else np.empty(0, dtype=np.int64)
    size = np.concatenate(sizes) if sizes else np.empty(0)
    if summed:
        order = np.argsort(row, kind="stable")
        row, bin_, size = row[order], bin_[order], size[order]
    elif len(row):
        row, bin_, size = _sum_cells(row, bin_, size)
    ends = np.searchsorted(row, np.arange(len(key)), side="right")
    return HeatmapPartials(
        instruments=instruments,
        row_instrument=key[:, 0].astype("<i4").tobytes(),
        row_bucket=key[:, 1].astype("<i8").tobytes(),
        row_side=key[:, 2].astype("<i1").tobytes(),
        row_snapshots=(np.concatenate(snaps) if snaps else np.empty(0)).astype("<i8").tobytes(),
        ends=ends.astype("<i8").tobytes(),
        bins=bin_.astype("<i8").tobytes(),
        sums=size.astype("<f8").tobytes(),
    )


def _sum_cells(
    row: np.ndarray, bin_: np.ndarray, size: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equal (row, bin) summed, sorted by (row, bin). A book's bins cluster near
    the price, so a counting pass over (row, bin - lowest bin) usually beats a sort."""
    low, first = int(bin_.min()), int(row.min())
    span = int(bin_.max()) - low + 1
    cells = (int(row.max()) - first + 1) * span
    if cells <= 4 * len(row) + 1024:
        key = (row - first) * span + (bin_ - low)
        totals = np.bincount(key, weights=size, minlength=cells)
        present = np.flatnonzero(np.bincount(key, minlength=cells))
        return present // span + first, present % span + low, totals[present]
    order = np.lexsort((bin_, row))
    row, bin_, size = row[order], bin_[order], size[order]
    starts = np.flatnonzero(np.r_[True, (np.diff(row) != 0) | (np.diff(bin_) != 0)])
    return row[starts], bin_[starts], np.add.reduceat(size, starts)


def merge_partials(parts: Sequence[HeatmapPartials]) -> HeatmapPartials:
    """One set of partial cells from several: equal (instrument, bucket, side) rows
    add their snapshot counts and their sums bin by bin."""
    merged: dict[tuple[str, int, int], list[object]] = {}
    for part in parts:
        for name, bucket, side, snapshots, bins, sums in part.rows():
            entry = merged.setdefault((name, bucket, side), [0, [], []])
            entry[0] += snapshots  # type: ignore[operator]
            entry[1].append(bins)  # type: ignore[union-attr]
            entry[2].append(sums)  # type: ignore[union-attr]
    instruments = sorted({name for name, _, _ in merged})
    index = {name: i for i, name in enumerate(instruments)}
    ordered = sorted(merged, key=lambda k: (index[k[0]], k[1], k[2]))
    keys = [np.array([[index[n], b, s] for n, b, s in ordered], dtype=np.int64).reshape(-1, 3)]
    snaps = [np.array([merged[k][0] for k in ordered], dtype=np.int64)]
    rows, bins, sizes = [], [], []
    for r, k in enumerate(ordered):
        _, k_bins, k_sums = merged[k]
        for b, s in zip(k_bins, k_sums, strict=True):  # type: ignore[call-overload]
            rows.append(np.full(len(b), r, dtype=np.int64))
            bins.append(b)
            sizes.append(s)
    return _pack(instruments, keys, snaps, rows, bins, sizes)
