"""A small generated recording with metrics, plus hand-made odd trades, shared by the module."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from orderflow.pipeline.storage import Storage
from orderflow.synth.generator import SynthConfig, generate

# Trades the generator never writes: other timestamp formats and invalid rows.
ODD_TRADES = [
    ("BTC-USDT", "x1", 43250.0, 0.5, "BUY", "1709251230"),  # seconds
    ("BTC-USDT", "x2", 43251.0, 0.25, "Sell", "2024-03-01T00:00:31.5Z"),  # ISO
    ("BTC-USDT", "x3", 43252.0, 0.75, "buy", "2024-03-01 01:00:32+01:00"),  # offset
    ("BTC-USDT", "x4", 43253.0, 1.0, "buy", "1709251233000000"),  # microseconds
    ("BTC-USDT", "x5", 43254.0, 1.0, "hold", "1709251234000"),  # bad side
    ("BTC-USDT", "x6", 43255.0, -1.0, "buy", "1709251235000"),  # negative size
    ("BTC-USDT", "x7", 43256.0, 1.0, "sell", "yesterday"),  # bad timestamp
    ("BTC-USDT", "x8", "n/a", 1.0, "sell", "1709251236000"),  # text price
    ("ETH-USDT", "x9", 2301.0, 3.0, "sell", " 1709251237000.5 "),  # decimal ms
]


@pytest.fixture(scope="package")
def synth_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("query") / "synth.db"
    generate(path, SynthConfig(snapshots=3000, instruments=2, seed=11))
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO trades (instrument, trade_id, price, size, side, timestamp) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            ODD_TRADES,
        )
    Storage(path, quiet=True).build_booktick_from_db()
    return path
