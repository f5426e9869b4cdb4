"""Faults with real processes: workers and the coordinator are killed for real.

To land a fault mid-run on a small file, the test briefly freezes the
coordinator (SIGSTOP) while it acts, so the run cannot finish in between; the
coordinator's heartbeat tolerance (3 s) makes the short freeze invisible.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from tests.coordinator.harness import (
    SHARD_ROWS,
    alive,
    children,
    committed_shards,
    integrity_ok,
    run_coord,
    start_coord,
    start_sharded,
    wait_for,
)
from tests.coordinator.metrics_equality import assert_metrics_equal, input_digest


def _scratch_of(pid: int, root: Path) -> list[Path]:
    """Scratch directories a coordinator with this pid created under ``root``."""
    return [
        d
        for d in root.glob("orderflow-coord-*")
        if (d / "pid").is_file() and (d / "pid").read_text() == str(pid)
    ]


def _wait_exit(proc: subprocess.Popen, timeout: float = 60) -> int:
    return proc.wait(timeout=timeout)


def _freeze_after(coord: subprocess.Popen, db: Path, shards: int, log: Path) -> list[int]:
    """Wait until both local workers have joined and ``shards`` shards are committed,
    freeze the coordinator, return its workers. (A worker frozen before it joined
    would be unknown to the coordinator, so nothing could be observed about it.)"""

    def joined() -> bool:
        pids = children(coord.pid)
        text = log.read_text()
        return len(pids) >= 2 and all(f":{pid} joined" in text for pid in pids)

    wait_for(joined, what="workers joined")
    wait_for(lambda: len(committed_shards(db)) >= shards, what="committed shards")
    os.kill(coord.pid, signal.SIGSTOP)
    assert len(committed_shards(db)) < 100, "the run finished before the fault"
    workers = children(coord.pid)
    assert len(workers) >= 1
    return workers


def test_worker_sigkill_mid_run_is_replaced_and_result_is_exact(
    tmp_path: Path, db: Path, synth_reference: Path, reaper: list[int]
) -> None:
    log = tmp_path / "coord.log"
    coord = start_sharded(log, db, reaper)
    victim = _freeze_after(coord, db, 3, log)[0]
    reaper.extend(children(coord.pid))
    os.kill(victim, signal.SIGKILL)
    os.kill(coord.pid, signal.SIGCONT)
    assert _wait_exit(coord) == 0, log.read_text()
    text = log.read_text()
    assert f"local worker {victim} exited" in text
    assert f":{victim} exited" in text  # its in-flight shard (if any) went back to the queue
    assert_metrics_equal(synth_reference, db)
    assert integrity_ok(db)


def test_worker_sigstop_is_detected_within_seconds(
    tmp_path: Path, db: Path, synth_reference: Path, reaper: list[int]
) -> None:
    log = tmp_path / "coord.log"
    coord = start_sharded(log, db, reaper)
    victim = _freeze_after(coord, db, 3, log)[0]
    reaper.append(victim)
    os.kill(victim, signal.SIGSTOP)
    stopped_at = time.monotonic()
    os.kill(coord.pid, signal.SIGCONT)
    wait_for(lambda: f":{victim} silent for" in log.read_text(), timeout=20, what="expiry")
    detected_after = time.monotonic() - stopped_at
    assert detected_after < 8, detected_after
    # A frozen worker may hold a read snapshot; the end of the run must not wait on it.
    assert _wait_exit(coord, timeout=20) == 0, log.read_text()
    assert_metrics_equal(synth_reference, db)
    assert not alive(victim)  # the coordinator reaped the frozen worker too


def test_coordinator_sigkill_then_resume_twice(
    tmp_path: Path, db: Path, synth_reference: Path, reaper: list[int]
) -> None:
    before = input_digest(db)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    kept: list[tuple[int, str]] = []
    for attempt, at_least in enumerate((4, 30)):
        log = tmp_path / f"coord{attempt}.log"
        coord = start_coord(log, "--workers", 2, "--shard-rows", SHARD_ROWS, db, tmpdir=scratch)
        reaper.append(coord.pid)
        workers = _freeze_after(coord, db, at_least, log)
        reaper.extend(workers)
        os.kill(coord.pid, signal.SIGKILL)
        coord.wait()
        # Orphaned workers notice their coordinator is gone and leave.
        wait_for(lambda ws=workers: not any(alive(w) for w in ws), timeout=15, what="orphans")
        assert integrity_ok(db)
        assert input_digest(db) == before
        committed = committed_shards(db)
        assert committed[: len(kept)] == kept  # earlier shards never recomputed
        assert [no for no, _ in committed] == list(range(len(committed)))
        kept = committed
    killed = [pid for pid in reaper if _scratch_of(pid, scratch)]
    assert killed  # a SIGKILLed coordinator cannot remove its scratch directory...
    log = tmp_path / "final.log"
    coord = start_coord(log, "--workers", 1, db, tmpdir=scratch)  # other worker counts resume
    assert _wait_exit(coord) == 0, log.read_text()
    assert f"resuming, {len(kept)} of 100 shards already committed" in log.read_text()
    committed = committed_shards(db)
    assert committed[: len(kept)] == kept and len(committed) == 100
    assert_metrics_equal(synth_reference, db)
    assert integrity_ok(db)
    assert input_digest(db) == before
    assert not any(_scratch_of(pid, scratch) for pid in killed)  # ...the next coordinator does


def test_sigint_stops_cleanly_without_orphans_and_says_how_to_resume(
    tmp_path: Path, db: Path, synth_reference: Path, reaper: list[int]
) -> None:
    log = tmp_path / "coord.log"
    coord = start_sharded(log, db, reaper)
    workers = _freeze_after(coord, db, 3, log)
    reaper.extend(workers)
    os.kill(coord.pid, signal.SIGINT)
    os.kill(coord.pid, signal.SIGCONT)
    assert _wait_exit(coord, timeout=20) == 130
    text = log.read_text()
    assert "Run the same command again to resume" in text
    assert "Traceback" not in text
    assert not any(alive(w) for w in workers)  # reaped before the coordinator exited
    assert integrity_ok(db)
    done = run_coord("--workers", 2, "--quiet", db)
    assert done.returncode == 0, done.stderr
    assert_metrics_equal(synth_reference, db)


def test_finished_database_is_skipped_unless_force(
    tmp_path: Path, db: Path, synth_reference: Path
) -> None:
    first = run_coord("--workers", 2, db)
    assert first.returncode == 0, first.stderr
    stamps = committed_shards(db)
    again = run_coord("--workers", 2, db)
    assert again.returncode == 0
    assert "already computed" in again.stdout and "--force" in again.stdout
    assert committed_shards(db) == stamps
    forced = run_coord("--workers", 2, "--force", "--shards", 3, db)
    assert forced.returncode == 0, forced.stderr
    redone = committed_shards(db)
    assert len(redone) == 3 and redone != stamps[:3]
    assert_metrics_equal(synth_reference, db)
    with sqlite3.connect(db) as conn:  # the recording grows: its metrics are stale now
        before = conn.execute("SELECT count(*) FROM metrics").fetchone()[0]
        conn.execute(
            "INSERT INTO book (instrument, bids, asks, timestamp)"
            " SELECT instrument, bids, asks, timestamp FROM book ORDER BY id DESC LIMIT 1"
        )
    conn.close()
    grown = run_coord("--workers", 2, db)
    assert grown.returncode == 0 and "already computed" not in grown.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM metrics").fetchone()[0] == before + 1
    conn.close()


def test_a_recording_changed_after_a_crash_is_recomputed_not_resumed(
    tmp_path: Path, db: Path, reaper: list[int]
) -> None:
    log = tmp_path / "c.log"
    coord = start_sharded(log, db, reaper)
    reaper.extend(_freeze_after(coord, db, 3, log))
    os.kill(coord.pid, signal.SIGKILL)
    coord.wait()
    with sqlite3.connect(db) as conn:  # the recorder appended a snapshot meanwhile
        conn.execute(
            "INSERT INTO book (instrument, bids, asks, timestamp)"
            " SELECT instrument, bids, asks, timestamp FROM book ORDER BY id DESC LIMIT 1"
        )
    ref = tmp_path / "ref.db"
    with sqlite3.connect(db) as source, sqlite3.connect(ref) as target:
        source.backup(target)  # the WAL's content included
        for table in ("metrics", "metrics_rejects", "metrics_runs", "metrics_shards"):
            target.execute(f"DROP TABLE {table}")
    source.close()
    target.close()
    assert run_coord("--workers", 0, "--quiet", ref).returncode == 0
    log = tmp_path / "again.log"
    again = start_coord(log, "--workers", 2, db)
    reaper.append(again.pid)
    assert _wait_exit(again) == 0, log.read_text()
    assert "cannot be resumed" in log.read_text()
    assert_metrics_equal(ref, db)
