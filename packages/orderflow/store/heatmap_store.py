"""The heatmap's tables: one row per (instrument, side, bucket), bins packed in blobs.

``metrics_heatmap`` keeps, per row, the count of valid snapshots in the bucket
and the per-bin **sums** of resting size (not means), so a bucket cut by a
shard edge is completed by adding the next shard's part into the same row, in
that shard's transaction. The cells go in one of two packings, whichever is
smaller:

- dense: ``offsets`` NULL, ``sums`` holds bins ``first_bin, first_bin+1, ...``
  (zeros included): a synthetic or liquid book with a level on every tick;
- sparse: ``offsets`` holds each stored bin's distance from ``first_bin``
  (uint16, or uint32 or uint64 when the span needs it): a deep book at a fine tick, such
  as Binance's 0.01 on BTC, where most bins between levels are empty.

Sums are float32 (7 significant digits: a colour scale needs no more, and it
halves the table); counts and bins are exact. ``metrics_heatmap_grid`` says,
per instrument, the tick and bucket width the rows were built with and where
the tick came from (the profile, or inferred from a sample).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import NamedTuple

import msgspec
import numpy as np

from orderflow.core.heatmap import HeatmapPacked, HeatmapPartials
from orderflow.store.column_writer import Column, insert_columns

__all__ = [
    "HEATMAP_DDL",
    "HEATMAP_GRID_TABLE",
    "HEATMAP_TABLE",
    "HEATMAP_TABLES",
    "PackedRows",
    "clear_heatmap",
    "decode_cells",
    "encode_cells",
    "encode_columns",
    "encode_rows",
    "pack_partials",
    "packed_rows",
    "read_grid",
    "read_heatmap_cells",
    "read_heatmap_rows",
    "write_grid",
    "write_heatmap",
]

HEATMAP_TABLE = "metrics_heatmap"
HEATMAP_GRID_TABLE = "metrics_heatmap_grid"
HEATMAP_DDL = """
CREATE TABLE IF NOT EXISTS metrics_heatmap (
    instrument TEXT NOT NULL,
    side INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    snapshots INTEGER NOT NULL,
    first_bin INTEGER,
    offsets BLOB,
    sums BLOB NOT NULL,
    PRIMARY KEY (instrument, side, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS metrics_heatmap_grid (
    instrument TEXT PRIMARY KEY,
    tick REAL,
    bucket_ms INTEGER NOT NULL,
    source TEXT NOT NULL
);
"""

HEATMAP_TABLES = (HEATMAP_TABLE, HEATMAP_GRID_TABLE)
_OFFSET_TYPES = ((2, "<u2"), (4, "<u4"), (8, "<u8"))
"""A sparse row's offset width in bytes, told apart by the blob's length per cell."""


def clear_heatmap(conn: sqlite3.Connection) -> None:
    """Create the heatmap tables if needed and empty them (inside the caller's transaction)."""
    for statement in HEATMAP_DDL.split(";"):
        if statement.strip():
            conn.execute(statement)
    for table in HEATMAP_TABLES:
        conn.execute(f"DELETE FROM {table}")  # fixed names, never user input


HEATMAP_COLUMNS = ("instrument", "side", "bucket", "snapshots", "first_bin", "offsets", "sums")
_UPSERT = (
    f"INSERT OR REPLACE INTO metrics_heatmap ({', '.join(HEATMAP_COLUMNS)})"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_SELECT_ONE = (
    "SELECT snapshots, first_bin, offsets, sums FROM metrics_heatmap"
    " WHERE instrument = ? AND side = ? AND bucket = ?"
)


class PackedRows(NamedTuple):
    """Many heatmap rows' ``(first_bin, offsets, sums)`` as writer columns: each blob
    column is one byte array cut by int64 ends (row r is ``blob[ends[r]:ends[r+1]]``)."""

    first_bin: np.ndarray
    """int64; NULL where ``empty``."""
    empty: np.ndarray
    """uint8, 1 for a row without cells: ``first_bin`` and ``offsets`` NULL, ``sums`` b""."""
    offsets: np.ndarray
    """uint8: the sparse rows' uint16, uint32 or uint64 bin offsets, one row after the other."""
    offset_ends: np.ndarray
    no_offsets: np.ndarray
    """uint8, 1 for a dense or empty row (``offsets`` NULL)."""
    sums: np.ndarray
    """uint8: every row's float32 sums (a dense row's whole grid, zeros included)."""
    sum_ends: np.ndarray

    def row(self, r: int) -> tuple[int | None, bytes | None, bytes]:
        sums = self.sums[self.sum_ends[r] : self.sum_ends[r + 1]].tobytes()
        if self.empty[r]:
            return None, None, sums
        offsets = (
            None
            if self.no_offsets[r]
            else self.offsets[self.offset_ends[r] : self.offset_ends[r + 1]].tobytes()
        )
        return int(self.first_bin[r]), offsets, sums

    def columns(self) -> list[Column]:
        """``first_bin``, ``offsets``, ``sums`` for ``insert_columns``."""
        return [
            ("i", self.first_bin, self.empty),
            ("b", self.offsets, self.offset_ends, self.no_offsets),
            ("b", self.sums, self.sum_ends),
        ]


def encode_columns(bins: np.ndarray, sums: np.ndarray, ends: np.ndarray) -> PackedRows:
    """Pack many rows at once, each in its smaller packing.

    Row r holds ``bins[ends[r-1]:ends[r]]`` (ascending) and their sums. A shard
    writes tens of thousands of rows, so the packing is decided and the blobs
    are filled by whole-array operations, with no Python step per row.
    """
    ends = np.asarray(ends, dtype=np.int64)
    starts = _starts(ends)
    counts = ends - starts
    filled = counts > 0
    bins = np.asarray(bins, dtype=np.int64)
    first = np.zeros(len(ends), dtype=np.int64)
    last = np.zeros(len(ends), dtype=np.int64)
    first[filled] = bins[starts[filled]]
    last[filled] = bins[ends[filled] - 1]
    span = last - first + 1
    width = np.select([span <= 0xFFFF, span <= 0xFFFFFFFF], [2, 4], 8)
    # span * 4 <= counts * (4 + width), without span * 4 (a span may be near 2^63)
    dense = filled & (span <= counts * (4 + width) // 4)
    row_of = np.repeat(np.arange(len(ends)), counts)
    offset = bins - first[row_of]
    rank = np.arange(len(bins), dtype=np.int64) - starts[row_of]
    cell_dense = dense[row_of]

    # Sums: a dense row's grid (span floats) or a sparse row's cells (count floats).
    sum_ends = _ends(np.where(dense, span, counts) * 4)
    grid = np.zeros(int(sum_ends[-1]) // 4, dtype="<f4")
    grid[sum_ends[row_of] // 4 + np.where(cell_dense, offset, rank)] = sums
    # Offsets: a sparse row's bins from first_bin, uint16 or uint32 each.
    sparse = filled & ~dense
    offset_ends = _ends(np.where(sparse, counts * width, 0))
    packed = np.zeros(int(offset_ends[-1]), dtype=np.uint8)
    for size, dtype in _OFFSET_TYPES:
        cells = ~cell_dense & (width[row_of] == size)
        at = offset_ends[row_of[cells]] + rank[cells] * size
        packed[at[:, None] + np.arange(size)] = (
            offset[cells].astype(dtype).view(np.uint8).reshape(-1, size)
        )
    return PackedRows(
        first,
        (~filled).astype(np.uint8),
        packed,
        offset_ends,
        (~sparse).astype(np.uint8),
        grid.view(np.uint8),
        sum_ends,
    )


def pack_partials(partials: HeatmapPartials) -> HeatmapPartials:
    """``partials`` with every row packed for storage (``HeatmapPacked``): a worker
    does the packing so the coordinator's serial write only copies the blobs."""
    _, _, _, _, ends, bins, sums = partials.columns()
    rows = encode_columns(bins, sums, ends)
    return msgspec.structs.replace(
        partials,
        packed=HeatmapPacked(
            first_bin=rows.first_bin.astype("<i8").tobytes(),
            empty=rows.empty.tobytes(),
            offsets=rows.offsets.tobytes(),
            offset_ends=rows.offset_ends.astype("<i8").tobytes(),
            no_offsets=rows.no_offsets.tobytes(),
            sums=rows.sums.tobytes(),
            sum_ends=rows.sum_ends.astype("<i8").tobytes(),
        ),
    )


def packed_rows(partials: HeatmapPartials) -> PackedRows:
    """Every row's packing: the one the worker sent (checked by the coordinator's
    ``ResultCheck`` to cut its blobs), else packed here."""
    packed = partials.packed
    if packed is None:
        _, _, _, _, ends, bins, sums = partials.columns()
        return encode_columns(bins, sums, ends)
    return PackedRows(
        np.frombuffer(packed.first_bin, dtype="<i8"),
        np.frombuffer(packed.empty, dtype=np.uint8),
        np.frombuffer(packed.offsets, dtype=np.uint8),
        np.frombuffer(packed.offset_ends, dtype="<i8"),
        np.frombuffer(packed.no_offsets, dtype=np.uint8),
        np.frombuffer(packed.sums, dtype=np.uint8),
        np.frombuffer(packed.sum_ends, dtype="<i8"),
    )


def encode_rows(
    bins: np.ndarray, sums: np.ndarray, ends: np.ndarray
) -> list[tuple[int | None, bytes | None, bytes]]:
    """(first_bin, offsets, sums) blobs of many rows (``encode_columns``), row by row."""
    packed = encode_columns(bins, sums, ends)
    return [packed.row(r) for r in range(len(ends))]


def _ends(lengths: np.ndarray) -> np.ndarray:
    """Where each row starts in a blob of rows of ``lengths``, and the total at the end."""
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def _starts(ends: np.ndarray) -> np.ndarray:
    starts = np.zeros(len(ends), dtype=np.int64)
    starts[1:] = ends[:-1]
    return starts


def encode_cells(bins: np.ndarray, sums: np.ndarray) -> tuple[int | None, bytes | None, bytes]:
    """(first_bin, offsets, sums) blobs of one row's ascending ``bins``: the smaller packing."""
    return encode_rows(bins, sums, np.array([len(bins)]))[0]


def decode_cells(
    first_bin: int | None, offsets: bytes | None, sums: bytes
) -> tuple[np.ndarray, np.ndarray]:
    """(bins int64, sums float64) of a stored row; a dense row's zero bins are kept."""
    values = np.frombuffer(sums, dtype="<f4").astype(np.float64)
    if first_bin is None:
        return np.empty(0, dtype=np.int64), values
    if offsets is None:
        return first_bin + np.arange(len(values), dtype=np.int64), values
    width = dict(_OFFSET_TYPES)[len(offsets) // len(values)]
    return first_bin + np.frombuffer(offsets, dtype=width).astype(np.int64), values


def _add(
    bins_a: np.ndarray, sums_a: np.ndarray, bins_b: np.ndarray, sums_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    bins = np.concatenate([bins_a, bins_b])
    unique, inverse = np.unique(bins, return_inverse=True)
    return unique, np.bincount(inverse, weights=np.concatenate([sums_a, sums_b]))


def write_heatmap(
    conn: sqlite3.Connection,
    partials: HeatmapPartials,
    start_ns: int | None,
    end_ns: int | None,
    bucket_ns: int,
) -> int:
    """Store a range's partial cells inside the caller's transaction; returns rows written.

    A bucket that reaches outside ``[start_ns, end_ns)`` (None: unbounded) may
    hold a neighbouring range's part already: that row is read and added to.
    A bucket wholly inside belongs to this range alone and is inserted from
    the packed arrays (``insert_columns``), in key order, so the table's b-tree
    is appended to rather than split in the middle by interleaved keys.
    """
    instr, bucket, side, snaps, ends, bins, sums = partials.columns()
    lo, hi = bucket * bucket_ns, (bucket + 1) * bucket_ns
    whole = np.ones(len(bucket), dtype=bool)
    if start_ns is not None:
        whole &= lo >= start_ns
    if end_ns is not None:
        whole &= hi <= end_ns
    names = partials.instruments
    inside = np.flatnonzero(whole)
    rank = np.argsort(np.argsort(np.array(names, dtype=object)))  # key order of the names
    inside = inside[np.lexsort((bucket[inside], side[inside], rank[instr[inside]]))]
    insert_columns(
        conn,
        HEATMAP_TABLE,
        HEATMAP_COLUMNS,
        [
            ("c", instr, names),
            ("i", side.astype(np.int64)),
            ("i", bucket),
            ("i", snaps),
            *packed_rows(partials).columns(),
        ],
        len(bucket),
        order=inside,
    )
    edges = []
    starts = _starts(ends)
    for r in np.flatnonzero(~whole).tolist():
        name, key_side, key_bucket = names[int(instr[r])], int(side[r]), int(bucket[r])
        row_bins, row_sums = bins[starts[r] : ends[r]], sums[starts[r] : ends[r]]
        snapshots = int(snaps[r])
        row = conn.execute(_SELECT_ONE, (name, key_side, key_bucket)).fetchone()
        if row is not None:
            row_bins, row_sums = _add(*decode_cells(*row[1:]), row_bins, row_sums)
            snapshots += row[0]
        edges.append((name, key_side, key_bucket, snapshots, *encode_cells(row_bins, row_sums)))
    conn.executemany(_UPSERT, edges)
    return len(inside) + len(edges)


def write_grid(
    conn: sqlite3.Connection, ticks: dict[str, tuple[float | None, str]], bucket_ms: int
) -> None:
    """Record each instrument's (tick, source) and the bucket width, replacing earlier ones."""
    conn.executemany(
        "INSERT OR REPLACE INTO metrics_heatmap_grid (instrument, tick, bucket_ms, source)"
        " VALUES (?, ?, ?, ?)",
        [(name, tick, bucket_ms, source) for name, (tick, source) in sorted(ticks.items())],
    )


def read_grid(conn: sqlite3.Connection, instrument: str) -> tuple[float | None, int, str] | None:
    """(tick, bucket_ms, source) of an instrument, or None when it has no heatmap."""
    row = conn.execute(
        "SELECT tick, bucket_ms, source FROM metrics_heatmap_grid WHERE instrument = ?",
        (instrument,),
    ).fetchone()
    return None if row is None else (row[0], int(row[1]), str(row[2]))


def read_heatmap_cells(
    conn: sqlite3.Connection, instrument: str, side: int, first_bucket: int, last_bucket: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One side's rows for buckets in [first, last], decoded all at once (no Python
    step per row beyond the fetch): (row bucket, row snapshots, cell bucket, cell
    bin, cell sum). Dense rows' zero bins are included."""
    rows = conn.execute(
        "SELECT bucket, snapshots, first_bin, offsets, sums FROM metrics_heatmap"
        " WHERE instrument = ? AND side = ? AND bucket BETWEEN ? AND ? ORDER BY bucket",
        (instrument, side, first_bucket, last_bucket),
    ).fetchall()
    bucket = np.array([r[0] for r in rows], dtype=np.int64)
    snapshots = np.array([r[1] for r in rows], dtype=np.int64)
    first = np.array([r[2] or 0 for r in rows], dtype=np.int64)
    n = np.array([len(r[4]) // 4 for r in rows], dtype=np.int64)
    sums = np.frombuffer(b"".join(r[4] for r in rows), dtype="<f4").astype(np.float64)
    row_of = np.repeat(np.arange(len(rows)), n)
    offsets = np.arange(len(sums), dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
    for width, dtype in _OFFSET_TYPES:
        sparse = [i for i, r in enumerate(rows) if r[3] is not None and len(r[3]) == width * n[i]]
        if sparse:
            packed = np.frombuffer(b"".join(rows[i][3] for i in sparse), dtype=dtype)
            offsets[np.isin(row_of, sparse)] = packed
    return bucket, snapshots, bucket[row_of], first[row_of] + offsets, sums


def read_heatmap_rows(
    conn: sqlite3.Connection, instrument: str, side: int, first_bucket: int, last_bucket: int
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """(bucket, snapshots, bins, sums) of one side for buckets in [first, last], in order."""
    rows = conn.execute(
        "SELECT bucket, snapshots, first_bin, offsets, sums FROM metrics_heatmap"
        " WHERE instrument = ? AND side = ? AND bucket BETWEEN ? AND ? ORDER BY bucket",
        (instrument, side, first_bucket, last_bucket),
    )
    for bucket, snapshots, first_bin, offsets, sums in rows:
        yield int(bucket), int(snapshots), *decode_cells(first_bin, offsets, sums)
