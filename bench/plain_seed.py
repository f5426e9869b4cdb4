"""The naive baseline every benchmark ratio is measured against.

A direct reading of the seed architecture as most people would first write it:
``json.loads`` per side, a dataclass per level, dictionaries of levels per
snapshot, trades grouped by timestamp up front, a Python loop per level for the
sums, and ``executemany`` batches of 1000 into a metrics table with the seed's
PRAGMAs. It computes the same numbers for well-formed, time-ordered input, which
the benchmarks check, so the ratios compare equal work.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["run_plain"]

BATCH_SIZE = 1000


@dataclass
class OrderbookLevel:
    price: float
    size: float
    liquidation_count: int
    order_count: int


@dataclass
class Trade:
    instrument: str
    price: float
    size: float
    side: str
    timestamp: int


@dataclass
class BookSnapshot:
    id: int
    instrument: str
    timestamp: int
    bids: dict[float, OrderbookLevel] = field(default_factory=dict)
    asks: dict[float, OrderbookLevel] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)


def _levels(raw: str) -> dict[float, OrderbookLevel]:
    out = {}
    for level in json.loads(raw):
        price, size = float(level[0]), float(level[1])
        liq = int(float(level[2])) if len(level) > 2 else 0
        orders = int(float(level[3])) if len(level) > 3 else 0
        out[price] = OrderbookLevel(price, size, liq, orders)
    return out


def _obi(snapshot: BookSnapshot) -> float | None:
    bids = sum(level.size for level in snapshot.bids.values() if level.size > 0)
    asks = sum(level.size for level in snapshot.asks.values() if level.size > 0)
    total = bids + asks
    return None if total == 0 else (bids - asks) / total


def _insert(conn: sqlite3.Connection, batch: list[tuple]) -> None:
    conn.executemany(
        "INSERT INTO plain_metrics (snapshot_id, timestamp, obi, cvd, best_bid, best_ask)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        batch,
    )
    conn.commit()


def run_plain(db_path: str | Path) -> int:
    """Compute and store metrics for every snapshot; returns the number written."""
    # One connection, as in the seed: its reads and batch commits interleave.
    reader = writer = sqlite3.connect(db_path)
    writer.execute("PRAGMA journal_mode = OFF")
    writer.execute("PRAGMA synchronous = OFF")
    writer.execute("PRAGMA cache_size = 100000")
    writer.execute("DROP TABLE IF EXISTS plain_metrics")
    writer.execute(
        "CREATE TABLE plain_metrics (id INTEGER PRIMARY KEY AUTOINCREMENT, snapshot_id INTEGER,"
        " timestamp TEXT, obi REAL, cvd REAL, best_bid REAL, best_ask REAL)"
    )
    writer.commit()
    trades_by_ts: dict[int, list[Trade]] = {}
    for instrument, price, size, side, ts in reader.execute(
        "SELECT instrument, price, size, side, timestamp FROM trades ORDER BY id"
    ):
        trade = Trade(instrument, float(price), float(size), side.lower(), int(ts))
        trades_by_ts.setdefault(trade.timestamp, []).append(trade)
    pending = sorted(trades_by_ts.items())
    next_trade = 0
    cvd: dict[str, float] = {}
    batch: list[tuple] = []
    written = 0
    for sid, instrument, bids, asks, ts in reader.execute(
        "SELECT id, instrument, bids, asks, timestamp FROM book ORDER BY id"
    ):
        snapshot = BookSnapshot(sid, instrument, int(ts), _levels(bids), _levels(asks))
        while next_trade < len(pending) and pending[next_trade][0] <= snapshot.timestamp:
            snapshot.trades.extend(pending[next_trade][1])
            next_trade += 1
        for trade in snapshot.trades:
            signed = trade.size if trade.side == "buy" else -trade.size
            cvd[trade.instrument] = cvd.get(trade.instrument, 0.0) + signed
        best_bid = max((p for p, lv in snapshot.bids.items() if lv.size > 0), default=None)
        best_ask = min((p for p, lv in snapshot.asks.items() if lv.size > 0), default=None)
        batch.append((sid, ts, _obi(snapshot), cvd.get(instrument, 0.0), best_bid, best_ask))
        if len(batch) >= BATCH_SIZE:
            _insert(writer, batch)
            written += len(batch)
            batch.clear()
    _insert(writer, batch)
    written += len(batch)
    writer.close()
    return written


if __name__ == "__main__":
    print(run_plain(sys.argv[1]))
