"""Plans made from probes: time order taken on trust, checked by whoever reads the rows.

The coordinator no longer scans a whole recording before the first shard starts;
these tests cover what that trust must never cost: a table out of order between
two probes, unparseable timestamps (each rejected exactly once, however the
shards and samples fall), and probes that already show disorder.
"""

from __future__ import annotations

import shutil
import sqlite3
from itertools import pairwise
from pathlib import Path

import pytest

from orderflow.core.errors import TableOutOfOrder
from orderflow.pipeline.range_metrics import RangeMetrics
from orderflow.store.input_repository import UNPARSEABLE_REASON, SQLiteOrderflowRepository
from tests.coordinator.harness import run_coord
from tests.coordinator.metrics_equality import assert_metrics_equal, read_rejects
from tests.recordings import write_recording

BASE_MS = 1_709_251_200_000
BETWEEN_PROBES = (1_600, 1_602)
"""Two rows no probe reads: not a sample, and outside every run of rows the probes
read to measure the margin (``near_order.WINDOWS`` runs of 256 rows on 10,000 ids)."""


def _recording(path: Path, rows: int, *, swap: tuple[int, int] | None = None, bad=()) -> Path:
    """``rows`` snapshots 10 ms apart, a trade on every third; optionally two book
    timestamps swapped (ids out of time order) and some unparseable timestamps."""
    stamps = [str(BASE_MS + 10 * i) for i in range(rows)]
    if swap is not None:
        a, b = swap
        stamps[a - 1], stamps[b - 1] = stamps[b - 1], stamps[a - 1]
    for row_id in bad:
        stamps[row_id - 1] = "garbled"
    books = [
        ("X", [[100 - i % 7, 1 + i % 3]], [[101 + i % 5, 2]], stamp)
        for i, stamp in enumerate(stamps)
    ]
    trades = [
        ("X", 100.0, 0.25 * (1 + i % 4), "buy" if i % 2 else "sell", stamps[i])
        for i in range(0, rows, 3)
    ]
    return write_recording(path, books, trades)


def _reference(tmp_path: Path, source: Path) -> Path:
    ref = tmp_path / "ref.db"
    shutil.copy(source, ref)
    assert run_coord("--workers", 0, "--quiet", ref).returncode == 0
    return ref


def test_probes_match_the_full_scan_on_an_ordered_table(tmp_path: Path) -> None:
    path = _recording(tmp_path / "r.db", 5_500)
    repo = SQLiteOrderflowRepository(path)
    conn = repo.connect()
    scan, probed = repo.scan_order(conn, "book"), repo.probe_order(conn, "book")
    assert probed is not None and not probed.verified and scan.verified
    for field in ("rows", "min_id", "max_id", "first_ns", "last_ns", "sample_ids", "sample_ns"):
        assert getattr(probed, field) == getattr(scan, field), field
    conn.close()


def test_probes_out_of_order_give_up_at_once(tmp_path: Path) -> None:
    path = _recording(tmp_path / "r.db", 3_000, swap=(1, 2_001))
    repo = SQLiteOrderflowRepository(path)
    conn = repo.connect()
    assert repo.probe_order(conn, "book") is None
    conn.close()


def test_disorder_between_probes_is_caught_by_the_reader(tmp_path: Path) -> None:
    path = _recording(tmp_path / "r.db", 10_000, swap=BETWEEN_PROBES)
    repo = SQLiteOrderflowRepository(path)
    conn = repo.connect()
    book, trades = repo.probe_order(conn, "book"), repo.probe_order(conn, "trades")
    assert book is not None and trades is not None  # the probes cannot see it
    assert book.margin_ns == 0
    with pytest.raises(TableOutOfOrder) as caught:
        list(RangeMetrics(repo, conn, book, trades).rows())
    assert (caught.value.table, caught.value.row_id) == ("book", 1_601)
    conn.close()


def test_coordinator_plans_again_when_a_worker_finds_disorder(tmp_path: Path) -> None:
    source = _recording(tmp_path / "src.db", 10_000, swap=BETWEEN_PROBES, bad=(700, 2_600))
    ref = _reference(tmp_path, source)
    got = tmp_path / "got.db"
    shutil.copy(source, got)
    done = run_coord("--workers", 2, "--shard-rows", 500, "--log-level", "INFO", got)
    assert done.returncode == 0, done.stderr
    assert "not in time order (row id 1601); planning again from a full scan" in done.stderr
    assert_metrics_equal(ref, got)


