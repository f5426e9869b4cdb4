"""A worker's shard computation: from the file, from shipped rows, with trimmed scans.

These run the worker's functions in-process over real SQLite files; the
process-level behaviour is covered by tests/coordinator.
"""

from __future__ import annotations

import math
import random

import msgspec
import pytest
from orderflow_services.coordinator.planner import plan_shards, trim_scan
from orderflow_services.protocol import (
    Heartbeat,
    MalformedMessage,
    MessageCodec,
    Ready,
    Result,
    Task,
)
from orderflow_services.shipped_rows import ShippedRows, collect_rows
from orderflow_services.worker.shard_compute import PathMap, compute_shard

from orderflow.pipeline.result_columns import ResultColumns
from orderflow.store.input_repository import SQLiteOrderflowRepository
from orderflow.store.order_index import TimeOrderedReader, build_order_index
from tests.coordinator.harness import make_tie_recording


@pytest.fixture(scope="module", params=[False, True], ids=["ordered", "shuffled"])
def opened(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("w")
    path = tmp / "ties.db"
    make_tie_recording(path, shuffle_ids=request.param, seed=5)
    repo = SQLiteOrderflowRepository(path)
    conn = repo.connect()
    book, trades = repo.scan_order(conn, "book"), repo.scan_order(conn, "trades")
    unordered = [s.table for s in (book, trades) if not s.time_ordered]
    index = str(tmp / "order.db") if unordered else None
    if index:
        build_order_index(path, index, unordered)
    reader = TimeOrderedReader(repo, conn, index)
    plan = plan_shards(conn, str(path), book, trades, shards=11, order_index=index)
    yield path, repo, conn, reader, plan, index
    conn.close()


def _task(plan, shard, index, task_id=1, trimmed=True) -> Task:
    scan = trim_scan if trimmed else (lambda s, a, b: s)
    return Task(
        task_id=task_id,
        path=plan.path,
        shard_no=shard.shard_no,
        start_ns=shard.start_ns,
        end_ns=shard.end_ns,
        book_scan=scan(plan.book_scan, shard.start_ns, shard.end_ns),
        trade_scan=scan(plan.trade_scan, shard.start_ns, shard.end_ns),
        depth=None,
        instruments=None,
        order_index=index,
    )


def test_trimmed_scans_read_exactly_the_rows_of_the_full_scan(opened) -> None:
    _path, _repo, conn, reader, plan, index = opened
    for shard in plan.shards:
        full = _task(plan, shard, index, trimmed=False)
        small = _task(plan, shard, index)
        assert len(small.book_scan.sample_ids) <= len(full.book_scan.sample_ids)
        for table in ("book", "trade"):
            it = getattr(reader, f"iterate_{table}_rows")
            a = list(it(conn, getattr(full, f"{table}_scan"), shard.start_ns, shard.end_ns))
            b = list(it(conn, getattr(small, f"{table}_scan"), shard.start_ns, shard.end_ns))
            assert a == b


def test_shards_partition_the_rows_and_shipped_rows_give_the_same_result(opened) -> None:
    _path, _repo, conn, reader, plan, index = opened
    seen: list[int] = []
    for shard in plan.shards:
        task = _task(plan, shard, index, task_id=shard.shard_no + 1)
        from_file = compute_shard(task, reader, conn)
        shipped = collect_rows(reader, conn, plan, task.task_id, shard, None)
        from_rows = compute_shard(task, ShippedRows(shipped), None)
        no_time = {"seconds": 0.0}
        assert msgspec.structs.replace(from_rows, **no_time) == msgspec.structs.replace(
            from_file, **no_time
        )
        seen.extend(from_file.columns().snapshot_ids.tolist())
        seen.extend(r[1] for r in from_file.rejects if r[0] == "book")
    parseable = plan.book_scan.rows - plan.book_scan.unparseable
    assert sorted(seen) == sorted(set(seen)) and len(seen) == parseable


def test_codec_round_trips_and_rejects_garbage() -> None:
    codec = MessageCodec()
    for message in (Ready(12, "host"), Heartbeat()):
        assert codec.decode(codec.encode(message)) == message
    row = (1, "t", None, 0.5, 1.0, None, "X", 9, *([None] * 9), -1.5)
    top = ((1.0,), (2.0,), (3.0,), (4.0,))
    columns = ResultColumns.from_rows([row])
    result = Result(
        3, **columns.buffers(), heads={"X": top}, tails={"X": top}, rejects=[],
        signed_volume={"X": 0.5}, trades=1, seconds=0.1,
    )  # fmt: skip
    decoded = codec.decode(codec.encode(result))
    assert decoded == result
    back = list(decoded.columns().rows())
    assert len(back) == 1 and back[0][:2] == (1, "t") and back[0][-1] == -1.5
    assert math.isnan(back[0][2]) and back[0][6:8] == ("X", 9)
    for frame in (b"", b"\xc1", b"\x92\xa5Ready\x01", codec.encode(Heartbeat())[:-1] + b"\x00"):
        with pytest.raises(MalformedMessage):
            codec.decode(frame)


def test_path_map_rewrites_whole_prefixes_only() -> None:
    m = PathMap(["/data=/mnt/shared", "/x/y=/z"])
    assert m.local("/data/a.db") == "/mnt/shared/a.db"
    assert m.local("/database/a.db") == "/database/a.db"
    assert m.local("/x/y/b.db") == "/z/b.db"
    with pytest.raises(ValueError):
        PathMap(["no-equals"])


def test_random_ranges_come_in_instant_id_order(opened) -> None:
    _path, _repo, conn, reader, plan, _index = opened
    rng = random.Random(1)
    instants = sorted({ns for s in plan.shards for ns in (s.start_ns, s.end_ns) if ns is not None})
    for _ in range(5):
        a, b = sorted(rng.sample(instants, 2))
        for it, scan in (
            (reader.iterate_book_rows, plan.book_scan),
            (reader.iterate_trade_rows, plan.trade_scan),
        ):
            rows = list(it(conn, scan, a, b))
            assert rows and all(a <= r[-1] < b for r in rows)
            assert [(r[-1], r[0]) for r in rows] == sorted((r[-1], r[0]) for r in rows)
