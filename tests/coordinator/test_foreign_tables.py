"""A user's own table by one of our names is never touched, and the file stays byte-identical.

Real files, the real CLI on both paths (in-process and sharded).
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from tests.coordinator.harness import make_tie_recording, run_coord

SEED_METRICS = """
CREATE TABLE metrics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    snapshot_id INTEGER NOT NULL,
    timestamp TEXT,
    obi REAL,
    cvd REAL,
    best_bid REAL,
    best_ask REAL
);
INSERT INTO metrics (snapshot_id, timestamp, obi, cvd) VALUES (1, '1', 0.5, 2.0);
"""
USERS_REJECTS = """
CREATE TABLE metrics_rejects (who TEXT, why TEXT);
INSERT INTO metrics_rejects VALUES ('alice', 'late'), ('bob', 'early');
"""
LOOSE_REJECTS = """
CREATE TABLE metrics_rejects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source_table TEXT NOT NULL,
    row_id INTEGER NOT NULL,
    reason TEXT NOT NULL
);
"""
A_VIEW = "CREATE VIEW metrics_runs AS SELECT 1 AS config_key;"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("ddl", "table"),
    [
        (SEED_METRICS, "metrics"),
        (USERS_REJECTS, "metrics_rejects"),
        (LOOSE_REJECTS, "metrics_rejects"),  # same columns, no UNIQUE (source_table, row_id)
        (A_VIEW, "metrics_runs"),
    ],
)
@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_foreign_output_table_is_refused_before_anything_is_written(
    tmp_path: Path, ddl: str, table: str, workers: str
) -> None:
    db = tmp_path / "rec.db"
    make_tie_recording(db, shuffle_ids=False)
    with sqlite3.connect(db) as conn:
        conn.executescript(ddl)
    conn.close()
    before = _digest(db)
    done = run_coord("--workers", workers, db)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(db) in lines[0] and f"table '{table}'" in lines[0]
    assert _digest(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.db"]  # no -wal, -shm, lock


def test_our_own_tables_are_recognised_for_a_rerun(tmp_path: Path) -> None:
    db = tmp_path / "rec.db"
    make_tie_recording(db, shuffle_ids=False)
    assert run_coord("--workers", "0", "--quiet", db).returncode == 0
    with sqlite3.connect(db) as conn:  # a user's extra index on our table is fine
        conn.execute("CREATE INDEX mine ON metrics(obi)")
    conn.close()
    again = run_coord("--workers", "2", "--force", "--quiet", db)
    assert again.returncode == 0, again.stderr
