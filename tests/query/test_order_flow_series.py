"""The order-flow columns through ``orderflow.query``: M4 for sampled columns,
window sums for OFI and multi-level OFI, each checked against plain Python over
the stored rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from orderflow.query import Dataset, metrics, series
from orderflow.store.schema import FLOW_COLUMNS
from tests.query.test_series import reference_m4

INSTRUMENT = "BTC-USDT"


def _range(path: Path) -> tuple[int, int]:
    with Dataset(path, materialize=False) as dataset:
        lo, hi = dataset.extent(INSTRUMENT)
    return lo + (hi - lo) // 6, hi - (hi - lo) // 9


def reference_sums(path: Path, column: str, start: int, end: int, buckets: int) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            f"SELECT ts_ns, {column} FROM metrics WHERE instrument = ?", (INSTRUMENT,)
        ).fetchall()
    width = max(1, -(-(end - start) // buckets))
    sums: dict[int, list[float]] = {}
    for ts, value in sorted(rows):
        if value is not None and start <= ts < end:
            sums.setdefault((ts - start) // width, []).append(value)
    return [(start + k * width, sum(v), len(v)) for k, v in sorted(sums.items())]


@pytest.mark.parametrize("column", ["spread", "weighted_mid", "obi_l5", "ask_size_1"])
@pytest.mark.parametrize("max_points", [4, 40, 400])
def test_sampled_flow_columns_are_m4_reduced(synth_db: Path, column: str, max_points: int):
    start, end = _range(synth_db)
    got = series(synth_db, INSTRUMENT, column, start, end, max_points, as_arrow=True)
    want = reference_m4(synth_db, INSTRUMENT, column, start, end, max_points // 4)
    columns = (got[c].to_pylist() for c in ("ts_ns", "snapshot_id", "value"))
    assert list(zip(*columns, strict=True)) == want
    assert 0 < got.num_rows <= max_points


@pytest.mark.parametrize("column", ["ofi", "mlofi"])
@pytest.mark.parametrize("max_points", [1, 9, 300])
def test_ofi_reduces_to_window_sums(synth_db: Path, column: str, max_points: int) -> None:
    start, end = _range(synth_db)
    got = series(synth_db, INSTRUMENT, column, start, end, max_points)
    want = reference_sums(synth_db, column, start, end, max_points)
    assert len(got) == len(want) <= max_points
    for (ts, total, count), row in zip(want, got.itertuples(), strict=True):
        assert (row.ts_ns, row.snapshots) == (ts, count)
        assert row.value == pytest.approx(total, rel=1e-9, abs=1e-9)
    assert str(got["time"].dtype) == "datetime64[ns, UTC]"


def test_unreduced_series_is_every_sample(synth_db: Path) -> None:
    start, end = _range(synth_db)
    got = series(synth_db, INSTRUMENT, "ofi", start, end)
    with sqlite3.connect(synth_db) as conn:
        want = conn.execute(
            "SELECT ts_ns, snapshot_id, ofi FROM metrics WHERE instrument = ? AND ts_ns >= ?"
            " AND ts_ns < ? AND ofi IS NOT NULL ORDER BY ts_ns, snapshot_id",
            (INSTRUMENT, start, end),
        ).fetchall()
    assert list(zip(got.ts_ns, got.snapshot_id, got.value, strict=True)) == want
    assert any(v != 0 for _, _, v in want)
    with pytest.raises(ValueError, match="unknown metric column"):
        series(synth_db, INSTRUMENT, "ofi; DROP TABLE metrics")


def test_metric_rows_carry_the_order_flow_columns(synth_db: Path) -> None:
    frame = metrics(synth_db, INSTRUMENT)
    assert list(frame.columns[-len(FLOW_COLUMNS) :]) == list(FLOW_COLUMNS)
    first = frame.iloc[0]
    assert first.isna()["ofi"] and not frame["ofi"].iloc[1:].isna().any()
    assert (frame["mid"] == (frame["best_bid"] + frame["best_ask"]) / 2).all()


def test_a_table_from_an_earlier_version_reads_as_null(synth_db: Path, tmp_path: Path) -> None:
    """Before orderflow-coord upgrades it, an older table still opens (NULL columns)."""
    old = tmp_path / "old.db"
    with sqlite3.connect(synth_db) as src, sqlite3.connect(old) as dst:
        src.backup(dst)
        for column in FLOW_COLUMNS:
            dst.execute(f"ALTER TABLE metrics DROP COLUMN {column}")
    frame = metrics(old, INSTRUMENT)
    assert len(frame) > 0 and frame["ofi"].isna().all() and frame["obi"].notna().any()
    assert len(series(old, INSTRUMENT, "mlofi", max_points=10)) == 0
