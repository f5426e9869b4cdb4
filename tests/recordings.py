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
