"""A worker inside the kernel stays alive to the coordinator: the kernel releases the
GIL while it reads and parses (another thread, such as a heartbeat, keeps running),
and huge books come back in chunks so the caller's tick runs between them."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from orderflow import native
from orderflow.pipeline.range_metrics import RangeMetrics
from orderflow.store.input_repository import SQLiteOrderflowRepository
from tests.recordings import write_recording

pytestmark = pytest.mark.skipif(native.KERNEL is None, reason=str(native.UNAVAILABLE_REASON))

if native.KERNEL is not None:
    from orderflow.native.shard import KernelRange


def huge_books(tmp_path: Path, rows: int, levels: int) -> Path:
    bids = json.dumps([[str((10**6 - i) / 100), "1.5", "0", "2"] for i in range(levels)])
    asks = json.dumps([[str((10**6 + 1 + i) / 100), "2.5", "0", "1"] for i in range(levels)])
    books = [("BTC", bids, asks, str(1_709_251_200_000 + i)) for i in range(rows)]
    trades = [("BTC", 1.0, 0.5, "buy", str(1_709_251_200_000 + i)) for i in range(0, rows, 3)]
    return write_recording(tmp_path / "huge.db", books, trades)


def test_other_threads_run_while_the_kernel_parses(tmp_path: Path) -> None:
    """The longest pause the main thread sees must be a small part of the call: with
    the GIL held it would be the whole call."""
    path = huge_books(tmp_path, rows=300, levels=5000)
    reader = native.KERNEL.Reader(str(path))
    done: list[tuple[int, float]] = []

    def parse() -> None:
        time.sleep(0.05)  # the main thread is in its loop before the call starts
        t0 = time.perf_counter()
        rows = reader.book(0, 10**9, -(2**63), 2**63 - 1)[1]
        done.append((rows, time.perf_counter() - t0))

    worker = threading.Thread(target=parse)
    longest = 0.0
    last = time.perf_counter()
    worker.start()
    while worker.is_alive():
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
    worker.join()
    ((rows, seconds),) = done
    assert rows == 300
    assert longest < seconds / 2, (longest, seconds)


def test_huge_books_come_back_in_chunks_and_match(tmp_path: Path) -> None:
    path = huge_books(tmp_path, rows=60, levels=6000)
    repo = SQLiteOrderflowRepository(path)
    conn = repo.connect()
    book, trades = repo.scan_order(conn, "book"), repo.scan_order(conn, "trades")
    ticks: list[int] = []
    got = KernelRange(
        native.KERNEL.Reader(str(path)), conn, book, trades, tick=lambda: ticks.append(1)
    ).compute()
    ref = RangeMetrics(repo, conn, book, trades)
    rows = list(ref.rows())
    conn.close()
    assert len(ticks) >= 60 * 2 * 6000 * 20 // (4 << 20), "ticks only between whole shards"
    assert got.ids.tolist() == [r[0] for r in rows]
    assert got.values["obi"].tolist() == [r[2] for r in rows]
    assert got.values["cvd"].tolist() == [r[3] for r in rows]
