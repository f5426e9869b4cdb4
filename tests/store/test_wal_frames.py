"""What a -wal holds that its file lacks, judged on real SQLite files: each case is a
copy of the file and its -wal taken while a writer holds them open (as an archive
copy is), and the count is checked against what SQLite reads from the copy when
it may use the -wal (in a writable directory) and when it may not (immutable)."""

from __future__ import annotations

import shutil
import sqlite3
import struct
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


_WAL_HEADER = struct.Struct(">IIIIIIII")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    page_size=st.sampled_from([0, 1, 256, 512, 1024, 4096, 65536, 1 << 17, 1 << 31, 3000]),
    salts=st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
    frames=st.lists(
        st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.booleans()),
        max_size=6,
    ),
    tail=st.binary(max_size=3000),
    database=st.binary(max_size=5000),
)
def test_any_wal_bytes_give_a_count_not_an_error(
    tmp_path: Path,
    page_size: int,
    salts: tuple[int, int],
    frames: list[tuple[int, int, bool]],
    tail: bytes,
    database: bytes,
) -> None:
    """A fuzz run of the parser: a -wal is a file's bytes, never trusted. Headers of any
    page size (a 2 GiB one included), frames of any page number, salts that match or
    not, and torn tails give a count of at most the frames' pages, read in bounded
    memory."""
    folder = tmp_path / f"case{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    (folder / "f.db").write_bytes(database)
    body = bytearray(_WAL_HEADER.pack(0x377F0682, 3007000, page_size, 0, *salts, 0, 0))
    for page, size_after, same_salts in frames:
        frame_salts = salts if same_salts else (salts[0] ^ 1, salts[1])
        body += struct.pack(">IIIIII", page, size_after, *frame_salts, 0, 0)
        body += tail[: min(len(tail), 4096)]
    body += tail
    (folder / "f.db-wal").write_bytes(bytes(body))
    tracemalloc.start()
    try:
        counted = unread_wal_pages(folder / "f.db")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 0 <= counted <= len(frames)
    assert peak < 2**21  # pages of at most 64 KiB (a 2 GiB header allocated 2 GiB before)
