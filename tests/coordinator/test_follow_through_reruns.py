"""Datasets that follow a file while real coordinators write it, ``--force`` reruns
included, end up with exactly the file's metrics rows: no hole, no row twice.

Copies overlap commits (rows committed between a copy and its bookkeeping were
once skipped for good), and a rerun's rows replace the earlier ones. A second
rerun catches a follower whose locks on the file were dropped: reading the file
through DuckDB's own SQLite as well as Python's let the first rerun's coordinator
delete the ``-wal`` and ``-shm`` files under it at exit, and from then on it
read the file as it was (orderflow.query.file_rows).
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from orderflow.query.dataset import Dataset
from tests.coordinator.harness import run_coord, start_coord

FOLLOWERS_PER_RUN = 3


def _file_ids(db: Path) -> list[int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM metrics ORDER BY id")]
    conn.close()
    return ids


def _copy_ids(data: Dataset) -> list[int]:
    return [r[0] for r in data.con.execute("SELECT id FROM metrics ORDER BY id").fetchall()]


def _follow(db: Path, log: Path, following: Sequence[Dataset], *args: object) -> list[Dataset]:
    """Run the coordinator while ``following`` refresh every 50 ms and a few new
    Datasets open on the way; returns the new ones, refreshed after the run."""
    coord = start_coord(log, "--workers", 2, "--shard-rows", 200, *args, db)
    opened: list[Dataset] = []
    try:
        while coord.poll() is None:
            if len(opened) < FOLLOWERS_PER_RUN:
                opened.append(Dataset(db))
            for data in [*following, *opened]:
                data.refresh()
            time.sleep(0.05)
    finally:
        if coord.poll() is None:
            coord.kill()
        coord.wait()
    assert coord.returncode == 0, log.read_text()
    for data in [*following, *opened]:
        data.refresh()
    return opened


@pytest.fixture
def followers() -> Iterator[list[Dataset]]:
    opened: list[Dataset] = []
    yield opened
    for data in opened:
        data.close()


def test_followers_match_the_file_through_a_run_and_two_forced_reruns(
    tmp_path: Path, synth_db: Path, followers: list[Dataset]
) -> None:
    db = tmp_path / "rec.db"
    shutil.copy(synth_db, db)
    last_id = 0
    for run, args in enumerate(((), ("--force",), ("--force",))):
        followers += _follow(db, tmp_path / f"run{run}.log", followers, *args)
        expected = _file_ids(db)
        assert expected[0] > last_id  # each rerun's rows replaced the earlier ones
        last_id = expected[-1]
        for no, data in enumerate(followers):
            assert _copy_ids(data) == expected, f"run {run}: follower {no} differs from the file"


def _writer(db: Path, sql: str, *, hold: bool = False) -> subprocess.Popen:
    """Another program writing to the file (a backtest, an importer, the sqlite3 shell):
    runs ``sql``, says so, then with ``hold`` keeps its connection until stdin closes."""
    code = (
        "import sqlite3, sys\n"
        f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
        "c.execute('PRAGMA journal_mode = WAL')\n"
        f"c.executescript({sql!r})\n"
        "print('done', flush=True)\n" + ("sys.stdin.read()\n" if hold else "") + "c.close()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline() == "done\n"
    return proc


def _end(proc: subprocess.Popen) -> None:
    proc.stdin.close()
    proc.stdout.close()
    assert proc.wait(timeout=30) == 0


APPEND_ROW = (
    "INSERT INTO metrics (snapshot_id, timestamp, instrument, ts_ns, obi, cvd, best_bid,"
    " best_ask) SELECT snapshot_id + 1000000, timestamp, instrument, ts_ns + 1, obi, cvd,"
    " best_bid, best_ask FROM metrics WHERE id = (SELECT max(id) FROM metrics);"
)


def _after_last_writer_closes(first: subprocess.Popen, data: Dataset, db: Path) -> None:
    """``first`` closes last (it checkpoints, and may delete -wal and -shm under the
    reader); rows committed after that must still reach ``data``'s copy."""
    _end(first)
    assert db.with_name("rec.db-wal").exists(), "the writer deleted the WAL under a reader"
    last = _writer(db, APPEND_ROW * 3, hold=True)
    try:
        data.refresh()
        assert _copy_ids(data) == _file_ids(db)
    finally:
        _end(last)


def test_a_follower_sees_commits_after_another_writer_closed(
    tmp_path: Path, synth_db: Path
) -> None:
    db = tmp_path / "rec.db"
    shutil.copy(synth_db, db)
    assert run_coord("--workers", 0, "--quiet", db).returncode == 0
    first = _writer(db, APPEND_ROW, hold=True)  # the file is in WAL while the dashboard opens
    with Dataset(db) as data:
        _end(_writer(db, "CREATE TABLE notes (text TEXT);"))  # a new table: the copy reloads
        data.refresh()
        _after_last_writer_closes(first, data, db)


ALERTS = (
    "CREATE TABLE alerts (instrument TEXT, ts_ns INTEGER, kind TEXT, value REAL, message TEXT);"
    "INSERT INTO alerts SELECT instrument, ts_ns, 'obi', obi, 'first' FROM metrics LIMIT 2;"
)


def test_a_follower_of_a_file_with_alerts_sees_commits_and_new_alerts(
    tmp_path: Path, synth_db: Path
) -> None:
    """The panels ask for alerts (and backtest fills and equity) at every redraw: those
    reads must not go through DuckDB's SQLite either."""
    db = tmp_path / "rec.db"
    shutil.copy(synth_db, db)
    assert run_coord("--workers", 0, "--quiet", db).returncode == 0
    first = _writer(db, ALERTS, hold=True)
    with Dataset(db) as data:
        instrument = data.instruments()[0]
        everything = (instrument, 0, 2**62, 100)
        assert len(data.alerts(*everything)) <= 2
        _end(_writer(db, "INSERT INTO alerts VALUES ('X', 1, 'obi', 0.5, 'second');"))
        data.refresh()
        assert len(data.alerts("X", 0, 2**62, 100)) == 1  # taken in like new rows
        data.alerts(*everything)
        _after_last_writer_closes(first, data, db)
