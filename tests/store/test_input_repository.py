"""Range streaming through the sparse index equals a brute-force filter."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
from tests.recordings import write_recording

from orderflow.core.timestamps import parse_instant_ns
from orderflow.store.input_repository import SQLiteOrderflowRepository, text_of


def brute_force(path: Path, start: int | None, end: int | None) -> list[int]:
    conn = sqlite3.connect(path)
    rows = [
        (parse_instant_ns(ts), rid) for rid, ts in conn.execute("SELECT id, timestamp FROM book")
    ]
    conn.close()
    lo = start if start is not None else -(2**63)
    hi = end if end is not None else 2**63
    return [rid for ns, rid in sorted(r for r in rows if r[0] is not None) if lo <= ns < hi]


@pytest.fixture(scope="module", params=["ordered", "shuffled"])
def big(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    stamps = [str(1_000_000 + i // 7) for i in range(5_500)]  # 7 rows per instant
    stamps[100] = "garbage"  # an unparseable row is skipped, not fatal to ordering
    ids = list(range(1, len(stamps) + 1))
    if request.param == "shuffled":
        random.Random(1).shuffle(ids)
    books = [(rid, "X", [[1, 1]], [[2, 1]], ts) for rid, ts in zip(ids, stamps, strict=True)]
    return write_recording(tmp_path_factory.mktemp("big") / f"{request.param}.db", books)


def test_scan_reports_order_and_unparseable(big: Path) -> None:
    repo = SQLiteOrderflowRepository(big)
    conn = repo.connect()
    scan = repo.scan_order(conn, "book")
    assert scan.rows == 5_500 and scan.unparseable == 1
    assert scan.time_ordered == big.name.startswith("ordered")
    parseable = set(brute_force(big, None, None))
    expected = [rid for rid in brute_force_all_ids(big) if rid not in parseable]
    assert len(expected) == 1
    assert list(repo.iterate_unparseable(conn, "book")) == expected
    conn.close()


def brute_force_all_ids(path: Path) -> list[int]:
    conn = sqlite3.connect(path)
    ids = [r[0] for r in conn.execute("SELECT id FROM book ORDER BY id")]
    conn.close()
    return ids


def test_every_range_equals_brute_force(big: Path) -> None:
    repo = SQLiteOrderflowRepository(big)
    conn = repo.connect()
    scan = repo.scan_order(conn, "book")
    rng = random.Random(7)
    s = 10**9
    cases = [(None, None), (None, 1_000_100 * s), (1_000_700 * s, None)]
    cases += [tuple(sorted(rng.sample(range(999_990, 1_000_800), 2))) for _ in range(25)]
    for case in cases:
        start, end = (c * s if c is not None and c < 10**8 else c for c in case)
        got = [row[0] for row in repo.iterate_book_rows(conn, scan, start, end)]
        assert got == brute_force(big, start, end), case
    conn.close()


COLUMN_TYPES = ("TEXT", "INTEGER", "REAL", "NUMERIC", "BLOB", "", "TEXT COLLATE NOCASE", "DATETIME")
CELLS = (
    None, 0, -5, 1_709_251_200_000, 2**63 - 1, -(2**63), 1.5, -0.0, 1e300, float("inf"),
    float("-inf"), 5e-324, 1.2345678901234567e19, "1709251200000", "", " 12", "1.50",
    "BTC-USDT", b"", b"123", b"\xff",
)  # fmt: skip


@pytest.mark.parametrize("declared", COLUMN_TYPES)
def test_text_of_casts_exactly_the_integer_and_real_cells(declared: str) -> None:
    """Whatever the column's declared type, ``text_of`` gives INTEGER and REAL cells
    as SQLite's text of them and every other cell (NULL, TEXT, BLOB) unchanged."""
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE TABLE t (id INTEGER PRIMARY KEY, x {declared})")
    conn.executemany("INSERT INTO t (x) VALUES (?)", [(cell,) for cell in CELLS])
    stored = conn.execute(
        "SELECT x, CASE WHEN typeof(x) IN ('integer', 'real') THEN CAST(x AS TEXT) END"
        " FROM t ORDER BY id"
    ).fetchall()
    expected = [x if text is None else text for x, text in stored]
    got = [row[0] for row in conn.execute(f"SELECT {text_of('x')} FROM t ORDER BY id")]
    assert [(type(v), v) for v in got] == [(type(v), v) for v in expected]
    conn.close()
