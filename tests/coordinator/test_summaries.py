"""What the end of a run says: skipped files, resumed runs, the next command."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.coordinator.harness import (
    COORD,
    committed_shards,
    make_tie_recording,
    run_coord,
    start_coord,
    wait_for,
)


def _snapshots(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        count = conn.execute("SELECT count(*) FROM metrics").fetchone()[0]
    conn.close()
    return count


def test_a_skipped_file_says_it_is_already_computed_and_how_many(tmp_path: Path) -> None:
    db = tmp_path / "rec.db"
    make_tie_recording(db, shuffle_ids=False)
    assert run_coord("--workers", 0, db).returncode == 0
    again = run_coord("--workers", 2, db)
    assert again.returncode == 0, again.stderr
    stored = _snapshots(db)
    assert f"{db}: already computed ({stored:,} snapshots; --force to recompute)" in again.stdout
    assert "metrics written" not in again.stdout and "status" not in again.stdout


def test_a_resumed_run_counts_only_its_own_work(tmp_path: Path, synth_db: Path) -> None:
    db = tmp_path / "rec.db"
    shutil.copy(synth_db, db)
    first = start_coord(tmp_path / "first.log", "--workers", 2, "--shard-rows", 200, db)
    try:
        wait_for(lambda: len(committed_shards(db)) >= 10, what="committed shards")
        os.kill(first.pid, signal.SIGKILL)
    finally:
        first.kill()
        first.wait()
    already = _snapshots(db)
    assert already > 0
    again = run_coord("--workers", 2, db)
    assert again.returncode == 0, again.stderr
    total = _snapshots(db)
    assert f"{db}: resumed; {already:,} snapshots were already computed" in again.stdout
    row = next(line for line in again.stdout.splitlines() if line.startswith(str(db) + " "))
    assert re.search(rf"\s{total - already:,}\s", row), row
    assert f"metrics written: {total - already:,} snapshots" in again.stdout


def test_the_next_hint_names_commands_that_run_from_this_shell(tmp_path: Path) -> None:
    db = tmp_path / "rec.db"
    make_tie_recording(db, shuffle_ids=False)
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # the venv not activated
    done = subprocess.run(
        [*COORD, "--workers", "0", str(db)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    hint = next(line for line in done.stdout.splitlines() if line.startswith("next:"))
    program = hint.split()[1]
    assert program == str(Path(sys.executable).parent / "orderflow-dashboard")
    assert os.access(program, os.X_OK)
