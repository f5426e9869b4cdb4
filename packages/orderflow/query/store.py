"""Where a Dataset keeps its DuckDB copy of a recording between server starts.

Copying a recording's trades and metrics into DuckDB costs about 1.3 s and
50 bytes per snapshot; doing it at every server start, in memory, is what kept
months of data out of the dashboard. With a store, the copy and its
multi-resolution aggregates live in a DuckDB file, built once and then only
extended by the rows written since: the next server starts in milliseconds, and
DuckDB reads from disk only the row groups a query's range touches (the tables
are ordered by instrument and instant, so its zone maps skip the rest), within
a fixed memory limit.

The recording itself is only ever opened read-only, so the store sits in a
cache directory (``ORDERFLOW_CACHE_DIR``, else ``$XDG_CACHE_HOME/orderflow``,
else ``~/.cache/orderflow``), named by a hash of the recording's absolute path.
What it holds is checked against the recording on every open (row id bounds and
the first and last rows' text); a recording that was replaced or recomputed is
copied again. A store another process holds open is not shared: this Dataset
then works in memory, as without a store.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import duckdb

from orderflow.query.duckdb_connection import connect_duckdb

__all__ = [
    "MEMORY_LIMIT",
    "STORE_VERSION",
    "open_store",
    "read_meta",
    "release_store",
    "store_path",
    "write_meta",
]

STORE_VERSION = "1"
"""Bumped whenever the stored tables change shape: an older store is rebuilt."""
MEMORY_LIMIT = "512MB"
"""DuckDB's buffer pool per store; data beyond it stays on disk."""


def cache_dir() -> Path:
    base = os.environ.get("ORDERFLOW_CACHE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "orderflow"


def store_path(recording: Path) -> Path:
    """The store file of ``recording`` (an absolute path): ``<cache>/<stem>-<hash>.duckdb``."""
    digest = hashlib.sha256(str(recording).encode()).hexdigest()[:16]
    return cache_dir() / f"{recording.stem}-{digest}.duckdb"


_OPEN: set[Path] = set()
"""Stores this process holds: DuckDB would hand a second connect the same database
instance (shared catalog), not the lock error another process gets."""


def open_store(recording: Path) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """A connection to ``recording``'s store and True, or an in-memory connection and
    False when the store cannot be opened (held by another Dataset or process,
    unwritable). A True connection is handed back with ``release_store``."""
    path = store_path(recording)
    con = None
    if path not in _OPEN:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            con = connect_duckdb(str(path))
        except (OSError, duckdb.Error):
            con = None
    persistent = con is not None
    if con is None:
        con = connect_duckdb()
    else:
        _OPEN.add(path)
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    return con, persistent


def release_store(recording: Path) -> None:
    _OPEN.discard(store_path(recording))


def read_meta(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    con.execute(
        "CREATE TABLE IF NOT EXISTS main.store_meta (key VARCHAR PRIMARY KEY, value VARCHAR)"
    )
    return dict(con.execute("SELECT key, value FROM main.store_meta").fetchall())


def write_meta(con: duckdb.DuckDBPyConnection, meta: dict[str, str]) -> None:
    con.execute("DELETE FROM main.store_meta")
    con.executemany("INSERT INTO main.store_meta VALUES (?, ?)", sorted(meta.items()))
