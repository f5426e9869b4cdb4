"""The depth heatmap at a ladder of bucket widths, kept beside a Dataset's copy.

``orderflow.query.heatmap`` builds a grid by decoding every stored bucket in the
range (two rows a second): an hour is 7,200 rows, a day 172,800, and a day took
30 s on the benchmark machine. Here the stored rows are decoded once, into long
DuckDB tables of (bucket, bin, summed size) per side, with the snapshot count
per bucket, at widths of 1, 10, 100, 1,000 and 10,000 stored buckets. A grid
whose columns merge ``f`` buckets reads the largest width dividing ``f`` (the
column factors are 1, 2, 5, 10, 20, 50, ... so every factor from 10 on has one),
so a day at 600 columns reads about 900 buckets instead of 86,400.

The grid is the one ``orderflow.query.heatmap.heatmap`` returns, cell for cell:
the same column factor, aligned to the epoch, cells the per-bin sums of the
column's buckets divided by their summed snapshot counts (of the bid side, as
there), the same row merging; tests hold the two equal.
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from orderflow.core.heatmap import ASKS, BIDS
from orderflow.query.epoch_floor import floor_div
from orderflow.store.connections import open_readonly
from orderflow.store.heatmap_store import decode_cells

__all__ = ["LADDER", "build_heat_ladder", "query_heat_ladder"]

LADDER = (1, 10, 100, 1_000, 10_000)
"""Widths kept, in stored buckets."""
NS_PER_MS = 1_000_000

_DDL = """
CREATE {create} IF NOT EXISTS heat_cells (
    width BIGINT, instrument VARCHAR, side TINYINT, bucket BIGINT, bin BIGINT, size DOUBLE
);
CREATE {create} IF NOT EXISTS heat_counts (
    width BIGINT, instrument VARCHAR, side TINYINT, bucket BIGINT, snapshots BIGINT
);
CREATE {create} IF NOT EXISTS heat_grid (
    instrument VARCHAR, tick DOUBLE, bucket_ms BIGINT, last_bucket BIGINT
)
"""


def _rows(conn: sqlite3.Connection, instrument: str, from_bucket: int) -> tuple[pa.Table, pa.Table]:
    """Decoded stored rows of ``instrument`` from ``from_bucket`` on: cells and counts.

    Dense rows (a run of bins from ``first_bin``, the usual packing of a book) are
    decoded together: their float32 blobs joined and their bins counted up from each
    row's first; sparse rows go through ``decode_cells`` one by one."""
    rows = conn.execute(
        "SELECT side, bucket, snapshots, first_bin, offsets, sums FROM metrics_heatmap"
        " WHERE instrument = ? AND bucket >= ? ORDER BY side, bucket",
        (instrument, from_bucket),
    ).fetchall()
    counts = pa.table(
        {
            "side": pa.array([r[0] for r in rows], pa.int8()),
            "bucket": pa.array([r[1] for r in rows], pa.int64()),
            "snapshots": pa.array([r[2] for r in rows], pa.int64()),
        }
    )
    dense = [r for r in rows if r[3] is not None and r[4] is None]
    parts = []
    if dense:
        lengths = np.array([len(r[5]) // 4 for r in dense], np.int64)
        starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
        first = np.repeat(np.array([r[3] for r in dense], np.int64), lengths)
        parts.append(
            (
                np.repeat(np.array([r[0] for r in dense], np.int8), lengths),
                np.repeat(np.array([r[1] for r in dense], np.int64), lengths),
                first + np.arange(int(lengths.sum()), dtype=np.int64) - starts,
                np.frombuffer(b"".join(r[5] for r in dense), dtype="<f4").astype(np.float64),
            )
        )
    for side, bucket, _, first_bin, offsets, sums in rows:
        if first_bin is None or offsets is None:
            continue
        bins, sizes = decode_cells(first_bin, offsets, sums)
        parts.append(
            (np.full(len(bins), side, np.int8), np.full(len(bins), bucket, np.int64), bins, sizes)
        )
    columns = [np.concatenate(c) if parts else np.empty(0) for c in zip(*parts, strict=True)]
    if not parts:
        columns = [np.empty(0, np.int8), np.empty(0, np.int64), np.empty(0, np.int64),
                   np.empty(0)]  # fmt: skip
    cells = pa.table(
        {
            "side": pa.array(columns[0], pa.int8()),
            "bucket": pa.array(columns[1], pa.int64()),
            "bin": pa.array(columns[2], pa.int64()),
            "size": pa.array(columns[3], pa.float64()),
        }
    )
    return cells, counts


def build_heat_ladder(
    con: duckdb.DuckDBPyConnection, recording: Path, temporary: bool, *, full: bool
) -> None:
    """Decode the recording's new ``metrics_heatmap`` rows into the ladder: all of them
    when ``full``, else from the start of the widest width holding the last bucket
    seen (rows the coordinator has added to or written since)."""
    create = "TEMP TABLE" if temporary else "TABLE"
    for ddl in _DDL.format(create=create).split(";"):
        con.execute(ddl)
    if full:
        for table in ("heat_cells", "heat_counts", "heat_grid"):
            con.execute(f"DELETE FROM {table}")
    conn = open_readonly(recording)  # mode=ro alone needs the -shm file
    try:
        grids = conn.execute(
            "SELECT instrument, tick, bucket_ms FROM metrics_heatmap_grid WHERE tick > 0"
        ).fetchall()
        for instrument, tick, bucket_ms in grids:
            seen = con.execute(
                "SELECT last_bucket FROM heat_grid WHERE instrument = $i", {"i": instrument}
            ).fetchone()
            last = _last_bucket(conn, instrument)
            if last is None or (seen is not None and seen[0] == last and not full):
                continue
            start = -(2**62) if seen is None else seen[0] // LADDER[-1] * LADDER[-1]
            _refill(con, conn, instrument, start)
            con.execute("DELETE FROM heat_grid WHERE instrument = $i", {"i": instrument})
            con.execute(
                "INSERT INTO heat_grid VALUES ($i, $t, $b, $l)",
                {"i": instrument, "t": tick, "b": bucket_ms, "l": last},
            )
    finally:
        conn.close()


def _last_bucket(conn: sqlite3.Connection, instrument: str) -> int | None:
    """The instrument's last stored bucket, side by side: each step is one seek in the
    (instrument, side, bucket) key, where a plain max(bucket) read every key of the
    instrument (0.13 s a day of 100 ms buckets, on every reopen of a kept store)."""
    last = None
    side = conn.execute(
        "SELECT min(side) FROM metrics_heatmap WHERE instrument = ?", (instrument,)
    ).fetchone()[0]
    while side is not None:
        top = conn.execute(
            "SELECT max(bucket) FROM metrics_heatmap WHERE instrument = ? AND side = ?",
            (instrument, side),
        ).fetchone()[0]
        last = top if last is None else max(last, top)
        side = conn.execute(
            "SELECT min(side) FROM metrics_heatmap WHERE instrument = ? AND side > ?",
            (instrument, side),
        ).fetchone()[0]
    return last


def _refill(
    con: duckdb.DuckDBPyConnection, conn: sqlite3.Connection, instrument: str, start: int
) -> None:
    for table in ("heat_cells", "heat_counts"):
        con.execute(
            f"DELETE FROM {table} WHERE instrument = $i AND bucket * width >= $s",
            {"i": instrument, "s": start},
        )
    cells, counts = _rows(conn, instrument, start)
    con.register("new_cells", cells)
    con.register("new_counts", counts)
    try:
        for width in LADDER:
            con.execute(
                # ordered by bucket: each (instrument, width) run is then sorted, and
                # DuckDB's zone maps skip every row group outside a query's buckets
                f"INSERT INTO heat_cells SELECT $w, $i, side, {floor_div('bucket', '$w')} AS b,"
                " bin, sum(size)"
                " FROM new_cells GROUP BY side, b, bin ORDER BY b, side, bin",
                {"w": width, "i": instrument},
            )
            con.execute(
                f"INSERT INTO heat_counts SELECT $w, $i, side, {floor_div('bucket', '$w')} AS b,"
                " sum(snapshots) FROM new_counts GROUP BY side, b ORDER BY b, side",
                {"w": width, "i": instrument},
            )
    finally:
        con.unregister("new_cells")
        con.unregister("new_counts")


def _pick(table: str) -> str:
    """The rows of ``table`` a range needs: whole ladder buckets inside it, stored buckets
    at its partial ends. Three plain range scans (an OR of them defeats DuckDB's zone
    maps, which the bucket order of the rows makes selective)."""
    return " UNION ALL ".join(
        f"SELECT * FROM {table} WHERE instrument = $i AND width = {w}"
        f" AND bucket BETWEEN {a} AND {b}"
        for w, a, b in (("$w", "$ilo", "$ihi"), ("1", "$lo", "$left"), ("1", "$right", "$hi"))
    )


def query_heat_ladder(
    con: duckdb.DuckDBPyConnection,
    instrument: str,
    start_ns: int,
    end_ns: int,
    max_columns: int,
    max_rows: int | None,
):  # -> HeatmapGrid | None (imported lazily: orderflow.query.heatmap imports the API)
    """The grid ``orderflow.query.heatmap.heatmap`` gives for the same arguments."""
    from orderflow.query.heatmap import HeatmapGrid, aligned_factor

    grid = con.execute(
        "SELECT tick, bucket_ms FROM heat_grid WHERE instrument = $i", {"i": instrument}
    ).fetchone()
    if grid is None:
        return None
    tick, bucket_ms = grid
    bucket_ns = bucket_ms * NS_PER_MS
    first, last = con.execute(
        "SELECT min(bucket), max(bucket) FROM heat_counts WHERE width = 1 AND instrument = $i",
        {"i": instrument},
    ).fetchone()
    if first is None:
        return None
    lo = max(first, start_ns // bucket_ns)
    hi = min(last, -(-end_ns // bucket_ns) - 1)
    if lo > hi:
        return None
    f = aligned_factor(lo, hi, max_columns)
    width = max(w for w in LADDER if f % w == 0)
    first_col, last_col = lo // f, hi // f
    n_cols = last_col - first_col + 1
    # whole ladder buckets inside [lo, hi], stored buckets for the partial ends
    inner_lo, inner_hi = -(-lo // width), (hi + 1) // width - 1
    if inner_lo > inner_hi:  # no whole ladder bucket: stored buckets only
        width, inner_lo, inner_hi = 1, lo, hi
    params = {
        "w": width,
        "i": instrument,
        "lo": lo,
        "hi": hi,
        "ilo": inner_lo,
        "ihi": inner_hi,
        "left": inner_lo * width - 1,
        "right": (inner_hi + 1) * width,
        "f": f,
    }
    counts = con.execute(
        f"SELECT {floor_div('bucket * width', '$f')} AS col, sum(snapshots)"
        f" FROM ({_pick('heat_counts')})"
        " WHERE side = 0 GROUP BY col",
        params,
    ).fetchall()
    column_counts = np.zeros(n_cols, dtype=np.int64)
    for col, n in counts:
        column_counts[col - first_col] += n
    unbinned = {k: v for k, v in params.items() if k != "f"}
    span = con.execute(f"SELECT min(bin), max(bin) FROM ({_pick('heat_cells')})", unbinned)
    lo_bin, hi_bin = span.fetchone()
    lo_bin = 0 if lo_bin is None else int(lo_bin)
    hi_bin = -1 if hi_bin is None else int(hi_bin)
    g = 1 if max_rows is None else aligned_factor(lo_bin, hi_bin, max_rows)
    first_row = math.floor(lo_bin / g)
    n_rows = max(0, math.floor(hi_bin / g) - first_row + 1)
    cells = con.execute(
        f"SELECT side, {floor_div('bucket * width', '$f')} AS col, floor(bin / $g)::BIGINT AS row,"
        f" sum(size) AS size FROM ({_pick('heat_cells')}) GROUP BY side, col, row",
        {**params, "g": g},
    ).fetchnumpy()
    grids = []
    for side in (BIDS, ASKS):
        total = np.zeros((n_rows, n_cols))
        mine = cells["side"] == side
        total[cells["row"][mine] - first_row, cells["col"][mine] - first_col] = cells["size"][mine]
        with np.errstate(invalid="ignore", divide="ignore"):
            grids.append(np.where(column_counts > 0, total / column_counts, np.nan))
    return HeatmapGrid(
        instrument=instrument,
        tick=tick,
        row_height=float(f"{g * tick:.12g}"),
        column_ns=f * bucket_ns,
        times_ns=(first_col + np.arange(n_cols, dtype=np.int64)) * f * bucket_ns,
        prices=(first_row + np.arange(n_rows)) * g * tick,
        bids=grids[BIDS],
        asks=grids[ASKS],
        snapshots=column_counts,
    )
