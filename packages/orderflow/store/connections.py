"""Opening SQLite files the two ways Orderflow needs: read-only input, and the WAL writer.

Input files are opened through a ``mode=ro`` URI so that no code path, however
buggy, can write to a user's recording. The writer uses WAL with
``synchronous=NORMAL``: a crash can lose the last uncommitted batch but never
corrupt the file, and the dashboard can read while the coordinator writes. The
seed's ``journal_mode=OFF`` is deliberately not used: the metrics live in the
user's own file next to their data.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from orderflow.core.errors import InputFileError

__all__ = [
    "PROBE_CACHE_KIB",
    "READ_CACHE_KIB",
    "open_readonly",
    "open_writer",
    "sqlite_problem",
    "sqlite_uri",
]

READ_CACHE_KIB = 16_000
"""Page cache of a reader, KiB. Rows stream once, front to back, so the seed's
100 MB cache buys nothing and would make memory grow with the file."""
PROBE_CACHE_KIB = 1_000
"""Page cache of a connection that only probes and streams (the coordinator's): one
probe per thousand rows would otherwise fill a cache that grows with the file."""
WRITE_CACHE_KIB = 16_000
"""Page cache of the writer, KiB: metrics are appended in time order, so only
the right edge of each index b-tree is hot."""
BUSY_TIMEOUT_S = 30.0


def sqlite_problem(exc: sqlite3.Error) -> str:
    """SQLite's error as a problem the user can act on; the caller names the file.

    SQLite's own texts ("database is locked", "database or disk is full") name no
    file and no cause, and the user cannot tell which file or what to do."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return (
            f"another process holds a lock on this file ({text}): a program writing to it;"
            " run again when it has finished"
        )
    if "disk is full" in text:
        return (
            f"no room to write into this file ({text}): free space on the disk that holds"
            " it, then run again"
        )
    if "disk I/O error" in text:
        return (
            f"writing to this file failed ({text}): a full disk, a file-size limit or a"
            " failing device"
        )
    return f"cannot be read as SQLite ({text})"


def sqlite_uri(path: str | Path, mode: str) -> str:
    return f"file:{quote(str(Path(path).resolve()))}?mode={mode}"


def open_readonly(path: str | Path, cache_kib: int = READ_CACHE_KIB) -> sqlite3.Connection:
    """Connect read-only; raise InputFileError if the file is missing or not SQLite."""
    p = Path(path)
    if not p.is_file():
        raise InputFileError(p, "no such file")
    try:
        conn = sqlite3.connect(
            sqlite_uri(p, "ro"), uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False
        )
        conn.execute("PRAGMA query_only = ON")
        conn.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
        conn.execute("PRAGMA temp_store = FILE")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise InputFileError(p, sqlite_problem(exc)) from None
    return conn


def open_writer(path: str | Path) -> sqlite3.Connection:
    """Connect for writing output tables, in WAL mode, with explicit transactions."""
    p = Path(path)
    try:
        conn = sqlite3.connect(
            sqlite_uri(p, "rw"), uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None
        )
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA cache_size = -{WRITE_CACHE_KIB}")
    except sqlite3.DatabaseError as exc:
        problem = sqlite_problem(exc)
        if problem.startswith("cannot be read"):
            problem = f"cannot be opened for writing ({exc})"
        raise InputFileError(p, problem) from None
    return conn
