"""Rows written straight from columns: the C writer when it is built, Python otherwise.

The coordinator's writes are the serial part of a sharded run. A shard's result
arrives as arrays (``ResultColumns``); turning them into a tuple per row and a
Python object per value only for ``sqlite3`` to take them apart again costs more
than SQLite's own insert. ``orderflow.native._sqlite_writer`` shows the arrays
to SQLite as a table-valued function and runs one ``INSERT ... SELECT`` from it
on the caller's connection and transaction instead (no bind call per value).
Without it (no compiler at install time, a different SQLite library than
Python's, or ``ORDERFLOW_NATIVE=0``) the same rows go through ``executemany``
of multi-row INSERTs, so the table contents are identical.

A column is a tuple in the order of the names: ``("i", int64 array[, nulls])``,
``("f", float64 array)`` (NaN is written as NULL), ``("t", utf-8 text, int64
offsets)`` (row i is ``text[o[i]:o[i+1]]``), ``("b", bytes, int64 offsets[,
nulls])`` (the same cut, written as BLOBs; an empty one is a zero-length blob)
or ``("c", int32 index, names)``. ``nulls``, when given and not None, is a
uint8 array with a nonzero entry for each row that is NULL in that column.
"""

from __future__ import annotations

import importlib
import os
import sqlite3
from collections.abc import Sequence
from itertools import chain, pairwise
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["ROWS_PER_INSERT", "WRITER", "WRITER_UNAVAILABLE", "Column", "insert_columns"]

ROWS_PER_INSERT = 64
"""Rows per INSERT statement of the Python path: ``metrics.id`` is AUTOINCREMENT (seed
schema), whose bookkeeping runs once per statement (about 20% of a row's write at one
row each). The C writer writes a call's rows in one statement."""

Column = tuple[Any, ...]


def _load() -> tuple[ModuleType | None, str | None]:
    if os.environ.get("ORDERFLOW_NATIVE", "1") == "0":
        return None, "turned off by ORDERFLOW_NATIVE=0"
    try:
        module = importlib.import_module("orderflow.native._sqlite_writer")
    except ImportError as exc:
        return None, f"the C writer was not built or did not load ({exc})"
    if module.library_version() != sqlite3.sqlite_version:
        return None, (
            f"the C writer links SQLite {module.library_version()}, Python's sqlite3"
            f" uses {sqlite3.sqlite_version}"
        )
    return module, None


WRITER, WRITER_UNAVAILABLE = _load()
"""The C writer module, or None and a one-line reason."""


def insert_columns(
    conn: sqlite3.Connection,
    table: str,
    names: Sequence[str],
    columns: Sequence[Column],
    rows: int,
    *,
    order: np.ndarray | None = None,
    native: bool = True,
) -> None:
    """Insert ``rows`` rows into ``table`` (``names`` in the columns' order) inside the
    caller's transaction; with ``order`` (row numbers), only those rows, in that order
    (an index b-tree fills faster when rows arrive in its key order). ``table`` and
    ``names`` are identifiers of our own schema, never user input. ``native=False``
    forces the Python path (tests compare them), as do more columns than the C
    writer's table-valued function declares (``MAX_COLUMNS``)."""
    if len(names) != len(columns):
        raise ValueError("one column per name")
    one = f"({', '.join('?' * len(names))})"
    head = f"INSERT INTO {table} ({', '.join(names)}) VALUES "
    sql_one = head + one
    sql_many = head + ", ".join([one] * ROWS_PER_INSERT)
    picked = None if order is None else np.ascontiguousarray(order, dtype="<i8")
    if WRITER is not None and native and len(columns) <= WRITER.MAX_COLUMNS:
        WRITER.insert(conn, head.removesuffix(" VALUES "), rows, tuple(columns), picked)
        return
    values = list(zip(*(_python_values(c, rows) for c in columns), strict=True))
    if picked is not None:
        if len(picked) and (picked.min() < 0 or picked.max() >= rows):
            raise ValueError("a row in the order out of range")
        values = [values[r] for r in picked.tolist()]
    whole = len(values) - len(values) % ROWS_PER_INSERT
    if whole:
        flat = chain.from_iterable(values[:whole])
        conn.executemany(sql_many, zip(*[flat] * (len(names) * ROWS_PER_INSERT), strict=True))
    conn.executemany(sql_one, values[whole:])


def _python_values(column: Column, rows: int) -> list[object]:
    kind = column[0]
    if kind == "i":
        values: list[object] = np.frombuffer(column[1], "<i8", rows).tolist()
        return _with_nulls(values, column, 2, rows)
    if kind == "f":
        floats = np.frombuffer(column[1], "<f8", rows)
        return [None if v != v else v for v in floats.tolist()]
    if kind in ("t", "b"):
        data = bytes(column[1])
        offsets = np.frombuffer(column[2], "<i8", rows + 1).tolist()
        if kind == "t":
            return [data[a:b].decode() for a, b in pairwise(offsets)]
        return _with_nulls([data[a:b] for a, b in pairwise(offsets)], column, 3, rows)
    if kind == "c":
        names = column[2]
        return [names[i] for i in np.frombuffer(column[1], "<i4", rows).tolist()]
    raise ValueError(f"unknown column kind {kind!r}")


def _with_nulls(values: list[object], column: Column, at: int, rows: int) -> list[object]:
    if len(column) <= at or column[at] is None:
        return values
    nulls = np.frombuffer(column[at], np.uint8, rows).tolist()
    return [None if null else v for v, null in zip(values, nulls, strict=True)]
