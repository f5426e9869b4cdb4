"""DuckDB connections that read Orderflow's SQLite files, offline.

DuckDB's ``sqlite`` extension is not inside the ``duckdb`` wheel: by default it
is downloaded on first use, which fails on an offline machine and silently
depends on the network on an online one. The ``duckdb-extension-sqlite-scanner``
wheel (pinned to the same version as ``duckdb``) ships the binary, so we load
it from that package's directory and switch DuckDB's auto-install off: a
missing binary is a one-line error that says what to install, never a download.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from orderflow.core.errors import OrderflowError

__all__ = ["QueryLayerError", "attach_sqlite", "connect_duckdb", "sqlite_extension_path"]

EXTENSION_FILE = "sqlite_scanner.duckdb_extension"


class QueryLayerError(OrderflowError, RuntimeError):
    """The DuckDB sqlite extension is missing, or a database cannot be attached."""


def sqlite_extension_path() -> Path:
    """The sqlite_scanner binary matching the installed DuckDB, from its PyPI wheel."""
    try:
        import duckdb_extension_sqlite_scanner as wheel
    except ImportError:
        raise QueryLayerError(
            "DuckDB's sqlite extension is not installed; "
            f"pip install duckdb-extension-sqlite-scanner=={duckdb.__version__}"
        ) from None
    base = Path(wheel.__file__).parent / "extensions" / f"v{duckdb.__version__}"
    path = base / EXTENSION_FILE
    if not path.is_file():
        found = sorted(p.name for p in base.parent.glob("v*")) or ["none"]
        raise QueryLayerError(
            f"no sqlite extension for duckdb {duckdb.__version__} (wheel has: "
            f"{', '.join(found)}); "
            f"pip install duckdb-extension-sqlite-scanner=={duckdb.__version__}"
        )
    return path


def connect_duckdb(database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the sqlite extension loaded from disk, never downloaded."""
    con = duckdb.connect(
        database,
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
    )
    con.execute("SET enable_progress_bar = false")  # a long copy drew one on a server's stdout
    # LOAD takes no bind parameters; the path comes from our own package directory.
    con.execute(f"LOAD '{_sql_literal(str(sqlite_extension_path()))}'")
    return con


def attach_sqlite(con: duckdb.DuckDBPyConnection, path: str | Path, alias: str) -> None:
    """Attach a SQLite file read-only under ``alias`` (an identifier we choose, not user text).

    ATTACH does not accept a bind parameter for the path, so the path is written
    as a SQL string literal with quotes doubled; control characters are refused
    outright because no real database path has them and they could confuse logs.
    """
    p = Path(path).resolve()
    if not p.is_file():
        raise QueryLayerError(f"{path}: no such file")
    text = str(p)
    if any(ord(ch) < 32 for ch in text):
        raise QueryLayerError(f"{path!r}: path contains a control character")
    if not alias.isidentifier():
        raise ValueError(f"alias {alias!r} is not an identifier")
    try:
        con.execute(f"ATTACH '{_sql_literal(text)}' AS {alias} (TYPE sqlite, READ_ONLY)")
    except duckdb.Error as exc:
        raise sqlite_read_error(p, exc) from None


def read_only_wal(path: Path, exc: Exception) -> bool:
    """Whether ``exc`` is SQLite failing on a WAL-mode file whose directory this user
    cannot write (so no ``-shm`` file can be made beside it)."""
    text = str(exc)
    refused = "readonly" in text or "unable to open" in text
    return refused and not os.access(path.resolve().parent, os.W_OK)


def sqlite_read_error(path: Path, exc: duckdb.Error) -> QueryLayerError:
    """DuckDB's failure to read an attached SQLite file, as one line that says why.

    DuckDB attaches lazily, so a WAL-mode file in a read-only directory (its reader
    cannot create the ``-shm`` file there) fails at the first query, not at ATTACH."""
    if read_only_wal(path, exc):
        return QueryLayerError(
            f"{path}: cannot be read in this read-only directory: the file is in WAL"
            f" mode and the SQLite reader needs to create {path.name}-shm beside it; copy"
            " it to a writable directory, or run \"sqlite3 FILE 'PRAGMA journal_mode ="
            " DELETE'\" where it is writable"
        )
    return QueryLayerError(f"{path}: cannot be attached as SQLite ({exc})")


def _sql_literal(text: str) -> str:
    return text.replace("'", "''")
