"""Cells that are not text: INTEGER and REAL epochs, INTEGER and BLOB instruments.

Every path (in-process, sharded with and without the compiled kernel, and a
remote worker computing from shipped rows) must store the same rows and the
same rejects. Real files, real processes.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

from tests.coordinator.harness import COORD, run_coord, start_coord, start_worker, wait_for
from tests.recordings import write_recording

BASE_MS = 1_709_251_200_000


def _odd_recording(path: Path) -> Path:
    books, trades = [], []
    for i in range(3000):
        stamp: object = BASE_MS + i * 10  # epoch ms stored as INTEGER, as many recorders do
        if i % 500 == 7:
            stamp = (BASE_MS + i * 10) / 1000 + 0.0004  # REAL epoch seconds
        instrument: object = "BTC" if i % 2 else "ETH"
        if i == 1500:
            instrument = b"BTC"  # a BLOB: a recorded reject
        if i in (1600, 1601):
            instrument = 42  # an INTEGER name: the instrument "42"
        books.append((instrument, [[100, 1 + i % 3], [99, 2]], [[101, 1], [102, 2]], stamp))
        if i % 3 == 0:
            trades.append(("BTC" if i % 2 else "ETH", 100.0, 1.5, "buy", BASE_MS + i * 10 - 1))
    trades.append((b"ETH", 100.0, 1.0, "sell", BASE_MS + 5))
    return write_recording(path, books, trades)


def _output(path: Path) -> tuple[list, list]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        metrics = conn.execute(
            "SELECT snapshot_id, timestamp, obi, round(cvd, 9), best_bid, best_ask, instrument,"
            " ts_ns FROM metrics ORDER BY snapshot_id"
        ).fetchall()
        rejects = conn.execute(
            "SELECT source_table, row_id, reason FROM metrics_rejects ORDER BY 1, 2"
        ).fetchall()
    conn.close()
    return metrics, rejects


def test_integer_real_and_blob_cells_give_the_same_output_on_every_path(tmp_path: Path) -> None:
    original = _odd_recording(tmp_path / "odd.db")
    copies = {}
    for name in ("plain", "sharded", "python", "shipped"):
        copies[name] = tmp_path / name / "odd.db"
        copies[name].parent.mkdir()
        shutil.copy(original, copies[name])
    plain = run_coord("--workers", 0, "--quiet", copies["plain"])
    assert plain.returncode == 0, plain.stderr
    sharded = run_coord("--workers", 2, "--shard-rows", 1000, "--quiet", copies["sharded"])
    assert sharded.returncode == 0, sharded.stderr
    python = subprocess.run(
        [*COORD, "--workers", "2", "--shard-rows", "1000", "--quiet", str(copies["python"])],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "ORDERFLOW_NATIVE": "0"},
    )
    assert python.returncode == 0, python.stderr
    log = tmp_path / "coord.log"
    coord = start_coord(
        log, "--workers", 0, "--bind", "tcp://127.0.0.1:0", "--shard-rows", 1000, copies["shipped"]
    )
    wait_for(lambda: "accepting remote workers on" in log.read_text(), timeout=20)
    endpoint = re.search(r"accepting remote workers on (\S+)", log.read_text())[1]  # type: ignore[index]
    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    worker = start_worker(
        tmp_path / "w.log",
        "--connect",
        endpoint,
        "--path-map",
        f"{copies['shipped'].parent}={nowhere}",
    )
    try:
        assert coord.wait(timeout=60) == 0, log.read_text()
        assert "cannot open the file" in log.read_text()
    finally:
        for proc in (coord, worker):
            if proc.poll() is None:
                proc.kill()
            proc.wait()

    metrics, rejects = _output(copies["plain"])
    assert len(metrics) == 2999
    assert rejects == [
        ("book", 1501, "instrument is a bytes cell, not text"),
        ("trades", 1001, "instrument is a bytes cell, not text"),
    ]
    by_id = {row[0]: row for row in metrics}
    assert by_id[1][1] == str(BASE_MS) and by_id[1][7] == BASE_MS * 1_000_000
    assert by_id[8][1] == "1709251200.0704"  # the REAL cell as SQLite's text
    assert by_id[1601][6] == "42"
    for name in ("sharded", "python", "shipped"):
        assert _output(copies[name]) == (metrics, rejects), name
