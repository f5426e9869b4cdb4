"""The metrics indexes: a file from an earlier version gets the time-led index in place
(its rows kept), and the range queries Orderflow runs are answered from an index."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from orderflow.store.metrics_repository import METRIC_ROW_COLUMNS, SQLiteMetricsRepository
from orderflow.store.schema import INPUT_DDL, METRICS_DDL

EARLIER_INDEX = "CREATE INDEX idx_metrics_instrument_ts ON metrics(instrument, ts_ns);"
NEW_INDEX = "CREATE INDEX IF NOT EXISTS idx_metrics_ts_instrument ON metrics(ts_ns, instrument);"
_ALL = ", ".join(METRIC_ROW_COLUMNS)
QUERIES = (
    # orderflow.query.microprice: one instrument over a time range
    (
        "SELECT best_bid, best_ask, bid_size_1, ask_size_1 FROM metrics"
        " WHERE instrument = ? AND ts_ns >= ? AND ts_ns < ? ORDER BY ts_ns, snapshot_id",
        ("BTC", 0, 10),
    ),
    # SQLiteMetricsRepository.load_metrics_by_timerange, with and without an instrument
    (
        f"SELECT {_ALL} FROM metrics WHERE 1 = 1 AND ts_ns >= ? AND ts_ns < ?"
        " AND instrument = ? ORDER BY ts_ns, snapshot_id",
        (0, 10, "BTC"),
    ),
    (
        f"SELECT {_ALL} FROM metrics WHERE 1 = 1 AND ts_ns >= ? AND ts_ns < ?"
        " ORDER BY ts_ns, snapshot_id",
        (0, 10),
    ),
)


def _earlier_file(path: Path, rows: int) -> None:
    """A recording whose metrics table an earlier version made (the retired index)."""
    assert NEW_INDEX in METRICS_DDL
    with sqlite3.connect(path) as conn:
        conn.executescript(INPUT_DDL + METRICS_DDL.replace(NEW_INDEX, EARLIER_INDEX))
        conn.executemany(
            "INSERT INTO metrics (snapshot_id, timestamp, cvd, instrument, ts_ns)"
            " VALUES (?, ?, ?, ?, ?)",
            [(i, str(i), 0.5 * i, ("BTC", "ETH")[i % 2], 1_000 * i) for i in range(rows)],
        )
    conn.close()


def _indexes(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'metrics'"
        " AND sql IS NOT NULL"
    )
    return {r[0] for r in rows}


def test_an_earlier_file_gets_the_time_led_index_and_keeps_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    _earlier_file(db, 500)
    repo = SQLiteMetricsRepository(db)
    try:
        repo.create_metrics_table()
        assert _indexes(repo.conn) == {
            "idx_metrics_timestamp",
            "idx_metrics_snapshot_id",
            "idx_metrics_ts_instrument",
        }
        assert repo.conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        got = repo.load_metrics_by_timerange(100_000, 200_000, "ETH")
        assert [r[0] for r in got] == list(range(101, 200, 2))
        repo.create_metrics_table()  # a second open changes nothing
        assert "idx_metrics_ts_instrument" in _indexes(repo.conn)
    finally:
        repo.close()


def test_range_queries_read_an_index_not_the_table(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    _earlier_file(db, 2_000)
    repo = SQLiteMetricsRepository(db)
    try:
        repo.create_metrics_table()
        for sql, params in QUERIES:
            plan = " | ".join(r[3] for r in repo.conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
            assert "USING INDEX idx_metrics_ts_instrument" in plan, (sql, plan)
    finally:
        repo.close()
