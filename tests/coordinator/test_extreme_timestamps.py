"""Timestamps beyond what an instant can hold are recorded rejects, on every path.

A signed 64-bit nanosecond count spans 1677-09-21 .. 2262-04-11. Rows stamped
outside it, or with integers of any length, must neither vanish nor stop the
run: each book row ends up in exactly one of ``metrics`` and ``metrics_rejects``.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from orderflow.core.timestamps import parse_instant_ns
from orderflow.store.input_repository import UNPARSEABLE_REASON
from tests.coordinator.harness import COORD
from tests.recordings import write_recording

BASE_MS = 1_709_251_200_000
EXTREME = {
    "2300-01-01T00:00:00Z": "after 2262",
    "1600-01-01T00:00:00Z": "before 1677",
    "99999999999999999999999": "an integer beyond int64",
    "9" * 5000: "5,000 digits",
    "1709251200." + "1" * 5000: "a fraction of 5,000 digits (valid)",
}


def _recording(path: Path) -> Path:
    books, trades = [], []
    for i in range(2000):
        stamp = str(BASE_MS + i)
        books.append(("BTC", [[100, 1], [99, 2]], [[101, 1]], stamp))
        trades.append(("BTC", 100.0, 1.0, "buy", stamp))
    for stamp in EXTREME:
        books.append(("BTC", [[100, 1]], [[101, 1]], stamp))
        trades.append(("BTC", 100.0, 1.0, "sell", stamp))
    return write_recording(path, books, trades)


def test_extreme_instants_do_not_parse_and_long_digits_do_not_raise() -> None:
    assert parse_instant_ns("2262-04-11T23:47:16Z") == 9_223_372_036_000_000_000
    assert parse_instant_ns("2262-04-11T23:47:17Z") is None
    assert parse_instant_ns("1677-09-21T00:12:44Z") is not None
    assert parse_instant_ns("1600-01-01T00:00:00Z") is None
    assert parse_instant_ns("9" * 5000) is None
    assert parse_instant_ns("0" * 4990 + "1709251200") == 1_709_251_200 * 10**9
    assert parse_instant_ns("1709251200." + "1" * 5000) == 1_709_251_200_111_111_111


@pytest.mark.parametrize(
    "args",
    [("--workers", "0"), ("--workers", "2", "--shard-rows", "500"), ("native-off",)],
    ids=["in-process", "sharded", "sharded-python"],
)
def test_every_book_row_is_in_metrics_or_rejects(tmp_path: Path, args: tuple[str, ...]) -> None:
    db = _recording(tmp_path / "x.db")
    env = dict(os.environ)
    if args == ("native-off",):
        env["ORDERFLOW_NATIVE"] = "0"
        args = ("--workers", "2", "--shard-rows", "500")
    done = subprocess.run(
        [*COORD, *args, str(db)], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    with sqlite3.connect(db) as conn:
        book = conn.execute("SELECT count(*) FROM book").fetchone()[0]
        metrics = {r[0] for r in conn.execute("SELECT snapshot_id FROM metrics")}
        rejects = dict(
            conn.execute("SELECT row_id, reason FROM metrics_rejects WHERE source_table = 'book'")
        )
        trade_rejects = conn.execute(
            "SELECT count(*) FROM metrics_rejects WHERE source_table = 'trades'"
        ).fetchone()[0]
    conn.close()
    assert not metrics & set(rejects)
    assert len(metrics) + len(rejects) == book
    assert sorted(rejects) == [2001, 2002, 2003, 2004]  # the 5,000-digit fraction is valid
    assert set(rejects.values()) == {UNPARSEABLE_REASON}
    assert "1677-09-21 .. 2262-04-11" in UNPARSEABLE_REASON
    assert trade_rejects == 4
    assert re.search(r"done\s+2,001\s+8\s", done.stdout), done.stdout  # the summary counts them
