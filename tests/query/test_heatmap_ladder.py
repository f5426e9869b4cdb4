"""The heatmap ladder gives the grid orderflow.query.heatmap gives, cell for cell, at any
range and resolution, and follows buckets written later."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from orderflow.pipeline.storage import Storage
from orderflow.query import Dataset
from orderflow.query.heatmap import heatmap
from orderflow.store.schema import INPUT_DDL
from tests.dashboard.heatmap_data import write_heatmap_tables

S = 10**9


@pytest.fixture(scope="module")
def recording(synth_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ladder") / "heat.db"
    with sqlite3.connect(synth_db) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    write_heatmap_tables(path, bucket_ms=100)
    return path


def assert_same_grid(got, want) -> None:
    assert (got is None) == (want is None)
    if want is None:
        return
    assert (got.column_ns, got.row_height, got.tick) == (want.column_ns, want.row_height, want.tick)
    np.testing.assert_array_equal(got.times_ns, want.times_ns)
    np.testing.assert_allclose(got.prices, want.prices)
    np.testing.assert_array_equal(got.snapshots, want.snapshots)
    for side in ("bids", "asks"):
        np.testing.assert_allclose(getattr(got, side), getattr(want, side), rtol=1e-9)


def test_ladder_equals_the_stored_grid(recording: Path) -> None:
    with Dataset(recording) as dataset:
        lo, hi = dataset.extent("ETH-USDT")
        ranges = (
            (lo, hi + 1),  # everything
            (lo + 1234 * 10**6, lo + 57 * S + 7),  # ends inside stored buckets
            (lo + 30 * S, lo + 31 * S),  # one second
        )
        for columns in (1, 7, 40, 600, 5000):
            for rows in (None, 5, 130):
                for start, end in ranges:
                    got = dataset.heatmap("ETH-USDT", start, end, columns, rows)
                    want = heatmap(recording, "ETH-USDT", start, end, columns, rows)
                    assert want is not None
                    assert_same_grid(got, want)
        assert dataset.heatmap("ETH-USDT", hi + 10 * S, hi + 20 * S, 40, 5) is None


def test_ladder_follows_new_buckets(recording: Path, tmp_path: Path) -> None:
    copy = tmp_path / "grow.db"
    with sqlite3.connect(recording) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    with Dataset(copy) as dataset:
        lo, hi = dataset.extent("BTC-USDT")
        before = dataset.heatmap("BTC-USDT", lo, hi + 1, 50, 20)
        with sqlite3.connect(copy) as conn:  # a later bucket, as a coordinator would add
            row = conn.execute(
                "SELECT instrument, side, bucket, snapshots, first_bin, offsets, sums"
                " FROM metrics_heatmap WHERE instrument = 'BTC-USDT' ORDER BY bucket DESC"
            ).fetchone()
            conn.execute(
                "INSERT INTO metrics_heatmap VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row[0], row[1], row[2] + 600, *row[3:]),
            )
            conn.execute(
                "INSERT INTO metrics (snapshot_id, timestamp, obi, cvd, best_bid, best_ask,"
                " instrument, ts_ns) VALUES (?, 'x', 0.1, 1.0, 1.0, 2.0, 'BTC-USDT', ?)",
                (10**7, hi + 60 * S),
            )
        assert dataset.refresh()
        after = dataset.heatmap("BTC-USDT", lo, hi + 70 * S, 50, 20)
        assert after.times_ns[-1] > before.times_ns[-1]
        assert_same_grid(after, heatmap(copy, "BTC-USDT", lo, hi + 70 * S, 50, 20))


def test_columns_before_1970_are_the_stored_grids(tmp_path: Path) -> None:
    """Buckets before 1970 have negative indices; the ladder merged them into columns
    with DuckDB's truncating ``//`` (before: snapshots [0, 4], all four in the column
    from 0, while the stored grid has [3, 1])."""
    path = tmp_path / "old.db"
    stamps = ["1969-12-31T23:59:58.5Z", "1969-12-31T23:59:59.5Z", "1970-01-01T00:00:00.5Z"]
    stamps.append("1969-12-31T23:59:57.25Z")
    with sqlite3.connect(path) as conn:
        conn.executescript(INPUT_DDL)
        conn.executemany(
            "INSERT INTO book (instrument, bids, asks, timestamp) VALUES ('Q', ?, ?, ?)",
            [(f"[[{100 + i}, 1]]", f"[[{110 + i}, 2]]", t) for i, t in enumerate(stamps)],
        )
    Storage(path, quiet=True).build_booktick_from_db()
    want = heatmap(path, "Q", max_columns=2, max_rows=100)
    assert want is not None and want.snapshots.tolist() == [3, 1]
    with Dataset(path, store=False) as dataset:
        assert_same_grid(dataset.heatmap("Q", -4 * S, 2 * S, 2, 100), want)
