"""The in-process pass writes the heatmap with the profile's bucket width and ticks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from orderflow.pipeline.storage import Storage
from orderflow.query import heatmap
from orderflow.synth.generator import SynthConfig, generate


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hm") / "src.db"
    generate(path, SynthConfig(snapshots=1200, instruments=2, seed=9))
    return path


def _run(src: Path, dst: Path, **settings: object) -> sqlite3.Connection:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    Storage(dst, quiet=True, **settings).build_booktick_from_db()  # type: ignore[arg-type]
    return sqlite3.connect(dst)


def test_inferred_ticks_and_one_second_buckets(recording: Path, tmp_path: Path) -> None:
    conn = _run(recording, tmp_path / "a.db")
    grid = dict(conn.execute("SELECT instrument, tick FROM metrics_heatmap_grid"))
    assert grid == {"BTC-USDT": 0.1, "ETH-USDT": 0.01}
    counts = conn.execute(
        "SELECT instrument, sum(snapshots) FROM metrics_heatmap WHERE side = 0 GROUP BY 1"
    ).fetchall()
    assert sorted(counts) == [("BTC-USDT", 600), ("ETH-USDT", 600)]
    assert conn.execute("SELECT count(DISTINCT bucket) FROM metrics_heatmap").fetchone() == (60,)


def test_profile_ticks_and_bucket_width(recording: Path, tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    conn = _run(recording, db, heatmap_bucket_ms=250, heatmap_ticks={"BTC-USDT": 1.0})
    rows = conn.execute("SELECT instrument, tick, bucket_ms, source FROM metrics_heatmap_grid")
    assert sorted(rows)[0] == ("BTC-USDT", 1.0, 250, "profile")
    assert conn.execute("SELECT count(DISTINCT bucket) FROM metrics_heatmap").fetchone() == (240,)
    grid = heatmap(db, "BTC-USDT", max_columns=10_000)
    assert grid is not None and grid.row_height == 1.0 and grid.column_ns == 250_000_000
    assert set(grid.snapshots.tolist()) == {2, 3}  # 100 ms steps in 250 ms buckets


def test_bucket_width_zero_computes_no_heatmap(recording: Path, tmp_path: Path) -> None:
    conn = _run(recording, tmp_path / "c.db", heatmap_bucket_ms=0)
    assert conn.execute("SELECT count(*) FROM metrics_heatmap").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM metrics").fetchone() == (1200,)


def test_any_batch_size_gives_the_same_heatmap(recording: Path, tmp_path: Path) -> None:
    """The range reads ahead of the rows it yields: flushes must not split buckets wrongly."""
    from tests.coordinator.metrics_equality import assert_heatmaps_equal

    _run(recording, tmp_path / "small.db", batch_size=7).close()
    _run(recording, tmp_path / "large.db", batch_size=100_000).close()
    assert_heatmaps_equal(tmp_path / "large.db", tmp_path / "small.db")


def test_other_heatmap_settings_recompute_a_finished_file(recording: Path, tmp_path: Path) -> None:
    db = tmp_path / "again.db"
    _run(recording, db).close()
    same = Storage(db, quiet=True).build_booktick_from_db()
    other = Storage(db, quiet=True, heatmap_bucket_ms=500).build_booktick_from_db()
    assert same.skipped and not other.skipped
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT DISTINCT bucket_ms FROM metrics_heatmap_grid").fetchall() == [
            (500,)
        ]
