"""A recording's rows as Arrow, read through Python's sqlite3 and never through DuckDB.

A process that opens one SQLite file through two SQLite libraries (Python's, and
the copy inside DuckDB's sqlite extension) loses its locks on the file: POSIX
locks belong to the process, and either library closing a descriptor of the file
drops the locks the other one holds (sqlite.org/howtocorrupt.html, 2.2.1).
DuckDB's extension opens and closes a connection per query, so after one query
through it a writer that closes believes it is the file's last user: it
checkpoints and deletes the ``-wal`` and ``-shm`` files under the reader. Every
connection of the reading process then keeps the deleted index mapped and reads
the file as it was, for good: a dashboard following a ``--force`` rerun drew a
straight line over the rows it never saw, on every page.

So a Dataset that follows a file reads it through one library only: Python's,
on the connection from ``open_readonly``, and hands DuckDB Arrow tables.

Python's connection also reads where DuckDB's cannot: a WAL-mode file in a
directory this user cannot write (an archive, a snapshot, a read-only share),
which ``open_readonly`` opens as immutable while DuckDB's SQLite fails to create
the ``-shm`` file. A notebook's Dataset, which otherwise queries the file in
place, then copies it too.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

__all__ = ["TableCopies", "as_text", "duckdb_cannot_read", "read_rows"]

BATCH_ROWS = 65_536
"""Rows fetched and converted at a time: memory stays flat for any file size."""


def read_rows(
    conn: sqlite3.Connection,
    sql: str,
    params: Sequence[object],
    schema: pa.Schema,
    convert: Callable[[Sequence[object]], Sequence[object]] | None = None,
) -> pa.Table:
    """The rows of ``sql`` as an Arrow table of ``schema``; ``convert`` maps the values
    of each string column first (``as_text`` for cells SQLite may hold as any type)."""
    return pa.Table.from_batches(list(_batches(conn, sql, params, schema, convert)), schema)


def _batches(
    conn: sqlite3.Connection,
    sql: str,
    params: Sequence[object],
    schema: pa.Schema,
    convert: Callable[[Sequence[object]], Sequence[object]] | None,
) -> Iterator[pa.RecordBatch]:
    cursor = conn.execute(sql, tuple(params))
    try:
        while rows := cursor.fetchmany(BATCH_ROWS):
            columns = zip(*rows, strict=True)
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array(convert(c) if convert and f.type == pa.string() else c, f.type)
                    for c, f in zip(columns, schema, strict=True)
                ],
                schema=schema,
            )
    finally:
        cursor.close()


def as_text(values: Sequence[object]) -> Sequence[object]:
    """Cells as text, floats by repr (which round-trips exactly), so the same SQL
    judges them whatever type SQLite stored; a column of text is passed as it is."""
    if all(type(v) is str for v in values):
        return values
    return [None if v is None else repr(v) if isinstance(v, float) else str(v) for v in values]


def duckdb_cannot_read(path: Path) -> bool:
    """Whether ``path`` is a WAL-mode file (header bytes 18-19 are 2) in a directory
    this user cannot write, where DuckDB's SQLite cannot create the ``-shm`` file."""
    if os.access(path.parent, os.W_OK):
        return False  # checked first: closing any descriptor of the file drops our locks
    with path.open("rb") as f:
        header = f.read(20)
    return len(header) == 20 and header[18] == 2


_ARROW_TYPES = {"INT": pa.int64(), "REAL": pa.float64(), "FLOA": pa.float64(), "DOUB": pa.float64()}


class TableCopies:
    """Copies of small tables of the file (alerts, backtest results: names we choose,
    not user text) in an in-memory database attached as ``alias``, where queries
    written against the attached file find them; taken again when they change."""

    def __init__(
        self, conn: sqlite3.Connection, con: duckdb.DuckDBPyConnection, alias: str
    ) -> None:
        self.conn, self.con, self.alias = conn, con, alias
        self._marks: dict[str, tuple[int, int | None]] = {}
        con.execute(f"ATTACH ':memory:' AS {alias}")

    def refresh(self, tables: Iterable[str]) -> bool:
        """Copy each of ``tables`` that is new or changed (row count or last rowid) and
        drop the copies of tables no longer named; True when anything changed."""
        wanted = set(tables)
        changed = False
        for table in set(self._marks) - wanted:
            self.con.execute(f"DROP TABLE {self.alias}.{table}")
            del self._marks[table]
            changed = True
        for table in sorted(wanted):
            mark = self.conn.execute(f"SELECT count(*), max(rowid) FROM {table}").fetchone()
            if self._marks.get(table) != mark:
                self._copy(table)
                self._marks[table] = mark
                changed = True
        return changed

    def _copy(self, table: str) -> None:
        """In rowid order; columns take their declared type's Arrow type (text for any
        other, or when a cell does not fit)."""
        columns = self.conn.execute(f"PRAGMA table_info({table})").fetchall()
        rows = self.conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
        cells = list(zip(*rows, strict=True)) or [()] * len(columns)
        arrays = {}
        for (_, name, declared, *_), values in zip(columns, cells, strict=True):
            kind = next((t for k, t in _ARROW_TYPES.items() if k in declared.upper()), None)
            try:
                arrays[name] = pa.array(values, kind or pa.string())
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                arrays[name] = pa.array(as_text(values), pa.string())
        self.con.register("side_rows", pa.table(arrays))
        try:
            self.con.execute(
                f"CREATE OR REPLACE TABLE {self.alias}.{table} AS SELECT * FROM side_rows"
            )
        finally:
            self.con.unregister("side_rows")
