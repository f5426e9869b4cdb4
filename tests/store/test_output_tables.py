"""Which existing output tables count as ours: the DDL's schema, or an older one of ours."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from orderflow.store.output_tables import ForeignTable, check_output_tables
from orderflow.store.schema import INPUT_DDL, METRICS_DDL, REJECTS_DDL, RUNS_DDL, SHARDS_DDL


def _file_with(path: Path, ddl: str) -> Path:
    with sqlite3.connect(path) as conn:
        conn.executescript(INPUT_DDL + ddl)
    conn.close()
    return path


def _without_last_column(ddl: str, table: str) -> str:
    """Our DDL of ``table`` as an earlier version made it: the last column not yet added."""
    conn = sqlite3.connect(":memory:")
    conn.executescript(ddl)
    last = conn.execute(f"SELECT name FROM pragma_table_info('{table}')").fetchall()[-1][0]
    conn.execute(f"ALTER TABLE {table} DROP COLUMN {last}")
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    conn.close()
    return sql + ";"


def test_our_tables_and_tables_lacking_only_newer_nullable_columns_are_ours(
    tmp_path: Path,
) -> None:
    db = _file_with(tmp_path / "a.db", METRICS_DDL + REJECTS_DDL + RUNS_DDL + SHARDS_DDL)
    check_output_tables(db)
    older = _file_with(
        tmp_path / "b.db",
        METRICS_DDL + REJECTS_DDL + _without_last_column(SHARDS_DDL, "metrics_shards"),
    )
    check_output_tables(older)  # its trailing column is nullable: upgraded in place


def test_a_table_lacking_a_not_null_column_is_foreign(tmp_path: Path) -> None:
    runs = "CREATE TABLE metrics_runs (config_key TEXT PRIMARY KEY, status TEXT NOT NULL);"
    db = _file_with(tmp_path / "c.db", runs)
    with pytest.raises(ForeignTable, match=r"c\.db: has a table 'metrics_runs'"):
        check_output_tables(db)
