"""Opening SQLite files the two ways Orderflow needs: read-only input, and the WAL writer.

Input files are opened through a ``mode=ro`` URI so that no code path, however
buggy, can write to a user's recording. The writer uses WAL with
``synchronous=NORMAL``: a crash can lose the last uncommitted batch but never
corrupt the file, and the dashboard can read while the coordinator writes. The
seed's ``journal_mode=OFF`` is deliberately not used: the metrics live in the
user's own file next to their data.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from orderflow.core.errors import InputFileError
from orderflow.store.wal_frames import unread_wal_pages

__all__ = [
    "PROBE_CACHE_KIB",
    "READ_CACHE_KIB",
    "leave_wal",
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
LEAVE_WAL_WAIT_S = 2.0
"""How long switching a finished file out of WAL waits for other connections to close."""

log = logging.getLogger("orderflow.store")

_WARNED_WAL: set[tuple[str, int]] = set()
"""(file, -wal size) pairs already reported by ``open_readonly`` in this process."""


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
    """Connect read-only; raise InputFileError if the file is missing or not SQLite.

    A WAL-mode file (every file Orderflow has written to) needs a ``-shm`` file
    beside it, which a reader cannot create in a read-only directory or mount
    (archives, snapshots, shared drives). Such a file is then opened as
    immutable, which needs nothing beside it; if a ``-wal`` file holds changes
    not yet in the file itself, they cannot be read that way, and a warning says
    so, once per process (a report opens the file once per section)."""
    p = Path(path)
    if not p.is_file():
        raise InputFileError(p, "no such file")
    try:
        return _connect(sqlite_uri(p, "ro"), cache_kib)
    except sqlite3.DatabaseError as exc:
        if not _refused_beside(p, exc):
            raise InputFileError(p, sqlite_problem(exc)) from None
    try:
        conn = _connect(sqlite_uri(p, "ro") + "&immutable=1", cache_kib)
    except sqlite3.DatabaseError as exc:
        raise InputFileError(p, sqlite_problem(exc)) from None
    _warn_unread_wal(p)
    return conn


def _refused_beside(path: Path, exc: sqlite3.DatabaseError) -> bool:
    """Whether ``exc`` is SQLite failing to make a file beside ``path`` (the ``-shm``
    of a WAL-mode file) because this user cannot write its directory."""
    text = str(exc)
    return ("readonly" in text or "unable to open" in text) and not _writable_dir(path)


def _warn_unread_wal(path: Path) -> None:
    """Say, once per file and -wal size, that an immutable open misses changes the -wal
    holds (store.wal_frames: a -wal whose frames are all in the file says nothing)."""
    wal = path.with_name(path.name + "-wal")
    size = wal.stat().st_size if wal.is_file() else 0
    if size == 0 or (str(path.resolve()), size) in _WARNED_WAL:
        return
    _WARNED_WAL.add((str(path.resolve()), size))
    try:
        pages = unread_wal_pages(path)
    except OSError as exc:  # the -wal is another user's, unreadable here
        log.warning(
            "%s: read-only directory: its -wal file (%d bytes) cannot be read by this user"
            " (%s), so changes it may hold that are not yet in the file are missing here",
            path,
            size,
            exc.strerror,
        )
        return
    if pages:
        log.warning(
            "%s: read-only directory: its -wal file holds changes to %d pages not yet in the"
            " file, which cannot be read here; copy both files somewhere writable to see them",
            path,
            pages,
        )


def leave_wal(path: str | Path) -> bool:
    """Switch a file we finished writing back to a rollback journal, if nobody else has
    it open; True when it is no longer in WAL mode.

    WAL lets the dashboard read while a run writes, but a WAL-mode file cannot be
    read where its ``-shm`` file cannot be created: recordings moved to an archive,
    a snapshot or a read-only share would be unreadable by DuckDB (dashboard,
    reports) for good. A file another process has open (a dashboard following it)
    stays in WAL: SQLite would let the switch happen under an idle reader, whose
    cached pages would then never be refreshed."""
    if _open_elsewhere(Path(path)):
        return False
    try:
        conn = sqlite3.connect(sqlite_uri(path, "rw"), uri=True, timeout=LEAVE_WAL_WAIT_S)
        try:
            mode = conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        log.info("%s: stays in WAL mode (%s)", path, exc)
        return False
    return str(mode).lower() != "wal"


def _open_elsewhere(path: Path) -> bool:
    """Whether another process on this host has the file (or its -wal/-shm) open,
    from /proc; True when that cannot be told (no /proc), so WAL is kept."""
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    real = str(path.resolve())
    names = {real, real + "-wal", real + "-shm"}
    me = str(os.getpid())
    for entry in proc.iterdir():
        if not entry.name.isdigit() or entry.name == me:
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue  # gone, or another user's
        for fd in fds:
            try:
                if os.readlink(fd) in names:
                    return True
            except OSError:
                continue
    return False


def _connect(uri: str, cache_kib: int) -> sqlite3.Connection:
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
        conn.execute("PRAGMA temp_store = FILE")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError:
        conn.close()
        raise
    return conn


def _writable_dir(path: Path) -> bool:
    """Whether a ``-shm`` file could be made beside ``path`` (by this user, this mount)."""
    return os.access(path.resolve().parent, os.W_OK)


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
        if "readonly" in str(exc) or _refused_beside(p, exc):
            problem = f"is read-only here ({exc}): the file or its directory cannot be written"
        elif problem.startswith("cannot be read"):
            problem = f"cannot be opened for writing ({exc})"
        raise InputFileError(p, problem) from None
    return conn
