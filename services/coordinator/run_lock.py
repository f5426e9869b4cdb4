"""One run per recording at a time, by a SQLite lock that a crash releases.

Two runs on one file used to interleave their resets and inserts and leave a
"finished" file with rows missing. Before a run writes anything it takes the
write lock (``BEGIN IMMEDIATE``) of a small lock database beside the recording
and holds it on its own connection until the run ends. SQLite's locks are the
operating system's byte-range locks, so a run that dies, ``kill -9``
included, releases the lock with its process: a stale pid file can never shut
a file out. The lock cannot live in the recording itself: a write lock there
would also block the run's own writer connection.

The holder publishes its pid and host in the lock database before taking the
lock, so a refused run can say who holds it; the lock file is removed when the
holder releases it (a run that opened the removed file notices and retries on
the new one).
"""

from __future__ import annotations

import os
import socket
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from orderflow.core.errors import InputFileError

__all__ = ["LOCK_SUFFIX", "RunLock", "RunLocked", "lock_path"]

LOCK_SUFFIX = ".orderflow-lock"
"""Appended to the recording's name: ``rec.db`` is locked through ``rec.db.orderflow-lock``."""
COMMIT_WAIT_MS = 2000
"""How long publishing the holder may wait for a refused run's brief read of it."""
ATTEMPTS = 5


class RunLocked(InputFileError):
    """Another run holds the file; the message names it (pid and host)."""


def lock_path(database: str | Path) -> Path:
    p = Path(database).resolve()
    return p.with_name(p.name + LOCK_SUFFIX)


class RunLock:
    """Held from ``acquire`` to ``release`` (or the process's death)."""

    def __init__(self, database: str | Path) -> None:
        self.database = Path(database)
        self.path = lock_path(database)
        self._conn: sqlite3.Connection | None = None
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock or raise RunLocked naming the holder (InputFileError when the
        lock file cannot be made at all, e.g. a read-only directory)."""
        for _ in range(ATTEMPTS):
            if self._try_once():
                return
        raise RunLocked(self.database, "another run keeps replacing its lock file; try again")

    def _try_once(self) -> bool:
        """True when held; False when the lock file was replaced under us (retry)."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise InputFileError(
                self.database,
                f"its directory cannot be written ({exc.strerror}): metrics are stored in the"
                " recording itself, so compute them on a copy in a writable directory",
            ) from None
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=0)
        try:
            conn.execute("PRAGMA journal_mode = MEMORY")  # no -journal file beside the lock
            if not self._begin(conn):
                holder = _holder(conn)
                raise RunLocked(
                    self.database,
                    f"another run is computing this file ({holder}); wait for it to"
                    " finish or stop it, then run again",
                )
            conn.execute("CREATE TABLE IF NOT EXISTS holder (pid INTEGER, host TEXT, since TEXT)")
            conn.execute("DELETE FROM holder")
            conn.execute(
                "INSERT INTO holder VALUES (?, ?, ?)",
                (os.getpid(), socket.gethostname(), _now()),
            )
            conn.execute(f"PRAGMA busy_timeout = {COMMIT_WAIT_MS}")
            conn.execute("COMMIT")
            conn.execute("PRAGMA busy_timeout = 0")
            if not self._begin(conn):  # another run slipped in between: it holds it now
                raise RunLocked(
                    self.database, f"another run is computing this file ({_holder(conn)})"
                )
            if not _same_file(fd, self.path):
                conn.close()
                os.close(fd)
                return False
        except sqlite3.DatabaseError as exc:
            conn.close()
            os.close(fd)
            raise InputFileError(
                self.database, f"cannot use the run lock {self.path.name} ({exc})"
            ) from None
        except RunLocked:
            conn.close()
            os.close(fd)
            raise
        self._conn, self._fd = conn, fd
        return True

    @staticmethod
    def _begin(conn: sqlite3.Connection) -> bool:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                return False
            raise
        return True

    def release(self) -> None:
        """Remove the lock file while still holding it, then let go."""
        if self._conn is None:
            return
        if _same_file(self._fd, self.path):  # type: ignore[arg-type]
            self.path.unlink(missing_ok=True)
        self._conn.close()
        os.close(self._fd)  # type: ignore[arg-type]
        self._conn = self._fd = None


def _holder(conn: sqlite3.Connection) -> str:
    try:
        row = conn.execute("SELECT pid, host, since FROM holder").fetchone()
    except sqlite3.DatabaseError:
        row = None
    if row is None:
        return "holder unknown"
    return f"pid {row[0]} on host {row[1]}, since {row[2]}"


def _same_file(fd: int, path: Path) -> bool:
    """The lock file at ``path`` is still the one ``fd`` (and so SQLite) opened."""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
