"""What users see: progress on a terminal and in logs, the summary table, --quiet."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
from pathlib import Path

from tests.coordinator.harness import COORD, make_tie_recording, run_coord


def _db(tmp_path: Path) -> Path:
    db = tmp_path / "ties.db"
    make_tie_recording(db, shuffle_ids=False)
    return db


def test_plain_progress_lines_and_summary_when_not_a_terminal(tmp_path: Path) -> None:
    db = _db(tmp_path)
    done = run_coord("--workers", 2, "--shards", 10, db)
    assert done.returncode == 0, done.stderr
    progress = [line for line in done.stderr.splitlines() if "snapshots (" in line]
    assert progress and "\r" not in done.stderr
    assert "/s ETA" in progress[-1] and "100.0%" in progress[-1]
    header = done.stdout.splitlines()[0].split()
    assert header == [
        "database",
        "status",
        "snapshots",
        "rejects",
        "shards",
        "workers",
        "seconds",
        "rate/s",
    ]
    row = done.stdout.splitlines()[2].split()
    # Peak workers: on a loaded machine one worker may finish every shard before the
    # second has joined, so the column says 1 or 2, never more or fewer.
    assert row[1] == "done" and row[4] == "10" and row[5] in {"1", "2"}


def test_redrawn_bar_on_a_terminal(tmp_path: Path) -> None:
    db = _db(tmp_path)
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [*COORD, "--workers", "1", "--shards", "5", str(db)],
            stdout=subprocess.DEVNULL,
            stderr=follower,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 4096)
            except OSError:  # EIO once the child has closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(leader)
    text = b"".join(chunks).decode()
    assert "\r[" in text and "#" in text and "/s ETA" in text


def test_quiet_prints_no_progress_and_no_table(tmp_path: Path) -> None:
    db = _db(tmp_path)
    done = run_coord("--workers", 2, "--quiet", db)
    assert done.returncode == 0
    assert done.stderr == ""
    assert "database" not in done.stdout


def test_log_level_info_shows_workers_joining(tmp_path: Path) -> None:
    db = _db(tmp_path)
    copy = tmp_path / "copy.db"
    shutil.copy(db, copy)
    done = run_coord("--workers", 2, "--log-level", "INFO", copy)
    assert done.returncode == 0
    # On a small file one worker may finish every shard before the other joins.
    assert "started 2 local worker(s)" in done.stderr
    assert done.stderr.count("joined") >= 1 and "shards to compute" in done.stderr