@pytest.mark.parametrize("shard_rows", [1, 7, 500, 1_000])
def test_unparseable_rows_are_rejected_once_whatever_the_shards(
    tmp_path: Path, shard_rows: int
) -> None:
    bad = (1, 2, 999, 1_000, 1_001, 1_500, 2_999, 3_000)  # edges, probe targets, both ends
    source = _recording(tmp_path / "src.db", 3_000, bad=bad)
    ref = _reference(tmp_path, source)
    got = tmp_path / "got.db"
    shutil.copy(source, got)
    done = run_coord("--workers", 2, "--shard-rows", shard_rows, "--quiet", got)
    assert done.returncode == 0, done.stderr
    assert_metrics_equal(ref, got)
    assert read_rejects(got) >= {("book", i) for i in bad}
    with sqlite3.connect(got) as conn:
        runs = conn.execute("SELECT status, rejects FROM metrics_runs").fetchall()
        stored = conn.execute("SELECT count(*) FROM metrics_rejects").fetchone()[0]
    assert runs == [("finished", stored)]


def test_unparseable_rows_belong_to_one_shard_even_across_sample_spacings(
    tmp_path: Path,
) -> None:
    """A resumed run may probe at another spacing than the run it continues; the
    shards computed before and after must still reject each such row once."""
    bad = (1, 3, 250, 251, 999, 1_000, 1_001, 1_750, 2_999)
    path = _recording(tmp_path / "r.db", 3_000, bad=bad)
    repo = SQLiteOrderflowRepository(path)
    conn = repo.connect()
    fine, coarse = repo.probe_order(conn, "book", 250), repo.probe_order(conn, "book", 1_000)
    trades = repo.probe_order(conn, "trades")
    assert fine is not None and coarse is not None and trades is not None
    edges = [None, *fine.sample_ns[1::2], None]
    rejected: list[tuple[str, int]] = []
    for k, (start, end) in enumerate(pairwise(edges)):
        scan = fine if k % 2 else coarse
        work = RangeMetrics(repo, conn, scan, trades, start, end)
        list(work.rows())
        rejected += [(table, i) for table, i, why in work.rejects if why == UNPARSEABLE_REASON]
    books = sorted(i for table, i in rejected if table == "book")
    trade_ids = [i for table, i in rejected if table == "trades"]
    assert books == list(bad)
    assert sorted(trade_ids) == [(i - 1) // 3 + 1 for i in bad if (i - 1) % 3 == 0]
    conn.close()


def test_rows_shipped_to_a_worker_carry_their_unparseable_ids(tmp_path: Path) -> None:
    """What ``collect_rows`` ships is what a worker reading the file would reject."""
    from orderflow_services.coordinator.planner import plan_shards
    from orderflow_services.protocol import MessageCodec, Rows
    from orderflow_services.shipped_rows import ShippedRows, collect_rows

    from orderflow.store.order_index import TimeOrderedReader

    path = _recording(tmp_path / "r.db", 2_000, bad=(5, 1_001, 1_999))
    repo = SQLiteOrderflowRepository(path)
    conn = repo.connect()
    book, trades = repo.probe_order(conn, "book", 500), repo.probe_order(conn, "trades")
    assert book is not None and trades is not None
    plan = plan_shards(conn, str(path), book, trades, shard_rows=500)
    codec, rejected = MessageCodec(), []
    for shard in plan.shards:
        rows = codec.decode(
            codec.encode(
                collect_rows(TimeOrderedReader(repo, conn, None), conn, plan, 1, shard, None)
            )
        )
        assert isinstance(rows, Rows)
        span = (shard.start_ns, shard.end_ns)
        shipped = RangeMetrics(ShippedRows(rows), None, book, trades, *span)  # type: ignore[arg-type]
        local = RangeMetrics(repo, conn, book, trades, *span)
        assert list(shipped.rows()) == list(local.rows())
        assert shipped.rejects == local.rejects
        rejected += [i for table, i, _ in local.rejects if table == "book"]
    assert sorted(rejected) == [5, 1_001, 1_999]
    conn.close()
