"""What a -wal holds that its file lacks, judged on real SQLite files: each case is a
copy of the file and its -wal taken while a writer holds them open (as an archive
copy is), and the count is checked against what SQLite reads from the copy when
it may use the -wal (in a writable directory) and when it may not (immutable)."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from orderflow.store.wal_frames import unread_wal_pages


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A WAL-mode file of 3,000 rows that never checkpoints by itself."""
    conn = sqlite3.connect(tmp_path / "live.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE t (a INTEGER, b TEXT)")
    _insert(conn, range(3000))
    yield conn
    conn.close()


def _insert(conn: sqlite3.Connection, values: range) -> None:
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, "x" * 40) for i in values])
    conn.execute("COMMIT")


def _copy(tmp_path: Path, name: str) -> Path:
    """The live file and its -wal (not its -shm) copied under ``name``."""
    folder = tmp_path / name
    folder.mkdir()
    for suffix in ("", "-wal"):
        shutil.copy(tmp_path / f"live.db{suffix}", folder / f"copy.db{suffix}")
    return folder / "copy.db"


def _rows(path: Path, *, immutable: bool) -> int:
    uri = f"file:{path}?mode=ro" + ("&immutable=1" if immutable else "")
    conn = sqlite3.connect(uri, uri=True)
    try:
        return conn.execute("SELECT count(*) FROM t").fetchone()[0]
    finally:
        conn.close()


def test_committed_changes_not_checkpointed_are_counted(
    tmp_path: Path, writer: sqlite3.Connection
) -> None:
    writer.execute("PRAGMA wal_checkpoint(PASSIVE)")
    _insert(writer, range(3000, 4000))
    copy = _copy(tmp_path, "plain")
    assert unread_wal_pages(copy) > 0
    assert _rows(copy, immutable=False) == 4000
    assert _rows(copy, immutable=True) == 3000


def test_a_wal_whose_frames_are_all_copied_back_holds_nothing_unread(
    tmp_path: Path, writer: sqlite3.Connection
) -> None:
    busy, wal_frames, copied = writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert (busy, copied) == (0, wal_frames) and wal_frames > 0
    copy = _copy(tmp_path, "checkpointed")
    assert copy.with_name("copy.db-wal").stat().st_size > 0  # the -wal is kept for reuse
    assert unread_wal_pages(copy) == 0
    assert _rows(copy, immutable=True) == _rows(copy, immutable=False) == 3000


def test_a_reused_wal_counts_only_the_frames_written_since(
    tmp_path: Path, writer: sqlite3.Connection
) -> None:
    writer.execute("PRAGMA wal_checkpoint(PASSIVE)")
    writer.execute("DELETE FROM t WHERE a < 10")  # the -wal restarts over its old frames
    copy = _copy(tmp_path, "reused")
    assert 0 < unread_wal_pages(copy) <= 3  # the first leaf, the root, page 1
    assert _rows(copy, immutable=False) == 2990
    assert _rows(copy, immutable=True) == 3000


def test_an_uncommitted_transaction_is_not_counted(
    tmp_path: Path, writer: sqlite3.Connection
) -> None:
    writer.execute("PRAGMA wal_checkpoint(PASSIVE)")
    header = (tmp_path / "live.db-wal").read_bytes()[:32]
    writer.execute("PRAGMA cache_size = 1")  # spill dirty pages to the -wal before COMMIT
    writer.execute("BEGIN")
    writer.execute("UPDATE t SET b = 'y' || b")
    copy = _copy(tmp_path, "open-transaction")
    writer.execute("ROLLBACK")
    assert copy.with_name("copy.db-wal").read_bytes()[:32] != header  # restarted, frames in
    assert unread_wal_pages(copy) == 0
    assert _rows(copy, immutable=False) == 3000


def test_no_wal_or_not_a_wal_holds_nothing(tmp_path: Path) -> None:
    db = tmp_path / "plain.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (a)")
    conn.close()
    assert unread_wal_pages(db) == 0
    db.with_name("plain.db-wal").write_bytes(b"not a write-ahead log" * 100)
    assert unread_wal_pages(db) == 0
