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
on the connection from ``open_readonly`` (which also reads a WAL file in a
read-only directory), and hands DuckDB Arrow tables.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence

import pyarrow as pa

__all__ = ["as_text", "read_rows"]

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
