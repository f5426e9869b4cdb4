"""An instrument recorded only mid-file, outside the rows the heatmap's tick is inferred
from, gets no heatmap; the run says so in one line naming the file and the instrument,
on every path, instead of leaving its heatmap silently missing."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from orderflow.store.heatmap_ticks import SAMPLE_ROWS
from orderflow.store.schema import INPUT_DDL

ROWS = 10 * SAMPLE_ROWS
MID_FILE = range(2 * SAMPLE_ROWS, 2 * SAMPLE_ROWS + 10)
"""Rows of instrument C: after the first window, before the middle one."""


def _recording(path: Path) -> Path:
    side = json.dumps([[100.0 + 0.5 * k, 1.0] for k in range(3)])
    with sqlite3.connect(path) as conn:
        conn.executescript(INPUT_DDL)
        conn.executemany(
            "INSERT INTO book (id, instrument, bids, asks, timestamp) VALUES (?, ?, ?, ?, ?)",
            [
                (i, "C" if i in MID_FILE else "X", side, side, str(1_700_000_000_000 + i))
                for i in range(1, ROWS + 1)
            ],
        )
    conn.close()
    return path


def _run(path: Path, workers: str, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "orderflow_services.coordinator.cli"]
    return subprocess.run(
        [*command, "--workers", workers, "--shards", "4", *extra, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _heatmap_instruments(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT DISTINCT instrument FROM metrics_heatmap")}


@pytest.mark.parametrize("workers", ["0", "2"])
def test_an_instrument_outside_the_tick_sample_is_named_not_silently_left_out(
    tmp_path: Path, workers: str
) -> None:
    path = _recording(tmp_path / "f.db")
    done = _run(path, workers)
    assert done.returncode == 0, done.stderr
    assert _heatmap_instruments(path) == {"X"}
    lines = [line.split(" WARNING orderflow.store: ", 1)[-1] for line in done.stderr.splitlines()]
    assert [line for line in lines if "no depth heatmap" in line] == [
        f"{path}: no depth heatmap for C: no price bin could be inferred from the sampled"
        f" book rows (the first, middle and last {SAMPLE_ROWS}); give one in the profile"
        " (heatmap_ticks: {C: ...}) and rerun with --force"
    ], done.stderr
    profile = tmp_path / "p.yaml"
    profile.write_text("name: p\npaths: []\nheatmap_ticks: {C: 0.5}\n")
    again = _run(path, workers, "--force", "--profile", str(profile))
    assert again.returncode == 0, again.stderr
    assert _heatmap_instruments(path) == {"X", "C"}
    assert "no depth heatmap" not in again.stderr
