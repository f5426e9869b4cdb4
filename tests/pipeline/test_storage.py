"""The in-process pipeline against metrics.md, on real SQLite files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tests.recordings import input_tables_digest, read_metrics, read_rejects

from orderflow.core.errors import InputFileError
from orderflow.pipeline.storage import Storage

B = [[100, 1]]  # a valid one-level side
A = [[101, 1]]


def run(path: Path, **kwargs) -> None:
    Storage(path, quiet=True, **kwargs).build_booktick_from_db()


def test_cvd_counts_trades_up_to_and_including_the_snapshot_instant(recording) -> None:
    path = recording(
        books=[("X", B, A, "1000"), ("X", B, A, "2000"), ("X", B, A, "3000")],
        trades=[
            ("X", 100, 1.0, "buy", "500"),  # before the first snapshot: counts towards it
            ("X", 100, 2.0, "BUY", "1000"),  # same instant as snapshot 1: belongs to it
            ("X", 100, 0.5, "Sell", "1500"),
            ("X", 100, 4.0, "sell", "3000"),
            ("X", 100, 9.0, "buy", "3001"),  # after the last snapshot: in no row
        ],
    )
    run(path)
    got = {sid: row[5] for sid, row in read_metrics(path).items()}
    assert got == {1: 3.0, 2: 2.5, 3: -1.5}


def test_every_metric_is_per_instrument(recording) -> None:
    path = recording(
        books=[
            ("X", [[10, 3]], [[11, 1]], "1"),
            ("Y", [[20, 1]], [[21, 3]], "1"),
            ("X", [[10, 1]], [[11, 1]], "2"),
            ("Y", [[20, 2]], [[21, 0]], "2"),
        ],
        trades=[
            ("X", 10, 1.0, "buy", "1"),
            ("Y", 20, 5.0, "sell", "1"),
            ("Y", 20, 1.0, "buy", "2"),
        ],
    )
    run(path)
    m = read_metrics(path)
    assert m[1][0] == "X" and m[1][5] == 1.0 and m[1][4] == pytest.approx(0.5)
    assert m[2][0] == "Y" and m[2][5] == -5.0 and m[2][4] == pytest.approx(-0.5)
    assert m[3][5] == 1.0 and m[3][4] == 0.0
    assert m[4][5] == -4.0 and m[4][3] is None and m[4][4] == 1.0


def test_mixed_timestamp_formats_order_by_instant_not_text(recording) -> None:
    # ids are not in time order and the formats differ; the instants decide.
    path = recording(
        books=[
            (1, "X", B, A, "2024-03-01T00:00:03Z"),
            (2, "X", B, A, "1709251201000"),  # ms: 00:00:01
            (3, "X", B, A, "1709251202000000"),  # us: 00:00:02
            (4, "X", B, A, "2024-03-01T01:00:00+01:00"),  # = 00:00:00Z
        ],
        trades=[
            ("X", 1, 1.0, "buy", "1709251200"),  # s: 00:00:00 -> at snapshot 4
            ("X", 1, 10.0, "buy", "2024-03-01T00:00:01.5Z"),  # -> snapshot 3 onwards
            ("X", 1, 100.0, "sell", "1709251203000000000"),  # ns: 00:00:03 -> snapshot 1
        ],
    )
    run(path)
    m = read_metrics(path)
    cvd = {sid: row[5] for sid, row in m.items()}
    assert cvd == {4: 1.0, 2: 1.0, 3: 11.0, 1: -89.0}
    order = sorted(m, key=lambda sid: (m[sid][1], sid))
    assert order == [4, 2, 3, 1]


def test_ties_on_instant_order_by_id(recording) -> None:
    path = recording(
        books=[(5, "X", [[100, 1]], A, "1000"), (2, "X", [[99, 1]], A, "1000")],
        trades=[("X", 1, 1.0, "buy", "1000")],
    )
    run(path)
    m = read_metrics(path)
    assert m[2][5] == m[5][5] == 1.0  # both snapshots see the trade at their instant


def test_invalid_rows_are_skipped_counted_and_recorded(recording) -> None:
    path = recording(
        books=[
            (1, "X", B, A, "1000"),
            (2, "X", [[100, -1]], A, "2000"),
            (3, "X", B, A, "not a time"),
            (4, "X", '{"bids": 1}', A, "3000"),
            (5, "X", [[100, 1, "x", 0]], A, "3500"),
            (6, "X", B, A, "4000"),
        ],
        trades=[
            (1, "X", 100, 1.0, "buy", "1500"),
            (2, "X", 100, -2.0, "buy", "1500"),
            (3, "X", "abc", 1.0, "sell", "1500"),
            (4, "X", 100, 1.0, "hold", "1500"),
            (5, "X", 100, 1.0, "sell", "whenever"),
            (6, "X", 100, float("inf"), "sell", "1500"),
        ],
    )
    summary = Storage(path, quiet=True).build_booktick_from_db()
    m = read_metrics(path)
    assert sorted(m) == [1, 6]
    assert m[6][5] == 1.0  # only the valid trade counted
    rejects = read_rejects(path)
    assert set(rejects) == {
        ("book", 2),
        ("book", 3),
        ("book", 4),
        ("book", 5),
        ("trades", 2),
        ("trades", 3),
        ("trades", 4),
        ("trades", 5),
        ("trades", 6),
    }
    assert "negative" in rejects[("book", 2)]
    assert "timestamp" in rejects[("book", 3)]
    assert "side" in rejects[("trades", 4)]
    assert summary.snapshots == 2 and summary.rejects == 9


def test_input_tables_untouched_and_rerun_does_not_duplicate(recording) -> None:
    path = recording(
        books=[("X", B, A, str(1000 + i)) for i in range(2500)],
        trades=[("X", 1, 1.0, "buy", str(1000 + i)) for i in range(0, 2500, 7)],
    )
    before = input_tables_digest(path)
    run(path)
    first = read_metrics(path)
    summary = Storage(path, quiet=True).build_booktick_from_db()
    assert summary.skipped
    Storage(path, quiet=True).build_booktick_from_db(force=True)
    assert read_metrics(path) == first
    assert len(first) == 2500
    assert input_tables_digest(path) == before
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM metrics").fetchone()[0] == 2500
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_depth_change_recomputes(recording) -> None:
    path = recording(books=[("X", [[100, 1], [99, 3]], [[101, 1]], "1")])
    run(path)
    assert read_metrics(path)[1][4] == pytest.approx(0.6)
    run(path, depth=1)
    assert read_metrics(path)[1][4] == pytest.approx(0.0)


def test_unordered_ids_match_ordered_copy(recording) -> None:
    rows = [
        ("X" if i % 3 else "Y", [[100 + i % 5, 1 + i % 4]], [[110, 2]], str(10_000 + i // 2))
        for i in range(3000)
    ]
    trades = [
        (
            "X" if i % 2 else "Y",
            100,
            0.25 * (i % 5),
            "buy" if i % 3 else "sell",
            str(9_990 + i // 3),
        )
        for i in range(4000)
    ]
    ordered = recording(books=rows, trades=trades, name="ordered.db")
    shuffled_ids = list(range(1, 3001))
    import random

    random.Random(3).shuffle(shuffled_ids)
    unordered = recording(
        books=[(shuffled_ids[i], *row) for i, row in enumerate(rows)],
        trades=trades,
        name="unordered.db",
    )
    run(ordered)
    run(unordered)
    a, b = read_metrics(ordered), read_metrics(unordered)
    remap = {shuffled_ids[i]: i + 1 for i in range(3000)}
    # Same instants; ties among the shuffled rows order by id, which only permutes
    # rows of equal instant, and every row at one instant sees the same trades.
    assert {remap[k]: v for k, v in b.items()} == a


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"this is not a database at all, just text" * 50, "cannot be read as SQLite"),
        (None, "has no 'trades' table"),
    ],
)
def test_bad_files_give_one_error_and_stay_untouched(tmp_path, content, problem) -> None:
    path = tmp_path / "bad.db"
    if content is None:
        conn = sqlite3.connect(path)
        conn.execute(
            "CREATE TABLE book (id INTEGER PRIMARY KEY, instrument, bids, asks, timestamp)"
        )
        conn.commit()
        conn.close()
    else:
        path.write_bytes(content)
    before = path.read_bytes()
    with pytest.raises(InputFileError, match=problem):
        run(path)
    assert path.read_bytes() == before


def test_missing_column_is_named(tmp_path) -> None:
    path = tmp_path / "cols.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE book (id INTEGER PRIMARY KEY, instrument, bids, asks, timestamp)")
    conn.execute("CREATE TABLE trades (id INTEGER PRIMARY KEY, instrument, price, size, timestamp)")
    conn.commit()
    conn.close()
    with pytest.raises(InputFileError, match=r"lacks column.*side"):
        run(path)


def test_a_file_of_only_bad_rows_spills_rejects_in_batches(recording) -> None:
    path = recording(
        books=[("X", [[1, -1]], A, str(1000 + i)) for i in range(2500)],
        trades=[("X", 1, 1.0, "hold", str(1000 + i)) for i in range(1200)],
    )
    summary = Storage(path, quiet=True, batch_size=100).build_booktick_from_db()
    assert summary.snapshots == 0 and summary.rejects == 3700
    assert len(read_rejects(path)) == 3700


def test_range_metrics_never_holds_more_rejects_than_the_spill_size(recording) -> None:
    from orderflow.pipeline.range_metrics import RangeMetrics
    from orderflow.store.input_repository import SQLiteOrderflowRepository

    path = recording(
        books=[("X", [[1, -1]], A, str(1000 + i)) for i in range(950)],
        trades=[("X", 1, 1.0, "hold", str(1000 + i)) for i in range(400)],
    )
    repo = SQLiteOrderflowRepository(path)
    conn = repo.connect()
    spills: list[int] = []
    work = RangeMetrics(
        repo,
        conn,
        repo.scan_order(conn, "book"),
        repo.scan_order(conn, "trades"),
        spill_rejects=lambda pending: spills.append(len(pending)),
        spill_every=64,
    )
    assert list(work.rows()) == []
    conn.close()
    assert spills and set(spills) == {64}
    assert len(work.rejects) < 64
    assert sum(spills) + len(work.rejects) == 1350


def test_untyped_columns_with_numbers_in_sides_are_rejects_not_crashes(tmp_path) -> None:
    # A recorder that created its tables without types can store a bare number
    # (no TEXT affinity to turn it into text) where a JSON array belongs.
    path = tmp_path / "untyped.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE book (id INTEGER PRIMARY KEY, instrument, bids, asks, timestamp)")
    conn.execute(
        "CREATE TABLE trades (id INTEGER PRIMARY KEY, instrument, trade_id, price, size, side,"
        " timestamp)"
    )
    conn.executemany(
        "INSERT INTO book VALUES (?, ?, ?, ?, ?)",
        [
            (1, "X", 42, "[[101, 1]]", 1000),
            (2, "X", "[[100, 1]]", 7.5, 2000),
            (3, "X", "[[100, 1]]", "[[101, 3]]", 3000),
        ],
    )
    conn.commit()
    conn.close()
    run(path)
    assert sorted(read_metrics(path)) == [3]
    rejects = read_rejects(path)
    assert "bids is int" in rejects[("book", 1)] and "asks is float" in rejects[("book", 2)]


def test_a_recording_that_grew_is_recomputed_not_skipped(recording) -> None:
    path = recording(
        books=[("X", B, A, "1000"), ("X", B, A, "2000")],
        trades=[("X", 1, 1.0, "buy", "1500")],
    )
    run(path)
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO book (instrument, bids, asks, timestamp) VALUES ('X', '[[100,1]]',"
        " '[[101,3]]', '3000')"
    )
    conn.execute(
        "INSERT INTO trades (instrument, trade_id, price, size, side, timestamp)"
        " VALUES ('X', 'n', 1, 2.0, 'sell', '2500')"
    )
    conn.commit()
    conn.close()
    summary = Storage(path, quiet=True).build_booktick_from_db()
    assert not summary.skipped
    assert {sid: row[5] for sid, row in read_metrics(path).items()} == {1: 0.0, 2: 1.0, 3: -1.0}
    assert Storage(path, quiet=True).build_booktick_from_db().skipped  # unchanged: skipped
