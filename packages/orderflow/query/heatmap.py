"""The depth heatmap as a grid for any time range, at a resolution that fits.

Stored buckets (``metrics_heatmap``, width ``w``) are merged into columns of
``f`` buckets, ``f`` the smallest of 1, 2, 5, 10, 20, 50, ... that gives at
most ``max_columns`` columns, aligned to the epoch like candles, so a zoomed
query's columns line up with the overview's. A column's cell is the mean over
all its snapshots: the buckets' per-bin sums added and divided by their
summed snapshot counts (a bucket of 10 snapshots weighs ten times one of 1).
With ``max_rows`` the price bins are merged likewise, by ``g`` ticks, and a
merged bin holds the summed size of its ticks (resting size per price range).
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from orderflow.core.heatmap import ASKS, BIDS
from orderflow.query.api import Instant, to_instant_ns
from orderflow.store.connections import open_readonly
from orderflow.store.heatmap_store import read_grid, read_heatmap_cells

__all__ = ["HeatmapGrid", "aligned_factor", "heatmap", "nice_factor"]

NS_PER_MS = 1_000_000


@dataclass(frozen=True)
class HeatmapGrid:
    """Mean resting size per (price row, time column) of one instrument.

    ``bids``/``asks`` have shape (rows, columns); row r covers prices
    ``[prices[r], prices[r] + row_height)``, column c instants
    ``[times_ns[c], times_ns[c] + column_ns)``. Columns without a snapshot are
    NaN (no data, not an empty book); ``snapshots`` counts them per column.
    """

    instrument: str
    tick: float
    row_height: float
    column_ns: int
    times_ns: np.ndarray
    prices: np.ndarray
    bids: np.ndarray
    asks: np.ndarray
    snapshots: np.ndarray


def nice_factor(needed: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is >= ``needed``."""
    factor = 1
    while True:
        for step in (1, 2, 5):
            if step * factor >= needed:
                return step * factor
        factor *= 10


def aligned_factor(lo: int, hi: int, limit: int) -> int:
    """The smallest nice factor f whose aligned groups ``lo // f .. hi // f`` number <= limit.

    A range across 0 always spans groups -1 and 0, so limit 1 gets 2 there.
    """
    f = nice_factor((hi - lo + 1) / limit)
    enough = 2 * max(abs(lo), abs(hi)) + 2  # from here on at most groups -1 and 0
    while hi // f - lo // f + 1 > limit and f < enough:
        f = nice_factor(f + 1)
    return f


def _bucket_span(
    conn: sqlite3.Connection, instrument: str, start: int | None, end: int | None, bucket_ns: int
) -> tuple[int, int] | None:
    first, last = conn.execute(
        "SELECT min(bucket), max(bucket) FROM metrics_heatmap WHERE instrument = ?", (instrument,)
    ).fetchone()
    if first is None:
        return None
    lo = first if start is None else max(first, start // bucket_ns)
    hi = last if end is None else min(last, -(-end // bucket_ns) - 1)
    return (lo, hi) if lo <= hi else None


def heatmap(
    db: str | Path,
    instrument: str,
    start: Instant = None,
    end: Instant = None,
    max_columns: int = 1000,
    max_rows: int | None = None,
) -> HeatmapGrid | None:
    """The heatmap grid of ``instrument`` for buckets meeting ``[start, end)``.

    None when the file has no heatmap for the instrument or nothing in the range.
    """
    if max_columns < 1 or (max_rows is not None and max_rows < 1):
        raise ValueError("max_columns and max_rows must be >= 1")
    conn = open_readonly(db)  # mode=ro alone needs the -shm file
    try:
        grid = read_grid(conn, instrument)
        if grid is None or grid[0] is None:
            return None
        tick, bucket_ms, _ = grid
        bucket_ns = bucket_ms * NS_PER_MS
        span = _bucket_span(conn, instrument, to_instant_ns(start), to_instant_ns(end), bucket_ns)
        if span is None:
            return None
        f = aligned_factor(span[0], span[1], max_columns)
        first_col, last_col = span[0] // f, span[1] // f
        n_cols = last_col - first_col + 1
        sides = [read_heatmap_cells(conn, instrument, side, *span) for side in (BIDS, ASKS)]
    finally:
        conn.close()
    buckets, snapshots = sides[BIDS][:2]
    counts = np.bincount(buckets // f - first_col, weights=snapshots, minlength=n_cols)
    counts = counts.astype(np.int64)
    all_bins = [side[3] for side in sides if len(side[3])]
    lo_bin = min((int(b.min()) for b in all_bins), default=0)
    hi_bin = max((int(b.max()) for b in all_bins), default=-1)
    g = 1 if max_rows is None else aligned_factor(lo_bin, hi_bin, max_rows)
    first_row = math.floor(lo_bin / g)
    n_rows = max(0, math.floor(hi_bin / g) - first_row + 1)
    grids = []
    for _, _, cell_bucket, cell_bin, cell_sum in sides:
        index = (cell_bin // g - first_row) * n_cols + (cell_bucket // f - first_col)
        total = np.bincount(index, weights=cell_sum, minlength=n_rows * n_cols)
        total = total.reshape(n_rows, n_cols)
        with np.errstate(invalid="ignore", divide="ignore"):
            grids.append(np.where(counts > 0, total / counts, np.nan))
    row_height = float(f"{g * tick:.12g}")
    return HeatmapGrid(
        instrument=instrument,
        tick=tick,
        row_height=row_height,
        column_ns=f * bucket_ns,
        times_ns=(first_col + np.arange(n_cols, dtype=np.int64)) * f * bucket_ns,
        prices=(first_row + np.arange(n_rows)) * g * tick,
        bids=grids[BIDS],
        asks=grids[ASKS],
        snapshots=counts,
    )
