"""A materialised Dataset follows rows appended to the SQLite file while it is open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from orderflow.query import Dataset, QueryLayerError
from orderflow.query.duckdb_connection import attach_sqlite, connect_duckdb
from orderflow.store.connections import open_writer


@pytest.fixture
def copy(synth_db: Path, tmp_path: Path) -> Path:
    path = tmp_path / "it's a copy.db"  # a quote in the path must attach safely
    with sqlite3.connect(synth_db) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    return path


def test_appended_metrics_and_trades_appear(copy: Path) -> None:
    with Dataset(copy) as dataset:
        lo, hi = dataset.extent("BTC-USDT")
        assert not dataset.refresh()
        writer = open_writer(copy)
        writer.execute(
            "INSERT INTO metrics (snapshot_id, timestamp, obi, cvd, best_bid, best_ask, "
            "instrument, ts_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (10**6, "x", 0.125, 42.0, 1.0, 2.0, "BTC-USDT", hi + 10**9),
        )
        writer.execute(
            "INSERT INTO trades (instrument, trade_id, price, size, side, timestamp) "
            "VALUES ('BTC-USDT', 'n1', 50000.5, 2.0, 'BUY', ?), "
            "('BTC-USDT', 'n2', 1.0, 1.0, 'nope', ?)",
            (str((hi + 10**9) // 10**6), str((hi + 10**9) // 10**6)),
        )
        writer.close()
        assert dataset.refresh()
        assert dataset.extent("BTC-USDT") == (lo, hi + 10**9)
        tail = dataset.series("BTC-USDT", "obi", hi + 1, hi + 2 * 10**9, None).to_pylist()
        assert tail == [{"ts_ns": hi + 10**9, "snapshot_id": 10**6, "value": 0.125}]
        candle = dataset.candles("BTC-USDT", hi + 10**9, hi + 2 * 10**9, 10**9).to_pylist()
        assert [(c["open"], c["buy_volume"], c["trades"]) for c in candle] == [(50000.5, 2.0, 1)]


def test_deleted_metrics_reload(copy: Path) -> None:
    with Dataset(copy) as dataset:
        before = dataset.metric_rows("ETH-USDT", 0, 2**62).num_rows
        writer = open_writer(copy)
        writer.execute("DELETE FROM metrics WHERE id < 100")
        writer.close()
        assert dataset.refresh()
        after = dataset.metric_rows("ETH-USDT", 0, 2**62).num_rows
    with sqlite3.connect(copy) as conn:
        want = conn.execute("SELECT count(*) FROM metrics WHERE instrument = 'ETH-USDT'")
        assert after == want.fetchone()[0] < before


def test_alert_markers_and_equity(copy: Path) -> None:
    with sqlite3.connect(copy) as conn:
        conn.execute(
            "CREATE TABLE alerts (instrument TEXT, ts_ns INTEGER, kind TEXT, value REAL, "
            "message TEXT)"
        )
        conn.execute("INSERT INTO alerts VALUES ('BTC-USDT', 1709251210000000000, 'obi', 0.7, 'm')")
        conn.execute("INSERT INTO alerts VALUES ('BTC-USDT', 1709251220000000000, 'cvd', 42, 'c')")
        conn.execute(
            "CREATE TABLE backtest_equity (run_id INTEGER, instrument TEXT, ts_ns INTEGER, "
            "equity REAL)"
        )
        conn.executemany(
            "INSERT INTO backtest_equity VALUES (?, 'BTC-USDT', ?, ?)",
            [(1, 1709251200000000000 + i * 10**9, float(i)) for i in range(50)]
            + [(2, 1709251200000000000 + i * 10**9, -float(i)) for i in range(50)],
        )
    with Dataset(copy) as dataset:
        alerts = dataset.alerts("BTC-USDT", 0, 2**62, 100, kind="obi").to_pylist()
        assert alerts == [
            {"ts_ns": 1709251210000000000, "kind": "obi", "value": 0.7, "message": "m"}
        ]
        assert [a["kind"] for a in dataset.alerts("BTC-USDT", 0, 2**62, 100).to_pylist()] == [
            "obi",
            "cvd",
        ]
        t0 = 1709251200000000000
        equity = dataset.equity("BTC-USDT", t0, t0 + 50 * 10**9, 1000).to_pylist()
        assert [e["value"] for e in equity] == [-float(i) for i in range(50)]  # latest run


def test_missing_file_and_missing_table(tmp_path: Path) -> None:
    with pytest.raises(QueryLayerError, match="no such file"):
        attach_sqlite(connect_duckdb(), tmp_path / "nope.db", "x")
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(OSError, match="has no 'trades' table"):
        Dataset(empty)
