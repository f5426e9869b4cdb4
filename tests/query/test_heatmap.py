"""heatmap(): the stored grid for a range, coarsened as candles are, weighted by snapshot counts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from orderflow.core.heatmap import HeatmapAccumulator
from orderflow.query.heatmap import aligned_factor, heatmap, nice_factor
from orderflow.store.heatmap_store import HEATMAP_DDL, write_grid, write_heatmap

S = 1_000_000_000


def _file(tmp_path: Path, snaps: list, tick: float = 0.5) -> Path:
    path = tmp_path / "h.db"
    conn = sqlite3.connect(path)
    conn.executescript(HEATMAP_DDL)
    acc = HeatmapAccumulator({"A": tick}, bucket_ms=1000)
    for ts, bids, asks in snaps:
        acc.add(
            "A",
            ts,
            [p for p, _ in bids],
            [s for _, s in bids],
            [p for p, _ in asks],
            [s for _, s in asks],
        )
    with conn:
        write_heatmap(conn, acc.partials(), None, None, S)
        write_grid(conn, {"A": (tick, "profile")}, 1000)
    conn.close()
    return path


def test_full_resolution_grid_is_the_cell_means(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        [
            (0, [(10.0, 1.0), (9.5, 2.0)], [(10.5, 3.0)]),
            (S // 2, [(10.0, 3.0)], []),
            (2 * S, [(9.0, 4.0)], [(11.0, 1.0)]),  # bucket 1 has no snapshot
        ],
    )
    grid = heatmap(path, "A", max_columns=10)
    assert grid is not None and grid.column_ns == S
    np.testing.assert_array_equal(grid.times_ns, [0, S, 2 * S])
    np.testing.assert_array_equal(grid.snapshots, [2, 0, 1])
    np.testing.assert_allclose(grid.prices, [9.0, 9.5, 10.0, 10.5, 11.0])
    expected_bids = [[0, np.nan, 4], [1, np.nan, 0], [2, np.nan, 0], [0, np.nan, 0], [0, np.nan, 0]]
    np.testing.assert_array_equal(grid.bids, expected_bids)
    assert grid.asks[3, 0] == 1.5 and grid.asks[4, 2] == 1.0


def test_coarse_columns_weigh_buckets_by_their_snapshots(tmp_path: Path) -> None:
    # bucket 0: one snapshot of size 1; bucket 1: three of size 3. Mean over the
    # four snapshots is 2.5 (the mean of the two bucket means would be 2).
    snaps = [(0, [(10.0, 1.0)], [])] + [(S + i, [(10.0, 3.0)], []) for i in range(3)]
    grid = heatmap(_file(tmp_path, snaps), "A", max_columns=1)
    assert grid is not None and grid.column_ns == 2 * S
    assert grid.bids.tolist() == [[2.5]] and grid.snapshots.tolist() == [4]


def test_columns_are_epoch_aligned_and_the_range_selects_buckets(tmp_path: Path) -> None:
    base = 1_709_251_200 * S  # 2024-03-01T00:00:00Z, a multiple of 5 s
    snaps = [(base + k * S, [(10.0, float(k))], []) for k in range(0, 30)]
    path = _file(tmp_path, snaps)
    grid = heatmap(path, "A", start=base + 7 * S, end=base + 23 * S, max_columns=4)
    # 16 buckets in 4 columns: factor 5, columns start on multiples of 5 s
    assert grid is not None and grid.column_ns == 5 * S
    np.testing.assert_array_equal(grid.times_ns - base, [5 * S, 10 * S, 15 * S, 20 * S])
    np.testing.assert_allclose(grid.bids[0], [8.0, 12.0, 17.0, 21.0])  # means of 7-9, 10-14, ...
    assert (
        heatmap(
            path, "A", start="2024-03-01T00:00:07Z", end="2024-03-01T00:00:23Z", max_columns=4
        ).bids.tolist()
        == grid.bids.tolist()
    )
    assert heatmap(path, "A", start=base + 100 * S) is None
    assert heatmap(path, "B") is None


def test_coarse_rows_sum_the_sizes_of_their_ticks(tmp_path: Path) -> None:
    # bins 19..24 (6 ticks of 0.5) in at most 3 rows: 2 ticks a row would need 4
    # aligned rows (18-19, ..., 24-25), so 5 ticks a row: rows 15-19 and 20-24
    snaps = [(0, [(9.5, 0.5), (10.0, 1.0), (10.5, 2.0), (11.0, 4.0), (12.0, 8.0)], [])]
    grid = heatmap(_file(tmp_path, snaps), "A", max_rows=3)
    assert grid is not None and grid.row_height == 2.5
    np.testing.assert_allclose(grid.prices, [7.5, 10.0])
    assert grid.bids[:, 0].tolist() == [0.5, 15.0]


def test_nice_and_aligned_factors() -> None:
    assert [nice_factor(x) for x in (0.3, 1, 1.5, 3, 7, 11, 150)] == [1, 1, 2, 5, 10, 20, 200]
    assert aligned_factor(19, 24, 3) == 5 and aligned_factor(20, 25, 3) == 2
    for lo in range(-30, 30):
        for hi in range(lo, lo + 40):
            for limit in (1, 2, 3, 7):
                f = aligned_factor(lo, hi, limit)
                assert hi // f - lo // f + 1 <= max(limit, 2 if lo < 0 <= hi else 1)
    with pytest.raises(ValueError):
        heatmap("/nonexistent.db", "A", max_columns=0)


def test_sparse_rows_of_both_widths_decode_in_place(tmp_path: Path) -> None:
    """Deep books at a fine tick are stored sparse (uint16 or uint32 offsets); a range
    mixing them with dense rows gives the same cells as the definition."""
    snaps = [
        (0, [(1.0, 1.0), (1000.0, 2.0)], [(1.5, 3.0)]),  # bids sparse, u16 offsets
        (S, [(1.0, 4.0), (40_000.0, 8.0)], [(2.0, 1.0), (2.5, 1.0)]),  # bids u32, asks dense
        (2 * S, [(3.0, 5.0), (3.5, 6.0)], []),  # dense
    ]
    grid = heatmap(_file(tmp_path, snaps, tick=0.5), "A", max_columns=10)
    assert grid is not None
    cells = {
        (float(grid.prices[r]), c): float(grid.bids[r, c])
        for r, c in zip(*np.nonzero(np.nan_to_num(grid.bids)), strict=True)
    }
    assert cells == {
        (1.0, 0): 1.0,
        (1000.0, 0): 2.0,
        (1.0, 1): 4.0,
        (40_000.0, 1): 8.0,
        (3.0, 2): 5.0,
        (3.5, 2): 6.0,
    }
    asks = {
        (float(grid.prices[r]), c): float(grid.asks[r, c])
        for r, c in zip(*np.nonzero(np.nan_to_num(grid.asks)), strict=True)
    }
    assert asks == {(1.5, 0): 3.0, (2.0, 1): 1.0, (2.5, 1): 1.0}
