"""SQLite errors name the file (or the scratch directory) and what to do.

A full disk is a real full filesystem: a tmpfs just larger than the recording
(mounting needs root, which the tests and CI have; elsewhere these tests skip
and say why). A lock is a real SQLite lock held by another process.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.coordinator.harness import COORD, integrity_ok, make_tie_recording, run_coord


def _mount_tmpfs(where: Path, size_kib: int) -> None:
    where.mkdir(exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); needs root")


@pytest.fixture
def mounts() -> Iterator[list[Path]]:
    made: list[Path] = []
    yield made
    for where in made:
        subprocess.run(["umount", "-l", str(where)], check=False)
        where.rmdir()


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_full_disk_names_the_file(tmp_path: Path, mounts: list[Path], workers: str) -> None:
    source = tmp_path / "rec.db"
    make_tie_recording(source, shuffle_ids=False)
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, os.path.getsize(source) // 1024 + 64)
    mounts.append(disk)
    db = disk / "rec.db"
    shutil.copy(source, db)
    done = run_coord("--workers", workers, db)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if "orderflow-coord:" in line]
    assert len(lines) == 1, done.stderr
    assert f"{db}: no room to write into this file (database or disk is full)" in lines[0]
    assert "database error" not in done.stderr and "Traceback" not in done.stderr
    assert integrity_ok(db)


def test_a_full_scratch_directory_is_named_as_such(tmp_path: Path, mounts: list[Path]) -> None:
    db = tmp_path / "rec.db"
    make_tie_recording(db, shuffle_ids=True)  # ids out of time order: sorted into scratch
    scratch = Path(tempfile.mkdtemp(prefix="of-", dir="/tmp"))  # a socket path must be short
    _mount_tmpfs(scratch, 12)
    mounts.append(scratch)
    done = subprocess.run(
        [*COORD, "--workers", "2", "--shard-rows", "300", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{scratch}/orderflow-coord-" in done.stderr
    assert "scratch directory has no room to sort the ids of" in done.stderr
    assert "set TMPDIR" in done.stderr


def test_a_locked_file_says_another_process_holds_it(tmp_path: Path) -> None:
    db = tmp_path / "rec.db"
    make_tie_recording(db, shuffle_ids=False)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # what a program in the middle of a rewrite holds
    try:
        done = run_coord("--workers", "0", db, timeout=90)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert done.returncode == 2
    assert f"{db}: another process holds a lock on this file (database is locked)" in done.stderr
