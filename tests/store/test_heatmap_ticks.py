"""The heatmap's tick sample: three windows of book rows by id, never the whole table."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from orderflow.store.heatmap_ticks import SAMPLE_ROWS, decide_ticks
from orderflow.store.schema import INPUT_DDL

BOOK_ROWS = 20_000
OPS_PER_CALL = 100


def _book(path: Path) -> None:
    side = json.dumps([[100.0 + 0.5 * k, 1.0] for k in range(3)])
    with sqlite3.connect(path) as conn:
        conn.executescript(INPUT_DDL)
        conn.executemany(
            "INSERT INTO book (id, instrument, bids, asks, timestamp) VALUES (?, ?, ?, ?, ?)",
            [(i, ("A", "B")[i % 2], side, side, str(i)) for i in range(1, BOOK_ROWS + 1)],
        )
    conn.close()


def test_the_tick_sample_reads_three_windows_not_the_whole_book(tmp_path: Path) -> None:
    db = tmp_path / "book.db"
    _book(db)
    conn = sqlite3.connect(db)
    calls = []
    # SQLite calls this every OPS_PER_CALL virtual-machine operations: a count of the
    # work done that a scan of every book row would push past BOOK_ROWS.
    conn.set_progress_handler(lambda: calls.append(1) and 0, OPS_PER_CALL)
    try:
        ticks = decide_ticks(conn, {"B": 0.25})
    finally:
        conn.close()
    assert ticks["A"][0] == 0.5 and ticks["B"] == (0.25, "profile")
    bound = 3 * SAMPLE_ROWS * 50  # operations for the sampled rows (2,100 measured)
    assert bound < BOOK_ROWS * 5  # a scan of the book costs more (142,100 measured)
    assert len(calls) * OPS_PER_CALL < bound
