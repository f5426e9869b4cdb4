"""Liveness by the clock (issue 10 item 6): a worker busy with huge books stays alive.

A snapshot with 5,000 levels a side takes 5-12 ms to decode here, so 500 of them
take seconds, and the coordinator's silence limit is 3 s; heartbeats sent from a
callback every 500 rows came too late. They must come from the clock.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from itertools import pairwise
from pathlib import Path

import pytest
import zmq
from orderflow_services.protocol import (
    HEARTBEAT_INTERVAL_S,
    Heartbeat,
    MessageCodec,
    Ready,
    Result,
    Task,
)
from orderflow_services.worker.liveness import beating

from orderflow.store.input_repository import SQLiteOrderflowRepository
from tests.coordinator.harness import WORKER, run_coord
from tests.coordinator.metrics_equality import assert_metrics_equal
from tests.recordings import write_recording

LEVELS = 5_000
ROWS = 600


@pytest.fixture(scope="module")
def huge_books(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ROWS snapshots of LEVELS levels a side (about 100 MB)."""
    return _huge_books(tmp_path_factory.mktemp("huge") / "huge.db")


def _huge_books(path: Path) -> Path:
    books = []
    for i in range(ROWS):
        bids = [[round(100 - k * 0.01, 2), 1 + (i + k) % 7] for k in range(LEVELS)]
        asks = [[round(101 + k * 0.01, 2), 1 + (i * k) % 5] for k in range(LEVELS)]
        books.append(("X", json.dumps(bids), json.dumps(asks), str(1_709_251_200_000 + i)))
    trades = [
        ("X", 100.0, 0.5, "buy" if i % 2 else "sell", str(1_709_251_200_000 + i))
        for i in range(0, ROWS, 3)
    ]
    return write_recording(path, books, trades)


def test_workers_on_books_with_thousands_of_levels_finish(tmp_path: Path, huge_books: Path) -> None:
    source = huge_books
    ref = tmp_path / "ref.db"
    shutil.copy(source, ref)
    assert run_coord("--workers", 0, "--quiet", ref, timeout=120).returncode == 0
    got = tmp_path / "got.db"
    shutil.copy(source, got)
    done = run_coord("--workers", 1, "--shards", 1, "--log-level", "INFO", got, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "silent for" not in done.stderr
    assert "re-queued" not in done.stderr
    assert_metrics_equal(ref, got)


def test_a_worker_computing_a_long_shard_heartbeats_on_time(
    tmp_path: Path, huge_books: Path
) -> None:
    """A real worker process against our own ROUTER socket: between the task and its
    result, no gap between messages is much longer than the heartbeat interval."""
    codec = MessageCodec()
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.linger = 0
    endpoint = f"ipc://{tmp_path}/w.sock"
    router.bind(endpoint)
    # The Python path: the native kernel computes these books in well under a second
    # (tests/native/test_liveness.py covers it releasing the GIL for the beat thread).
    worker = subprocess.Popen(
        [*WORKER, "--connect", endpoint, "--give-up-after", "30"],
        env={**os.environ, "ORDERFLOW_NATIVE": "0"},
    )
    try:
        assert router.poll(30_000), "the worker never said Ready"
        identity, frame = router.recv_multipart()
        assert isinstance(codec.decode(frame), Ready)
        repo = SQLiteOrderflowRepository(huge_books)
        conn = repo.connect()
        book, trades = repo.probe_order(conn, "book"), repo.probe_order(conn, "trades")
        conn.close()
        assert book is not None and trades is not None
        task = Task(1, str(huge_books), 0, None, None, book, trades, None, None)
        router.send_multipart([identity, codec.encode(task)])
        arrivals = [time.monotonic()]
        while True:
            assert router.poll(60_000), "the worker went silent"
            message = codec.decode(router.recv_multipart()[1])
            arrivals.append(time.monotonic())
            if isinstance(message, Result):
                break
            assert isinstance(message, Heartbeat)
            router.send_multipart([identity, codec.encode(Heartbeat())])
    finally:
        worker.kill()
        worker.wait()
        router.close()
        context.term()
    assert message.rows == ROWS
    computing = arrivals[-1] - arrivals[0]
    gaps = [b - a for a, b in pairwise(arrivals)]
    assert computing > 2 * HEARTBEAT_INTERVAL_S, "too quick to show anything; use more levels"
    assert max(gaps) < 2 * HEARTBEAT_INTERVAL_S, gaps


def test_beats_keep_coming_while_python_computes() -> None:
    """Beats arrive while the caller's thread is busy holding the GIL, and stop with
    the block. (How regularly depends on the machine's load; the worker test above
    checks the real interval.)"""
    beats: list[float] = []
    started = time.monotonic()
    with beating(lambda: beats.append(time.monotonic()), 0.05):
        while time.monotonic() - started < 0.6:
            sum(range(10_000))  # busy, holding the GIL between switches
    count = len(beats)
    time.sleep(0.15)
    assert count >= 3
    assert beats[0] < started + 0.4
    assert len(beats) == count
