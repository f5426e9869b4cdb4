"""Hand-built recordings in real SQLite files, and readers for what a run wrote."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from orderflow.store.schema import INPUT_DDL

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"

BookSpec = tuple  # (instrument, bids, asks, timestamp) or (id, instrument, bids, asks, timestamp)
TradeSpec = tuple  # (instrument, price, size, side, timestamp) or with a leading id


def _text(side: object) -> object:
    return side if isinstance(side, str) or side is None else json.dumps(side)


def write_recording(
    path: Path, books: Sequence[BookSpec] = (), trades: Sequence[TradeSpec] = ()
) -> Path:
    """A recording with exactly these rows; a leading int in a row sets its id."""
    conn = sqlite3.connect(path)
    conn.executescript(INPUT_DDL)
    for row in books:
        if len(row) == 5:
            rid, instrument, bids, asks, ts = row
        else:
            rid, (instrument, bids, asks, ts) = None, row
        conn.execute(
            "INSERT INTO book (id, instrument, bids, asks, timestamp) VALUES (?, ?, ?, ?, ?)",
            (rid, instrument, _text(bids), _text(asks), ts),
        )
    for row in trades:
        if len(row) == 6:
            rid, instrument, price, size, side, ts = row
        else:
            rid, (instrument, price, size, side, ts) = None, row
        conn.execute(
            "INSERT INTO trades (id, instrument, trade_id, price, size, side, timestamp)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (rid, instrument, f"t{rid}", price, size, side, ts),
        )
    conn.commit()
    conn.close()
    return path


def input_tables_digest(path: Path) -> str:
    """Hash of every book and trades row, to prove input data is untouched."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    digest = hashlib.sha256()
    for table in ("book", "trades"):
        for row in conn.execute(f"SELECT * FROM {table} ORDER BY id"):
            digest.update(repr(row).encode())
    conn.close()
    return digest.hexdigest()


def read_metrics(path: Path) -> dict[int, tuple]:
    """snapshot_id -> (instrument, ts_ns, best_bid, best_ask, obi, cvd)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = conn.execute(
        "SELECT snapshot_id, instrument, ts_ns, best_bid, best_ask, obi, cvd FROM metrics"
    ).fetchall()
    conn.close()
    return {r[0]: r[1:] for r in rows}


def read_rejects(path: Path) -> dict[tuple[str, int], str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = conn.execute("SELECT source_table, row_id, reason FROM metrics_rejects").fetchall()
    conn.close()
    return {(t, i): reason for t, i, reason in rows}


def write_jittered_recording(
    path: Path,
    snapshots: int,
    *,
    jitter_ms: float,
    tables: Sequence[str] = ("book", "trades"),
    seed: int = 5,
    unparseable_every: int = 0,
) -> Path:
    """Two instruments, a snapshot every 20 ms on average (some sharing an instant), about one
    trade per snapshot, some on a snapshot's instant; in each of ``tables`` the ids
    follow the timestamps plus a uniform delay of up to ``jitter_ms``, as merged
    feeds hand them out. Every ``unparseable_every``-th row of each table (0: none)
    gets a timestamp that does not parse."""
    import random

    rng = random.Random(seed)
    base = 1_709_251_200_000
    books, trades = [], []
    t = base
    for i in range(snapshots):
        t += rng.choice((0, 10, 20, 20, 50))
        name = "BTC" if i % 3 else "ETH"
        bids = [[100 - k - (i % 7) / 4, 1 + (i + k) % 5] for k in range(5)]
        asks = [[101 + k + (i % 5) / 4, 2 + (i * k) % 3] for k in range(5)]
        books.append((t, name, json.dumps(bids), json.dumps(asks)))
        for _ in range(rng.choice((0, 1, 1, 2))):
            at = t if rng.random() < 0.3 else t + rng.randint(1, 19)
            side = "buy" if rng.random() < 0.5 else "sell"
            trades.append((at, name, 100.0, rng.randint(1, 8) / 4, side))

    def arrival(rows: list[tuple], table: str) -> list[tuple]:
        delay = jitter_ms if table in tables else 0
        return sorted(rows, key=lambda row: row[0] + rng.uniform(0, delay))

    def stamp(ms: int, n: int) -> str:
        return "garbled" if unparseable_every and n % unparseable_every == 0 else str(ms)

    book_rows = [
        (n, name, bids, asks, stamp(ms, n))
        for n, (ms, name, bids, asks) in enumerate(arrival(books, "book"), 1)
    ]
    trade_rows = [
        (n, name, price, size, side, stamp(ms, n))
        for n, (ms, name, price, size, side) in enumerate(arrival(trades, "trades"), 1)
    ]
    return write_recording(path, book_rows, trade_rows)
