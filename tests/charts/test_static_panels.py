"""``orderflow.charts`` on a generated recording, checked against SQLite read directly."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from orderflow.charts import PANEL_NAMES, static_panels
from orderflow.pipeline.storage import Storage
from orderflow.query.dataset import Dataset
from orderflow.synth.generator import SynthConfig, generate

NS_PER_S = 10**9
INSTRUMENT = "ETH-USDT"


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("charts") / "rec.db"
    generate(path, SynthConfig(snapshots=2000, instruments=2, seed=8))
    Storage(path, quiet=True).build_booktick_from_db()
    return path


def _stored(path: Path, sql: str, *params: object) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _first_second(path: Path) -> int:
    (first,) = _stored(path, "SELECT min(ts_ns) FROM metrics WHERE instrument = ?", INSTRUMENT)[0]
    return -(-first // NS_PER_S) * NS_PER_S


def test_panels_hold_the_stored_rows_of_the_range(recording: Path) -> None:
    start = _first_second(recording) + 5 * NS_PER_S
    end = start + 10 * NS_PER_S
    with Dataset(recording, materialize=False) as dataset:
        panels = static_panels(
            dataset,
            INSTRUMENT,
            start,
            end,
            window_ns=NS_PER_S,
            max_bars=500,
            obi_threshold=0.6,
        )
    assert {p.name for p in (panels.candles, panels.volume, panels.obi, panels.cvd)} == set(
        PANEL_NAMES
    )
    for column in ("obi", "cvd"):  # few rows per M4 bucket: every stored row is drawn
        rows = _stored(
            recording,
            f"SELECT ts_ns, {column} FROM metrics WHERE instrument = ? AND ts_ns >= ? "
            f"AND ts_ns < ? AND {column} IS NOT NULL ORDER BY ts_ns, snapshot_id",
            INSTRUMENT,
            start,
            end,
        )
        assert len(rows) > 20
        data = panels.sources[column].data
        if column == "cvd":
            assert data["t"] == [ts / 1e6 for ts, _ in rows]
            assert data["value"] == [v for _, v in rows]
        else:  # the OBI band: 20 ms buckets hold one snapshot each, so lo = hi = mean
            width_ms = (end - start) / 500 / 1e6
            assert data["samples"] == [1] * len(rows)
            assert data["mean"] == data["lo"] == data["hi"] == [v for _, v in rows]
            assert data["t"] == [ts / 1e6 // width_ms * width_ms for ts, _ in rows]
    trades = _stored(
        recording,
        "SELECT size FROM trades WHERE instrument = ? AND CAST(timestamp AS INTEGER) >= ? "
        "AND CAST(timestamp AS INTEGER) < ?",
        INSTRUMENT,
        start // 10**6,
        end // 10**6,
    )
    assert len(trades) > 5
    candles = panels.sources["candles"].data
    traded = sum(candles["buy_volume"]) + sum(candles["sell_volume"])
    assert traded == pytest.approx(sum(size for (size,) in trades))
    assert len(candles["t"]) <= 10
    assert (panels.x_range.start, panels.x_range.end) == (start / 1e6, end / 1e6)
    assert panels.sources["overview"].data["t"]  # the whole recording, not just the range
    assert not panels.equity.visible  # no backtest in this file


def test_replace_swaps_in_the_callers_columns(recording: Path) -> None:
    start = _first_second(recording)
    equity = {"t": [start / 1e6, start / 1e6 + 1000.0], "value": [0.0, 2.5]}
    alerts = {
        "t": [start / 1e6],
        "value": [0.9],
        "y": [0.9],
        "marker": ["triangle"],
        "color": ["#26a69a"],
        "kind": ["obi"],
        "message": ["high"],
    }
    with Dataset(recording, materialize=False) as dataset:
        panels = static_panels(
            dataset,
            INSTRUMENT,
            start,
            start + 60 * NS_PER_S,
            window_ns=NS_PER_S,
            max_bars=5,
            obi_threshold=0.6,
            replace={"equity": equity, "alerts": alerts},
        )
    assert panels.sources["equity"].data == equity and panels.equity.visible
    assert panels.sources["alerts"].data == alerts
    # the budget still holds for what came from the Dataset: 5 candles, 4 points a bucket
    assert len(panels.sources["candles"].data["t"]) <= 5
    assert 0 < len(panels.sources["obi"].data["t"]) <= 5 + 1


def test_obi_panel_marks_only_obi_alerts(recording: Path, tmp_path: Path) -> None:
    import shutil

    from orderflow.charts import ViewSettings, panel_data

    copy = Path(shutil.copy(recording, tmp_path / "alerts.db"))
    t0 = _first_second(copy)
    conn = sqlite3.connect(copy)
    conn.execute(
        "CREATE TABLE alerts (instrument TEXT, ts_ns INTEGER, kind TEXT, value REAL, message TEXT)"
    )
    conn.executemany(
        "INSERT INTO alerts VALUES (?, ?, ?, ?, ?)",
        [
            (INSTRUMENT, t0 + NS_PER_S, "obi", 0.8, "o"),
            (INSTRUMENT, t0 + 2 * NS_PER_S, "cvd", 55.0, "c"),
        ],
    )
    conn.commit()
    conn.close()
    with Dataset(copy) as dataset:
        data, _ = panel_data(
            dataset, INSTRUMENT, t0, t0 + 60 * NS_PER_S, 10 * NS_PER_S, ViewSettings(max_bars=100)
        )
    assert data["alerts"]["value"] == [0.8]
    assert data["alerts"]["marker"] == ["triangle"]
    # the CVD alert is drawn on the CVD panel, at the CVD value of its instant
    assert data["cvd_alerts"]["value"] == [55.0]
    (cvd,) = _stored(
        copy,
        "SELECT cvd FROM metrics WHERE instrument = ? AND ts_ns <= ? ORDER BY ts_ns DESC LIMIT 1",
        INSTRUMENT,
        t0 + 2 * NS_PER_S,
    )[0]
    assert data["cvd_alerts"]["y"] == [cvd]
