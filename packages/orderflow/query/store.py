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

Every store a process opens is attached to one DuckDB instance (each Dataset
gets its own connection to it, whose default database is its store): one buffer
pool under one memory limit, one thread pool and one copy of the sqlite
extension, so a server showing ten files holds about what it holds for one,
where an instance per store cost about 10 MiB each on top of its own pool.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import duckdb

from orderflow.query.duckdb_connection import connect_duckdb

__all__ = [
    "MEMORY_LIMIT",
    "STORE_VERSION",
    "open_store",
    "read_meta",
    "release_store",
    "return_freed_memory",
    "store_alias",
    "store_path",
    "write_meta",
]

STORE_VERSION = "1"
"""Bumped whenever the stored tables change shape: an older store is rebuilt."""
MEMORY_LIMIT = "512MB"
"""The buffer pool of the stores' shared DuckDB instance; data beyond it stays on disk."""


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


def store_alias(recording: Path) -> str:
    """The name the store of ``recording`` is attached under (the hash of its path):
    unique in the shared instance, and an identifier, never user text."""
    return "store_" + hashlib.sha256(str(recording).encode()).hexdigest()[:16]


_OPEN: set[Path] = set()
"""Stores this process holds: the shared instance can attach a file only once."""
_INSTANCE: list[duckdb.DuckDBPyConnection] = []
"""The process's one DuckDB instance for stores, made on first use."""


def _instance() -> duckdb.DuckDBPyConnection:
    if not _INSTANCE:
        con = connect_duckdb()
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        _INSTANCE.append(con)
    return _INSTANCE[0]


def open_store(recording: Path) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """A connection to ``recording``'s store and True, or an in-memory connection and
    False when the store cannot be opened (held by another Dataset or process,
    unwritable). A True connection, on the shared instance with the store as its
    default database, is handed back with ``release_store``."""
    path = store_path(recording)
    if path not in _OPEN:
        con = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            con = _instance().cursor()
            con.execute("SET enable_progress_bar = false")
            alias = store_alias(recording)
            quoted = str(path).replace("'", "''")  # ATTACH takes no bind parameter
            con.execute(f"ATTACH '{quoted}' AS {alias}")
            con.execute(f"USE {alias}")
        except (OSError, duckdb.Error):
            if con is not None:
                con.close()
        else:
            _OPEN.add(path)
            return con, True
    con = connect_duckdb()  # its own instance: it attaches this recording too
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    return con, False


def release_store(recording: Path, con: duckdb.DuckDBPyConnection) -> None:
    """Detach the store from the shared instance (its file is closed and unlocked) and
    close the connection."""
    try:
        con.execute("USE memory")
        con.execute(f"DETACH {store_alias(recording)}")
    finally:
        con.close()
        _OPEN.discard(store_path(recording))


def return_freed_memory() -> None:
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim``; nothing
    where there is none). DuckDB's Python wheel allocates its blocks with the C
    library's malloc, and glibc keeps what a detached store's blocks freed, scattered
    through its heap: a timeline of 30 daily files, redrawn ten times one file at a
    time, grew 183 -> 272 MiB with DuckDB itself holding nothing; trimmed after each
    redraw (about 5 ms), 183 -> 209 MiB."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _malloc_trim() -> Callable[[int], int] | None:
    # The process's own symbols: find_library("c") would run ldconfig at import.
    return getattr(ctypes.CDLL(None), "malloc_trim", None)


_MALLOC_TRIM = _malloc_trim()


def read_meta(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    con.execute(
        "CREATE TABLE IF NOT EXISTS main.store_meta (key VARCHAR PRIMARY KEY, value VARCHAR)"
    )
    return dict(con.execute("SELECT key, value FROM main.store_meta").fetchall())


def write_meta(con: duckdb.DuckDBPyConnection, meta: dict[str, str]) -> None:
    con.execute("DELETE FROM main.store_meta")
    con.executemany("INSERT INTO main.store_meta VALUES (?, ?)", sorted(meta.items()))
