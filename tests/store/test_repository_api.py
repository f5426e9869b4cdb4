"""The seed's repository methods that the pipelines themselves do not call."""

from __future__ import annotations

from orderflow.pipeline.storage import Storage
from orderflow.store.input_repository import SQLiteOrderflowRepository
from orderflow.store.metrics_repository import (
    METRIC_ROW_COLUMNS,
    ROWS_PER_INSERT,
    SQLiteMetricsRepository,
)

S = 10**9


def test_input_repository_counts_and_groups_trades_by_instant(recording) -> None:
    path = recording(
        books=[("X", [[1, 1]], [[2, 1]], "10"), ("Y", [[1, 1]], [[2, 1]], "20")],
        trades=[("X", 1, 1.0, "buy", "5"), ("Y", 1, 2.0, "sell", "5"), ("X", 1, 3.0, "buy", "7")],
    )
    repo = SQLiteOrderflowRepository(path)
    conn = repo.connect()
    assert (repo.count_rows(conn, "book"), repo.count_rows(conn, "trades")) == (2, 3)
    assert repo.instruments(conn) == ["X", "Y"]
    scan = repo.scan_order(conn, "trades")
    grouped = repo.load_trades_by_timestamp(conn, scan)
    assert {ns: [row[0] for row in rows] for ns, rows in grouped.items()} == {
        5 * S: [1, 2],
        7 * S: [3],
    }
    assert list(repo.load_trades_by_timestamp(conn, scan, 6 * S, None)) == [7 * S]
    conn.close()


def test_metrics_repository_tables_and_time_ranges(recording) -> None:
    path = recording(
        books=[("X", [[1, 1]], [[2, 1]], str(t)) for t in (10, 20, 30)]
        + [("Y", [[1, 3]], [[2, 1]], "20")],
    )
    metrics = SQLiteMetricsRepository(path)
    assert not metrics.table_exists("metrics")
    Storage(path, quiet=True).build_booktick_from_db()
    assert metrics.table_exists("metrics") and metrics.table_exists("metrics_rejects")
    rows = metrics.load_metrics_by_timerange(15 * S, 31 * S)
    assert [(r[0], r[6]) for r in rows] == [(2, "X"), (4, "Y"), (3, "X")]
    assert [r[0] for r in metrics.load_metrics_by_timerange(instrument="X")] == [1, 2, 3]
    assert metrics.load_metrics_by_timerange(instrument="Y")[0][2] == 0.5
    metrics.close()


def test_rows_written_in_order_across_multi_row_statements(recording) -> None:
    """Whole multi-row INSERTs plus a remainder keep every row, in order, with
    ascending ids (the dashboard follows new rows by id)."""
    path = recording(books=[("X", [[1, 1]], [[2, 1]], "10")])
    metrics = SQLiteMetricsRepository(path)
    metrics.create_metrics_table()
    count = 2 * ROWS_PER_INSERT + 7
    flow = (1.0, 1.5, None, 2.0, 3.0, 0.1, 0.2, 0.3, -1.0, float("nan"))
    rows = [(i, str(i), 0.5, float(i), 1.0, 2.0, "X", i * S, *flow) for i in range(count)]
    metrics.insert_metrics_batch(iter(rows), [("book", 1, "why")])
    stored = metrics.conn.execute(
        f"SELECT {', '.join(METRIC_ROW_COLUMNS)} FROM metrics ORDER BY id"
    ).fetchall()
    assert stored == [(*row[:-1], None) for row in rows]  # NaN is stored as NULL
    assert metrics.count_rejects() == 1
    metrics.close()
