"""Heatmap rows in SQLite: both packings, edge buckets completed by the next range, any order."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.core.heatmap import HeatmapAccumulator
from orderflow.store.heatmap_store import (
    HEATMAP_DDL,
    decode_cells,
    encode_cells,
    read_heatmap_rows,
    write_heatmap,
)

S = 1_000_000_000


@pytest.mark.parametrize(
    ("bins", "packing"),
    [
        ([5, 6, 7, 9], "dense"),
        ([-3, -2, 0], "dense"),
        ([0, 100, 5000], "sparse16"),
        ([10, 70_000, 70_001], "sparse32"),
        ([10_000, 10**11], "sparse64"),  # 100.00 and 1e9 at tick 0.01: was stored as 1215752192
        ([-(2**62) + 1, 0, 2**62 - 1], "sparse64"),  # spans near 2^63: span * 4 overflowed
        ([], "empty"),
    ],
)
def test_cells_round_trip_in_the_smaller_packing(bins: list[int], packing: str) -> None:
    b = np.array(bins, dtype=np.int64)
    sums = np.arange(1, len(b) + 1) * 0.25
    first, offsets, blob = encode_cells(b, sums)
    kind = {None: "dense", 2: "sparse16", 4: "sparse32", 8: "sparse64"}
    got = "empty" if first is None else kind[None if offsets is None else len(offsets) // len(b)]
    assert got == packing
    back_bins, back_sums = decode_cells(first, offsets, blob)
    nonzero = back_sums != 0
    np.testing.assert_array_equal(back_bins[nonzero], b)
    np.testing.assert_array_equal(back_sums[nonzero], sums)


def _stored(conn: sqlite3.Connection) -> dict:
    out = {}
    for name, side in (("A", 0), ("A", 1), ("B", 0), ("B", 1)):
        for bucket, snaps, bins, sums in read_heatmap_rows(conn, name, side, -(10**9), 10**9):
            keep = sums != 0
            out[(name, side, bucket)] = (
                snaps,
                dict(zip(bins[keep].tolist(), sums[keep].tolist(), strict=True)),
            )
    return out


snapshot = st.tuples(
    st.integers(0, 4 * S),
    st.lists(st.tuples(st.integers(0, 40), st.integers(1, 1000)), max_size=5),
    st.lists(st.tuples(st.integers(0, 40), st.integers(1, 1000)), max_size=5),
    st.sampled_from(["A", "B"]),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(snapshot, max_size=40), st.lists(st.integers(0, 4 * S), max_size=6), st.randoms())
def test_ranges_written_in_any_order_equal_one_range(snaps, cuts, rnd) -> None:
    """Ranges cut anywhere (mid-bucket too), committed in any order: the same rows."""
    edges = [None, *sorted(set(cuts)), None]
    ranges = list(itertools.pairwise(edges))
    rnd.shuffle(ranges)

    def write(conn: sqlite3.Connection, lo: int | None, hi: int | None) -> None:
        acc = HeatmapAccumulator({"A": 0.5, "B": 0.5}, bucket_ms=1000)
        for ts, bids, asks, name in snaps:
            if (lo is None or ts >= lo) and (hi is None or ts < hi):
                acc.add(
                    name,
                    ts,
                    [p * 0.5 for p, _ in bids],
                    [s / 8 for _, s in bids],
                    [p * 0.5 for p, _ in asks],
                    [s / 8 for _, s in asks],
                )
        with conn:
            write_heatmap(conn, acc.partials(), lo, hi, S)

    whole, split = sqlite3.connect(":memory:"), sqlite3.connect(":memory:")
    for conn in (whole, split):
        conn.executescript(HEATMAP_DDL)
    write(whole, None, None)
    for lo, hi in ranges:
        write(split, lo, hi)
    assert _stored(split) == _stored(whole)  # sizes are multiples of 1/8: float32-exact


def test_an_interior_bucket_written_twice_is_an_error(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "h.db")
    conn.executescript(HEATMAP_DDL)
    acc = HeatmapAccumulator({"A": 1.0})
    acc.add("A", S // 2, [1.0], [1.0], [2.0], [1.0])
    part = acc.partials()
    write_heatmap(conn, part, 0, 2 * S, S)
    with pytest.raises(sqlite3.IntegrityError):
        write_heatmap(conn, part, 0, 2 * S, S)
