"""A worker's shard through the kernel equals the Python path's ``Result`` field for
field, for every shard of a plan (trimmed scans, ties on shard edges, probes)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from orderflow_services.coordinator.planner import plan_shards, trim_scan
from orderflow_services.protocol import Task
from orderflow_services.worker.native_shard import native_result
from orderflow_services.worker.shard_compute import compute_shard

from orderflow import native
from orderflow.store.input_repository import SQLiteOrderflowRepository
from orderflow.store.order_index import TimeOrderedReader
from tests.native.test_range import ordered_recording

pytestmark = pytest.mark.skipif(native.KERNEL is None, reason=str(native.UNAVAILABLE_REASON))


@pytest.mark.parametrize("probe", [False, True], ids=["scanned", "probed"])
@pytest.mark.parametrize("shards", [1, 7, 40])
def test_every_shard_equals_the_python_path(tmp_path: Path, probe: bool, shards: int) -> None:
    path = ordered_recording(tmp_path / "ordered.db")
    repo = SQLiteOrderflowRepository(path)
    conn = repo.connect()
    if probe:
        book, trades = repo.probe_order(conn, "book", 50), repo.probe_order(conn, "trades", 50)
    else:
        book, trades = repo.scan_order(conn, "book"), repo.scan_order(conn, "trades")
    plan = plan_shards(conn, str(path), book, trades, shards=shards, order_index=None)
    reader = TimeOrderedReader(repo, conn, None)
    ticks = []
    for shard in plan.shards:
        task = Task(
            task_id=shard.shard_no,
            path=plan.path,
            shard_no=shard.shard_no,
            start_ns=shard.start_ns,
            end_ns=shard.end_ns,
            book_scan=trim_scan(plan.book_scan, shard.start_ns, shard.end_ns),
            trade_scan=trim_scan(plan.trade_scan, shard.start_ns, shard.end_ns),
            depth=None,
            instruments=None,
        )
        got = native_result(task, reader, conn, lambda: ticks.append(1))
        assert got is not None
        want = compute_shard(task, reader, conn, use_native=False)
        got, want = (msgspec.structs.replace(r, seconds=0.0) for r in (got, want))
        assert sorted(got.rejects) == sorted(want.rejects)
        assert msgspec.structs.replace(got, rejects=[]) == msgspec.structs.replace(want, rejects=[])
    assert ticks, "the kernel path ticks (the worker heartbeats from the tick)"
    conn.close()


def test_python_path_when_rows_are_shipped_or_indexed(tmp_path: Path) -> None:
    path = ordered_recording(tmp_path / "ordered.db")
    repo = SQLiteOrderflowRepository(path)
    conn = repo.connect()
    book, trades = repo.scan_order(conn, "book"), repo.scan_order(conn, "trades")
    unordered = msgspec.structs.replace(trades, time_ordered=False, sample_ids=[], sample_ns=[])
    task = Task(1, str(path), 0, None, None, book, unordered, None, None, order_index="x.db")
    assert native_result(task, TimeOrderedReader(repo, conn, None), conn, lambda: None) is None
    assert native_result(task, object(), None, lambda: None) is None
    conn.close()
