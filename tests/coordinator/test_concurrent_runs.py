"""Two runs on one file: the second is refused, a crash frees the file, "finished" is audited.

Real coordinator processes on a real file. The first run is frozen (SIGSTOP)
after a few shards so the second provably starts while it holds the file.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
from pathlib import Path

from tests.coordinator.harness import (
    committed_shards,
    run_coord,
    start_sharded,
    wait_for,
)
from tests.coordinator.metrics_equality import assert_metrics_equal


def _status(db: Path) -> list[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT status FROM metrics_runs").fetchall()
    conn.close()
    return [r[0] for r in rows]


def test_a_second_run_is_refused_with_the_holder_and_the_first_loses_nothing(
    tmp_path: Path, db: Path, synth_reference: Path, reaper: list[int]
) -> None:
    log = tmp_path / "first.log"
    first = start_sharded(log, db, reaper)
    wait_for(lambda: len(committed_shards(db)) >= 2, what="first shards")
    os.kill(first.pid, signal.SIGSTOP)
    try:
        for workers in ("0", "2"):
            second = run_coord("--workers", workers, db)
            assert second.returncode == 2, second.stdout + second.stderr
            lines = second.stderr.strip().splitlines()
            assert len(lines) == 1, second.stderr
            assert str(db) in lines[0]
            assert f"pid {first.pid} on host {socket.gethostname()}" in lines[0]
            assert "database" not in second.stdout  # no empty summary table after it
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert first.wait(timeout=60) == 0, log.read_text()
    assert _status(db) == ["finished"]
    assert_metrics_equal(synth_reference, db)
    assert not list(tmp_path.glob("*.orderflow-lock"))  # released and removed


def test_a_killed_run_does_not_keep_the_file_locked(
    tmp_path: Path, db: Path, synth_reference: Path, reaper: list[int]
) -> None:
    log = tmp_path / "first.log"
    first = start_sharded(log, db, reaper)
    wait_for(lambda: len(committed_shards(db)) >= 2, what="first shards")
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert list(tmp_path.glob("*.orderflow-lock"))  # the file is left, its lock is not
    again = run_coord("--workers", 1, db)
    assert again.returncode == 0, again.stderr
    assert_metrics_equal(synth_reference, db)


def test_rows_removed_behind_a_run_keep_it_unfinished(
    tmp_path: Path, db: Path, synth_reference: Path, reaper: list[int]
) -> None:
    log = tmp_path / "first.log"
    first = start_sharded(log, db, reaper)
    wait_for(lambda: len(committed_shards(db)) >= 3, what="first shards")
    with sqlite3.connect(db, timeout=30) as conn:  # another program, not a run
        conn.execute(
            "DELETE FROM metrics WHERE snapshot_id IN (SELECT min(snapshot_id) FROM metrics)"
        )
    conn.close()
    assert first.wait(timeout=60) == 2, log.read_text()
    text = log.read_text()
    assert f"{db}: metrics holds" in text and "not marked finished" in text
    assert _status(db) == ["running"]
    again = run_coord("--workers", 2, "--quiet", db)  # not skipped: recomputed from scratch
    assert again.returncode == 0, again.stderr
    assert_metrics_equal(synth_reference, db)
