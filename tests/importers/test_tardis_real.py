"""Tardis book_snapshot_25 sample (nautilus_trader test data) and a trades CSV."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import msgspec
from tests.importers.importer_data import real_file

from orderflow.importers.cli import run_import

SNAPSHOTS = "tardis_binance-futures_book_snapshot_25_BTCUSDT.csv"


def test_tardis_snapshots_keep_the_exchange_levels(tmp_path: Path) -> None:
    path = real_file(SNAPSHOTS)
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    out = tmp_path / "tardis.db"
    report = run_import("tardis", [path], out, interval_ms=0, depth=25)
    assert report.messages == len(rows) == 10
    assert (report.crossed, report.malformed, report.gaps) == (0, 0, 0)
    with sqlite3.connect(out) as db:
        written = db.execute("SELECT instrument, bids, asks, timestamp FROM book").fetchall()
    assert len(written) == 10
    for row, (instrument, bids, asks, ts) in zip(rows, written, strict=True):
        bids, asks = msgspec.json.decode(bids), msgspec.json.decode(asks)
        assert instrument == "BTCUSDT" and ts == row["timestamp"]
        assert len(bids) == len(asks) == 25
        for i in range(25):
            assert asks[i][:2] == [row[f"asks[{i}].price"], row[f"asks[{i}].amount"]]
            assert bids[i][:2] == [row[f"bids[{i}].price"], row[f"bids[{i}].amount"]]


def test_tardis_grid_keeps_one_row_per_interval(tmp_path: Path) -> None:
    report = run_import("tardis", [real_file(SNAPSHOTS)], tmp_path / "t.db", interval_ms=100)
    # 10 rows over 309 ms fall into 4 distinct 100 ms cells.
    assert report.snapshots == 4


def test_tardis_trades_csv(tmp_path: Path) -> None:
    trades = tmp_path / "trades.csv"
    trades.write_text(
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
        "binance-futures,BTCUSDT,1598918403696000,1598918403810979,1,buy,11657.08,0.5\n"
        "binance-futures,BTCUSDT,1598918403815000,1598918403819763,2,sell,11657.07,1.25\n"
        "binance-futures,BTCUSDT,not-a-time,1598918403819763,3,sell,11657.07,1.25\n"
    )
    out = tmp_path / "t.db"
    report = run_import("tardis", [trades, real_file(SNAPSHOTS)], out, interval_ms=0)
    assert report.trades == 2 and report.snapshots == 10
    assert report.malformed == 1 and report.lines["malformed"] == ["trades.csv:4"]
    with sqlite3.connect(out) as db:
        got = db.execute("SELECT trade_id, price, size, side, timestamp FROM trades").fetchall()
    assert got == [
        ("1", 11657.08, 0.5, "buy", "1598918403696000"),
        ("2", 11657.07, 1.25, "sell", "1598918403815000"),
    ]
