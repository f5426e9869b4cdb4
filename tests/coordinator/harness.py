"""Helpers for the coordinator tests: hand-made recordings and running the real CLIs."""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from orderflow.store.schema import INPUT_DDL

COORD = [sys.executable, "-m", "orderflow_services.coordinator.cli"]
BIND = "tcp://127.0.0.1:0"
"""Loopback TCP on a free port, for remote-worker tests."""
SHARD_ROWS = 200
"""Shard size for runs that must last long enough to be interrupted: 100 shards on synth_db."""
WORKER = [sys.executable, "-m", "orderflow_services.worker"]


def run_coord(*args: object, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run orderflow-coord to completion, as a user would."""
    return subprocess.run(
        [*COORD, *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def make_tie_recording(path: Path, *, shuffle_ids: bool, seed: int = 3) -> None:
    """A hand-made recording full of edge cases.

    Groups of 1-4 snapshots share an instant (across and within instruments),
    trades land exactly on snapshot instants, before the first and after the last
    snapshot; timestamps mix ms, s, us epochs and ISO-8601; a few snapshots and
    trades are invalid and a few timestamps do not parse.
    """
    rng = random.Random(seed)
    books, trades = [], []
    base_ms = 1_709_251_200_000
    instruments = ["BTC-USDT", "ETH-USDT", "SOL-USDT"]
    trades.append(("BTC-USDT", "t-early", 100.0, 0.5, "buy", str(base_ms - 5000)))
    trades.append(("ETH-USDT", "t-early2", 10.0, 1.25, "SELL", str(base_ms - 1)))
    t = base_ms
    for step in range(700):
        t += rng.choice([0, 1, 1, 2, 5])
        for _ in range(rng.randint(1, 4)):
            name = rng.choice(instruments)
            bids = [[str(100 - i * 0.5), str(rng.randint(0, 5) / 2), 0, 1] for i in range(5)]
            asks = [[100.5 + i * 0.5, rng.randint(0, 5) / 2] for i in range(4)]
            stamp = _format(t, step)
            if step % 97 == 13:
                bids[2][1] = "NaN"
            if step % 151 == 7:
                stamp = "not-a-time"
            books.append((name, json.dumps(bids), json.dumps(asks), stamp))
        for _ in range(rng.choice([0, 1, 2, 3])):
            side = rng.choice(["buy", "sell", "Buy", "SELL"])
            if step % 113 == 5:
                side = "hold"
            trades.append(
                (
                    rng.choice(instruments),
                    f"t{step}",
                    100.0,
                    rng.randint(1, 9) / 4,
                    side,
                    _format(t - rng.choice([0, 0, 1]), step + 1),
                )
            )
    trades.append(("SOL-USDT", "t-late", 1.0, 3.0, "buy", str(t + 10_000)))
    trades.append(("BTC-USDT", "t-bad-ts", 1.0, 3.0, "buy", "yesterday"))
    book_ids = list(range(1, len(books) + 1))
    trade_ids = list(range(1, len(trades) + 1))
    if shuffle_ids:
        rng.shuffle(book_ids)
        rng.shuffle(trade_ids)
    conn = sqlite3.connect(path)
    conn.executescript(INPUT_DDL)
    conn.executemany(
        "INSERT INTO book (id, instrument, bids, asks, timestamp) VALUES (?, ?, ?, ?, ?)",
        [(i, *row) for i, row in zip(book_ids, books, strict=True)],
    )
    conn.executemany(
        "INSERT INTO trades (id, instrument, trade_id, price, size, side, timestamp)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(i, *row) for i, row in zip(trade_ids, trades, strict=True)],
    )
    conn.commit()
    conn.close()


def _format(ms: int, step: int) -> str:
    """The same instant in one of several spellings metrics.md allows."""
    kind = step % 4
    if kind == 1 and ms % 1000 == 0:
        return str(ms // 1000)
    if kind == 2:
        return str(ms * 1000)
    if kind == 3:
        from orderflow.core.timestamps import format_instant_ns

        return format_instant_ns(ms * 1_000_000)
    return str(ms)


def start_coord(log: Path, *args: object, tmpdir: Path | None = None) -> subprocess.Popen:
    """Start orderflow-coord in the background, stdout and stderr into ``log``.

    ``tmpdir`` gives the coordinator a private TMPDIR, so scratch directories it
    leaves behind are not cleaned up by coordinators of concurrent test runs.
    """
    env = {**os.environ, "TMPDIR": str(tmpdir)} if tmpdir is not None else None
    with log.open("w") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [*COORD, "--log-level", "INFO", *map(str, args)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


def start_worker(log: Path, *args: object) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            [*WORKER, "--log-level", "INFO", *map(str, args)], stdout=out, stderr=subprocess.STDOUT
        )


def wait_for(predicate: Callable[[], object], timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.02)


def committed_shards(path: Path) -> list[tuple[int, str]]:
    """(shard_no, committed_at) of committed shards, read as the dashboard would."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(
                "SELECT shard_no, committed_at FROM metrics_shards"
                " WHERE committed_at IS NOT NULL ORDER BY shard_no"
            ).fetchall()
    except sqlite3.OperationalError:  # table not created yet
        return []


def children(pid: int) -> list[int]:
    """Live child processes of ``pid``, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def integrity_ok(path: Path) -> bool:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def remote_endpoint(log: Path) -> str:
    """The TCP endpoint a coordinator started with ``--bind`` logged it accepts workers on."""
    found: list[str] = []

    def bound() -> bool:
        found[:] = re.findall(r"accepting remote workers on (tcp://\S+)", log.read_text())
        return bool(found)

    wait_for(bound, timeout=20, what="the coordinator to bind")
    return found[0]


def start_bound(log: Path, procs: list, *args: object) -> tuple[subprocess.Popen, str]:
    """Start orderflow-coord with ``--workers 0 --bind`` loopback TCP (``procs`` cleans
    it up); returns it and the endpoint remote workers connect to."""
    coord = start_coord(log, "--workers", 0, "--bind", BIND, *args)
    procs.append(coord)
    return coord, remote_endpoint(log)


def start_sharded(log: Path, db: Path, reaper: list[int]) -> subprocess.Popen:
    """Start orderflow-coord with two local workers and SHARD_ROWS-row shards on ``db``
    (``reaper`` kills it if the test leaves it behind)."""
    coord = start_coord(log, "--workers", 2, "--shard-rows", SHARD_ROWS, db)
    reaper.append(coord.pid)
    return coord
