"""Checking the output tables a file already has, before anything is written to it.

Orderflow writes its tables into the user's own recording, so a table there by
one of our names may be the user's: resetting it would empty it. Every output
table that exists must be ours, which is decided against the DDL itself, run in
an in-memory database: the same columns (name, type, NOT NULL, default, primary
key) in the same order, and the same uniqueness constraints. A table of ours
from an earlier version that lacks only columns added since (appended at the
end, nullable, so ``ALTER TABLE ... ADD COLUMN`` can add them) counts as ours:
the writer upgrades it in place. Anything else is refused in one line naming
the file and the table, and the file is left byte-identical: the check reads
through a read-only connection, before the writer switches the file to WAL.
"""

from __future__ import annotations

import sqlite3
from functools import cache
from pathlib import Path

from orderflow.core.errors import InputFileError
from orderflow.store.connections import open_readonly
from orderflow.store.schema import METRICS_DDL, OUTPUT_TABLES, REJECTS_DDL, RUNS_DDL, SHARDS_DDL

__all__ = ["ForeignTable", "check_output_tables"]

# (name, declared type, not null, default, primary key position)
Column = tuple[str, str, int, object, int]


class ForeignTable(InputFileError):
    """A table by one of Orderflow's output names that Orderflow did not make."""


def check_output_tables(path: str | Path) -> None:
    """Raise ForeignTable for the first existing output table that is not ours (or
    InputFileError when the file cannot be read); return when writing is safe."""
    conn = open_readonly(path)
    try:
        for table in OUTPUT_TABLES:
            problem = _problem(conn, table)
            if problem is not None:
                raise ForeignTable(
                    path,
                    f"has a table '{table}' that Orderflow did not create ({problem});"
                    " nothing was written. Rename it, or compute on a copy of the file",
                )
    finally:
        conn.close()


def _problem(conn: sqlite3.Connection, table: str) -> str | None:
    """Why ``table`` in ``conn`` is not ours, or None (ours, upgradable, or absent)."""
    kind = conn.execute("SELECT type FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    if kind is None:
        return None
    if kind[0] != "table":
        return f"it is a {kind[0]}"
    have = _columns(conn, table)
    want, keys = _expected()[table]
    missing = want[len(have) :]
    if have != want[: len(have)]:
        return f"columns {', '.join(c[0] for c in have)}"
    if any(c[2] or c[4] or c[3] is not None for c in missing):
        return f"lacks column(s) {', '.join(c[0] for c in missing)}"
    if _unique_keys(conn, table) != keys:
        return "other unique keys"
    return None


def _columns(conn: sqlite3.Connection, table: str) -> list[Column]:
    rows = conn.execute(
        'SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)', (table,)
    )
    return [(name, kind.upper(), notnull, default, pk) for name, kind, notnull, default, pk in rows]


def _unique_keys(conn: sqlite3.Connection, table: str) -> set[tuple[str, ...]]:
    """Column lists of the table's PRIMARY KEY and UNIQUE constraints (not of indexes
    made with CREATE INDEX, which a user may add to our tables)."""
    keys = set()
    for _, name, unique, origin, _partial in conn.execute(
        'SELECT seq, name, "unique", origin, partial FROM pragma_index_list(?)', (table,)
    ):
        if unique and origin in ("u", "pk"):
            columns = conn.execute("SELECT name FROM pragma_index_info(?) ORDER BY seqno", (name,))
            keys.add(tuple(c[0] for c in columns))
    return keys


@cache
def _expected() -> dict[str, tuple[list[Column], set[tuple[str, ...]]]]:
    """Columns and unique keys per output table, from our DDL run in memory."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(METRICS_DDL + REJECTS_DDL + RUNS_DDL + SHARDS_DDL)
        return {t: (_columns(conn, t), _unique_keys(conn, t)) for t in OUTPUT_TABLES}
    finally:
        conn.close()
