"""A worker's shard through the kernel equals the Python path's ``Result`` field for
field, for every shard of a plan (trimmed scans, ties on shard edges, probes)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import msgspec
import pytest
from orderflow_services.coordinator.planner import ShardPlan, plan_shards, trim_scan
from orderflow_services.protocol import Task
from orderflow_services.worker.native_shard import native_result
from orderflow_services.worker.shard_compute import compute_shard

from orderflow import native
from orderflow.store.input_repository import SQLiteOrderflowRepository
from orderflow.store.order_index import TimeOrderedReader
from tests.native.test_range import ordered_recording
from tests.recordings import write_recording

pytestmark = pytest.mark.skipif(native.KERNEL is None, reason=str(native.UNAVAILABLE_REASON))


def _shard_tasks(plan: ShardPlan, **fields: object) -> list[Task]:
    """One task per shard of ``plan``, scans trimmed as the coordinator trims them."""
    return [
        Task(
            task_id=shard.shard_no,
            path=plan.path,
            shard_no=shard.shard_no,
            start_ns=shard.start_ns,
            end_ns=shard.end_ns,
            book_scan=trim_scan(plan.book_scan, shard.start_ns, shard.end_ns),
            trade_scan=trim_scan(plan.trade_scan, shard.start_ns, shard.end_ns),
            instruments=None,
            **fields,
        )
        for shard in plan.shards
    ]


@pytest.mark.parametrize("heatmap", [False, True], ids=["plain", "heatmap"])
@pytest.mark.parametrize("probe", [False, True], ids=["scanned", "probed"])
@pytest.mark.parametrize("shards", [1, 7, 40])
def test_every_shard_equals_the_python_path(
    tmp_path: Path, probe: bool, shards: int, heatmap: bool
) -> None:
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
    for task in _shard_tasks(
        plan,
        depth=None,
        heatmap_ticks={"A": 0.5, "B": 0.3} if heatmap else {},
        heatmap_bucket_ms=2,
    ):
        got = native_result(task, reader, conn, lambda: ticks.append(1))
        assert got is not None
        want = compute_shard(task, reader, conn, use_native=False)
        got, want = (msgspec.structs.replace(r, seconds=0.0) for r in (got, want))
        assert sorted(got.rejects) == sorted(want.rejects)
        assert (want.heatmap is not None) == heatmap
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


def deep_recording(path: Path, seed: int = 4) -> Path:
    """Books deeper than the kernel's kept top (32 levels), equal prices within a side,
    zero sizes, prices on and off a 0.1 grid, rows the kernel hands to the reference
    (prices as JSON strings) and rows the reference rejects, three instruments."""
    rng = random.Random(seed)
    books = []
    t = 1_709_251_200_000
    for step in range(900):
        t += rng.choice([0, 0, 1, 7])
        name = rng.choice(["A", "B", "C"])
        mid = 100 + rng.randint(-30, 30) / 10
        bids = [[round(mid - rng.randint(1, 45) / 10, 1), rng.randint(0, 9) / 3] for _ in range(40)]
        asks = [[round(mid + rng.randint(1, 45) / 10, 1), rng.randint(0, 9) / 7] for _ in range(3)]
        asks.append([mid + 0.05, 0.1])  # between two bins
        if step % 13 == 2:
            bids = [[str(p), str(s)] for p, s in bids]  # declined by the kernel, valid
        if step % 29 == 7:
            asks[0][1] = -1  # rejected
        books.append((name, json.dumps(bids), json.dumps(asks), str(t)))
    return write_recording(path, books, [("A", 100.0, 1.0, "buy", str(t))])


@pytest.mark.parametrize("shards", [1, 5, 23])
def test_heatmap_of_deep_books_equals_the_python_path(tmp_path: Path, shards: int) -> None:
    path = deep_recording(tmp_path / "deep.db")
    repo = SQLiteOrderflowRepository(path)
    conn = repo.connect()
    book, trades = repo.scan_order(conn, "book"), repo.scan_order(conn, "trades")
    plan = plan_shards(conn, str(path), book, trades, shards=shards, order_index=None)
    reader = TimeOrderedReader(repo, conn, None)
    parts, cells = [], 0
    for task in _shard_tasks(
        plan,
        depth=3,
        ofi_levels=2,
        heatmap_ticks={"A": 0.1, "B": 0.25},  # C has no tick: not accumulated
        heatmap_bucket_ms=5,
    ):
        got = native_result(task, reader, conn, lambda: None)
        want = compute_shard(task, reader, conn, use_native=False)
        assert got is not None and got.heatmap is not None and want.heatmap is not None
        assert got.heatmap == want.heatmap  # bit for bit: same levels, same summation order
        got, want = (msgspec.structs.replace(r, seconds=0.0) for r in (got, want))
        assert msgspec.structs.replace(got, rejects=[]) == msgspec.structs.replace(want, rejects=[])
        parts.append(want.heatmap)
        cells += len(want.heatmap.columns()[5])
    conn.close()
    assert {"A", "B"} == {name for p in parts for name in p.instruments}
    assert cells > 1000, "the recording was meant to fill many bins"
