"""The order-flow columns as the in-process pipeline writes them, and the upgrade
of a metrics table written by an earlier version (real files, real CLI)."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from orderflow.pipeline.storage import Storage
from orderflow.store.input_repository import REQUIRED_COLUMNS as TABLES
from orderflow.store.schema import FLOW_COLUMNS

S = 10**9


def flow_rows(path: Path) -> dict[int, tuple]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(f"SELECT snapshot_id, {', '.join(FLOW_COLUMNS)} FROM metrics")
        return {r[0]: dict(zip(FLOW_COLUMNS, r[1:], strict=True)) for r in rows}


def test_ofi_follows_instant_then_id_order_per_instrument(recording) -> None:
    """Ids out of time order, a tie on the instant, an interleaved instrument and an
    invalid snapshot: each OFI compares with the previous valid snapshot of its
    own instrument in (instant, id) order."""
    path = recording(
        books=[
            (1, "X", [[100, 4]], [[101, 2]], "20"),  # X second (t=20, id 1)
            (2, "X", [[100, 1]], [[101, 1]], "10"),  # X first
            (3, "Y", [[50, 9]], [[51, 9]], "15"),  # Y only: its first snapshot
            (4, "X", [[99, 3]], [[100.5, 5]], "20"),  # X third (tie at t=20, id 4)
            (5, "X", [[100, "NaN"]], [[101, 1]], "25"),  # invalid: skipped for OFI too
            (6, "X", [[99, 2]], [[100, 1]], "30"),  # X fourth, against id 4
            (7, "X", [], [[100, 1]], "40"),  # no bids: NULL
            (8, "X", [[99, 1]], [[100, 1]], "50"),  # previous lacks a side: NULL
        ]
    )
    Storage(path, quiet=True).build_booktick_from_db()
    got = flow_rows(path)
    assert set(got) == {1, 2, 3, 4, 6, 7, 8}
    assert got[2]["ofi"] is None and got[3]["ofi"] is None  # first of X, first of Y
    assert got[1]["ofi"] == (4 - 1) - (2 - 1)  # equal prices both sides
    assert got[4]["ofi"] == -4 - 5  # bid lower: -4; ask lower: -5
    assert got[6]["ofi"] == (2 - 3) - 1  # bid equal: 2-3; ask lower 100 < 100.5: dV = 1
    assert got[7]["ofi"] is None and got[7]["mlofi"] is None
    assert got[8]["ofi"] is None and got[8]["mlofi"] is None
    for row in got.values():
        assert row["mlofi"] == row["ofi"]  # one level a side: e_1 only
    assert got[4]["spread"] == 1.5 and got[4]["mid"] == 99.75
    assert got[7]["spread"] is None and got[7]["bid_size_1"] is None
    assert got[7]["obi_l1"] == -1.0


def test_ofi_levels_setting_reaches_mlofi(recording) -> None:
    prev = [[100, 1], [99, 1], [98, 1]]
    cur = [[100, 2], [99, 3], [98, 5]]  # equal prices: e_m = r(n) - r(n-1)
    books = [("X", prev, [[101, 1]], "1"), ("X", cur, [[101, 1]], "2")]
    one = recording(books=books, name="one.db")
    Storage(one, quiet=True, ofi_levels=2).build_booktick_from_db()
    three = recording(books=books, name="three.db")
    Storage(three, quiet=True, ofi_levels=3).build_booktick_from_db()
    assert flow_rows(one)[2]["mlofi"] == 1 + 2
    assert flow_rows(three)[2]["mlofi"] == 1 + 2 + 4
    assert flow_rows(three)[2]["ofi"] == 1


# The first released schema of the output tables, as an earlier version created them.
OLD_SCHEMA = """
CREATE TABLE metrics (
    id INTEGER PRIMARY KEY AUTOINCREMENT, snapshot_id INTEGER NOT NULL, timestamp TEXT,
    obi REAL, cvd REAL, best_bid REAL, best_ask REAL, instrument TEXT NOT NULL,
    ts_ns INTEGER NOT NULL, FOREIGN KEY (snapshot_id) REFERENCES book(id)
);
CREATE INDEX idx_metrics_timestamp ON metrics(timestamp);
CREATE UNIQUE INDEX idx_metrics_snapshot_id ON metrics(snapshot_id);
CREATE INDEX idx_metrics_instrument_ts ON metrics(instrument, ts_ns);
CREATE TABLE metrics_rejects (
    id INTEGER PRIMARY KEY AUTOINCREMENT, source_table TEXT NOT NULL, row_id INTEGER NOT NULL,
    reason TEXT NOT NULL, UNIQUE (source_table, row_id)
);
CREATE TABLE metrics_runs (
    config_key TEXT PRIMARY KEY, status TEXT NOT NULL, started_at TEXT NOT NULL,
    finished_at TEXT, snapshots INTEGER NOT NULL DEFAULT 0, rejects INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE metrics_shards (
    config_key TEXT NOT NULL, shard_no INTEGER NOT NULL, start_ns INTEGER, end_ns INTEGER,
    input_key TEXT NOT NULL, committed_at TEXT, snapshots INTEGER, rejects INTEGER,
    trades INTEGER, signed_volume TEXT, worker TEXT, PRIMARY KEY (config_key, shard_no)
);
"""


def _old_version_output(path: Path) -> None:
    """What an earlier version left: a finished run without the order-flow columns."""
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA)
        conn.execute(
            "INSERT INTO metrics (snapshot_id, timestamp, obi, cvd, best_bid, best_ask,"
            " instrument, ts_ns) VALUES (1, '1', 0.0, 0.0, 100.0, 101.0, 'X', ?)",
            (S,),
        )
        conn.execute(
            "INSERT INTO metrics_runs VALUES ('v1:0123456789abcdef', 'finished', 'x', 'y', 1, 0)"
        )
    conn.close()


@pytest.mark.parametrize("workers", ["0", "1"])
def test_an_earlier_versions_table_is_upgraded_and_recomputed(
    recording, workers: str, tmp_path: Path
) -> None:
    path = recording(
        books=[("X", [[100, 1]], [[101, 1]], "1"), ("X", [[100, 2]], [[101, 1]], "2")],
        trades=[("X", 100, 0.5, "buy", "1")],
    )
    _old_version_output(path)
    done = subprocess.run(
        [sys.executable, "-m", "orderflow_services.coordinator.cli", "--workers", workers, path],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    told = [line for line in done.stderr.splitlines() if "earlier version" in line]
    assert len(told) == 1 and "upgraded in place" in told[0] and "recomputed" in told[0]
    assert "skipped" not in done.stdout.lower()
    rows = flow_rows(path)
    assert set(rows) == {1, 2}
    assert rows[1]["spread"] == 1.0 and rows[2]["ofi"] == 1.0
    with sqlite3.connect(path) as conn:
        runs = conn.execute("SELECT config_key, status FROM metrics_runs").fetchall()
        columns = [r[1] for r in conn.execute("PRAGMA table_info(metrics_shards)")]
    assert len(runs) == 1 and runs[0][0].startswith("v2:") and runs[0][1] == "finished"
    assert "tails" in columns
    again = subprocess.run(
        [sys.executable, "-m", "orderflow_services.coordinator.cli", "--workers", workers, path],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0 and "earlier version" not in again.stderr


def _key_before_prices_cut(path: Path, depth: int) -> str:
    """The config key the previous version stored for a run with ``--depth``, when the
    cut counted recorded entries (two levels at one price were two levels)."""
    with sqlite3.connect(path) as conn:
        ranges = [conn.execute(f"SELECT min(id), max(id) FROM {t}").fetchone() for t in TABLES]
    fingerprint = ";".join(f"{t}:{lo}-{hi}" for t, (lo, hi) in zip(TABLES, ranges, strict=True))
    text = f"depth={depth};instruments=;ofi_levels=5;input={fingerprint};heatmap=1000:"
    return "v2:" + hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_depth_run_finished_before_equal_prices_counted_as_one_is_recomputed(
    recording, workers: str
) -> None:
    """A file finished with --depth 1 by the previous version holds OBI over the first
    recorded entry at the best bid (-0.5 here, 1 against 3). Rerun, it was skipped as
    already computed and kept that value; the cut now takes the price's levels together."""
    path = recording(
        books=[("X", [[100, 1], [100, 2], [99, 4]], [[101, 3]], "1")],
        trades=[("X", 100.5, 1.0, "buy", "1")],
    )
    command = [sys.executable, "-m", "orderflow_services.coordinator.cli", "--depth", "1"]
    first = subprocess.run([*command, "--workers", workers, path], capture_output=True, timeout=120)
    assert first.returncode == 0, first.stderr
    with sqlite3.connect(path) as conn:  # as the previous version left it
        conn.execute("UPDATE metrics SET obi = -0.5")
        conn.execute("UPDATE metrics_runs SET config_key = ?", (_key_before_prices_cut(path, 1),))
        conn.execute("DELETE FROM metrics_shards")
    again = subprocess.run([*command, "--workers", workers, path], capture_output=True, timeout=120)
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT obi FROM metrics").fetchall() == [(0.0,)]
