"""The C column writer against its Python path, on real SQLite files: the same rows,
NULLs, texts, blobs and ids, whatever the row count and row order; bad columns and
failed inserts raise."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from orderflow.store import column_writer
from orderflow.store.column_writer import ROWS_PER_INSERT, insert_columns

pytestmark = pytest.mark.skipif(
    column_writer.WRITER is None, reason=str(column_writer.WRITER_UNAVAILABLE)
)

DDL = (
    "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, sid INTEGER, stamp TEXT,"
    " x REAL, name TEXT, ns INTEGER, cells BLOB, first INTEGER);"
    " CREATE UNIQUE INDEX t_sid ON t(sid)"
)
NAMES = ("sid", "stamp", "x", "name", "ns", "cells", "first")


def _columns(rows: int, seed: int = 1) -> list[tuple]:
    rng = np.random.default_rng(seed)
    sids = np.arange(rows, dtype="<i8") * 3 - 7
    x = rng.normal(size=rows)
    x[rng.random(rows) < 0.2] = np.nan
    x[:3] = [np.inf, -0.0, 1e-300][: min(3, rows)]
    texts = [
        f"{1_709_251_200_000 + i}" if i % 5 else f"2024-03-01T12:00:0{i % 10}Z·é"
        for i in range(rows)
    ]
    blob = "".join(texts).encode()
    offsets = np.zeros(rows + 1, "<i8")
    np.cumsum([len(t.encode()) for t in texts], out=offsets[1:])
    codes = (np.arange(rows) % 3).astype("<i4")
    ns = rng.integers(-(2**62), 2**62, size=rows, dtype="<i8")
    cells = [bytes(rng.integers(0, 256, size=i % 7, dtype=np.uint8)) for i in range(rows)]
    cell_ends = np.zeros(rows + 1, "<i8")
    np.cumsum([len(c) for c in cells], out=cell_ends[1:])
    no_cells = (np.arange(rows) % 4 == 1).astype(np.uint8)  # NULL; i % 7 == 0: empty blob
    no_first = (np.arange(rows) % 3 == 2).astype(np.uint8)
    return [
        ("i", sids),
        ("t", blob, offsets),
        ("f", x),
        ("c", codes, ["BTC", "ETH", "ŞOL"]),
        ("i", ns),
        ("b", np.frombuffer(b"".join(cells), np.uint8), cell_ends, no_cells),
        ("i", ns // 7, no_first),
    ]


def _written(
    path: Path, rows: int, *, native: bool, order: np.ndarray | None = None
) -> list[tuple]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(DDL)
    conn.execute("BEGIN")
    insert_columns(conn, "t", NAMES, _columns(rows), rows, order=order, native=native)
    conn.execute("COMMIT")
    out = conn.execute(
        "SELECT id, sid, stamp, x, typeof(x), name, ns, cells, typeof(cells), first FROM t"
        " ORDER BY id"
    ).fetchall()
    conn.close()
    return out


@pytest.mark.parametrize(
    "rows", [0, 1, ROWS_PER_INSERT - 1, ROWS_PER_INSERT, ROWS_PER_INSERT + 1, 1_000]
)
def test_c_and_python_write_the_same_rows(tmp_path: Path, rows: int) -> None:
    c_rows = _written(tmp_path / "c.db", rows, native=True)
    py_rows = _written(tmp_path / "py.db", rows, native=False)
    assert len(c_rows) == rows
    assert c_rows == py_rows
    if rows > 5:
        assert c_rows[5][2] == "2024-03-01T12:00:05Z·é" and c_rows[2][5] == "ŞOL"
        assert {r[4] for r in c_rows} == {"real", "null"}  # NaN went in as NULL
        assert {r[8] for r in c_rows} == {"blob", "null"}
        assert c_rows[0][7] == b"" and c_rows[1][7] is None and len(c_rows[2][7]) == 2
        assert c_rows[2][9] is None and c_rows[3][9] == c_rows[3][6] // 7


@pytest.mark.parametrize("rows", [1, ROWS_PER_INSERT + 3, 500])
def test_an_order_writes_those_rows_in_that_order(tmp_path: Path, rows: int) -> None:
    order = np.random.default_rng(rows).permutation(rows)[: rows - rows // 3]
    c_rows = _written(tmp_path / "c.db", rows, native=True, order=order)
    py_rows = _written(tmp_path / "py.db", rows, native=False, order=order)
    everything = _written(tmp_path / "all.db", rows, native=True)
    assert c_rows == py_rows
    assert [r[1:] for r in c_rows] == [everything[i][1:] for i in order.tolist()]


def test_bad_columns_are_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    conn.executescript(DDL)
    columns = _columns(10)
    bad_offsets = list(columns)
    bad_offsets[1] = ("t", columns[1][1], columns[1][2][::-1].copy())
    bad_codes = list(columns)
    bad_codes[3] = ("c", np.full(10, 3, "<i4"), ["BTC", "ETH", "SOL"])
    short = list(columns)
    short[0] = ("i", columns[0][1][:9].copy())
    short_nulls = list(columns)
    short_nulls[6] = ("i", columns[6][1], columns[6][2][:9].copy())
    for bad in (bad_offsets, bad_codes, short, short_nulls):
        with pytest.raises(ValueError):
            insert_columns(conn, "t", NAMES, bad, 10)
    for order in (np.array([0, 10]), np.array([-1])):
        for native in (True, False):
            with pytest.raises(ValueError):
                insert_columns(conn, "t", NAMES, columns, 10, order=order, native=native)
    with pytest.raises(ValueError):
        insert_columns(conn, "t", NAMES[:4], columns, 10)  # seven columns, four names
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    conn.close()


def test_a_failed_insert_raises_what_sqlite3_raises_and_rolls_back(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    conn.executescript(DDL)
    columns = _columns(100)
    insert_columns(conn, "t", NAMES, columns, 100)
    for native in (True, False):
        conn.execute("BEGIN")
        with pytest.raises(sqlite3.IntegrityError):
            insert_columns(conn, "t", NAMES, columns, 100, native=native)  # duplicate sids
        conn.execute("ROLLBACK")
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (100,)
    conn.close()
    with pytest.raises(sqlite3.ProgrammingError):
        insert_columns(conn, "t", NAMES, columns, 100)


def test_more_columns_than_the_c_writer_declares_are_written_too(tmp_path: Path) -> None:
    count = 70  # the C writer declares 64 (MAX_COLUMNS): these go through Python
    names = [f"v{i}" for i in range(count)]
    conn = sqlite3.connect(tmp_path / "wide.db", isolation_level=None)
    conn.execute(f"CREATE TABLE wide ({', '.join(names)})")
    columns = [("i", np.arange(5, dtype="<i8") * i) for i in range(count)]
    insert_columns(conn, "wide", names, columns, 5)
    rows = conn.execute("SELECT * FROM wide ORDER BY rowid").fetchall()
    conn.close()
    assert rows == [tuple(r * i for i in range(count)) for r in range(5)]
    assert count > column_writer.WRITER.MAX_COLUMNS
