"""Recordings whose ids are only nearly in time order (issue 10 item 5).

Merged feeds number rows on arrival, so ids lag timestamps by up to the feed's
jitter. Such files must be read by widened id ranges and ordered locally --
no full scan, no scratch order index, and a killed run resumes -- with results
identical to ``--workers 0``, and to a plain sort of the whole table.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import msgspec
import pytest

from orderflow import native
from orderflow.pipeline.range_metrics import RangeMetrics
from orderflow.store.input_repository import SQLiteOrderflowRepository
from tests.coordinator.harness import (
    alive,
    children,
    committed_shards,
    run_coord,
    start_coord,
    wait_for,
)
from tests.coordinator.metrics_equality import assert_metrics_equal, read_rejects
from tests.recordings import write_jittered_recording

FALLBACKS = ("planning again from a full scan", "out of time order; sorted", "cannot be resumed")


def _reference(tmp_path: Path, source: Path) -> Path:
    ref = tmp_path / "ref.db"
    shutil.copy(source, ref)
    done = run_coord("--workers", 0, "--quiet", ref)
    assert done.returncode == 0, done.stderr
    return ref


@pytest.mark.parametrize("jitter_ms", [100, 3_000])
def test_probes_measure_a_margin_covering_the_jitter(tmp_path: Path, jitter_ms: int) -> None:
    path = write_jittered_recording(tmp_path / "r.db", 8_000, jitter_ms=jitter_ms)
    repo = SQLiteOrderflowRepository(path)
    conn = repo.connect()
    for table in ("book", "trades"):
        exact, probed = repo.scan_order(conn, table), repo.probe_order(conn, table)
        assert exact.time_ordered and 0 < exact.margin_ns <= jitter_ms * 1_000_000
        assert probed is not None and probed.time_ordered
        assert exact.margin_ns <= probed.margin_ns <= 2 * jitter_ms * 1_000_000
    conn.close()


def test_a_shuffled_table_still_counts_as_out_of_order(tmp_path: Path) -> None:
    """A 'margin' as wide as the file is no margin: that table is sorted once instead."""
    path = write_jittered_recording(tmp_path / "r.db", 3_000, jitter_ms=10**9, tables=("book",))
    repo = SQLiteOrderflowRepository(path)
    conn = repo.connect()
    assert repo.probe_order(conn, "book") is None
    assert not repo.scan_order(conn, "book").time_ordered
    assert repo.scan_order(conn, "trades").margin_ns == 0
    conn.close()


@pytest.mark.parametrize("jitter_ms", [100, 3_000])
def test_ranges_read_through_probes_equal_a_sort_of_the_whole_table(
    tmp_path: Path, jitter_ms: int
) -> None:
    """Every way of reading gives the rows in the same order: one range from a full
    scan, many ranges from probes (widened and reordered locally, rows checked), and
    SQLite sorting the whole table by instant (the shuffled-table path)."""
    path = write_jittered_recording(
        tmp_path / "r.db", 6_000, jitter_ms=jitter_ms, unparseable_every=331
    )
    repo = SQLiteOrderflowRepository(path)
    conn = repo.connect()
    book, trades = repo.scan_order(conn, "book"), repo.scan_order(conn, "trades")
    assert book.margin_ns and trades.margin_ns
    sort = {"time_ordered": False, "margin_ns": 0, "sample_min": []}
    sorted_book = msgspec.structs.replace(book, **sort)
    sorted_trades = msgspec.structs.replace(trades, **sort)
    whole = RangeMetrics(repo, conn, book, trades)
    expected = list(RangeMetrics(repo, conn, sorted_book, sorted_trades).rows())
    assert list(whole.rows()) == expected
    probed_book = repo.probe_order(conn, "book", 250)
    probed_trades = repo.probe_order(conn, "trades")
    assert probed_book is not None and probed_trades is not None
    edges = [None, *probed_book.sample_ns[3::7], None]
    got, rejected, volume = [], [], {}
    for start, end in pairwise(edges):
        part = RangeMetrics(repo, conn, probed_book, probed_trades, start, end)
        rows = list(part.rows())
        got += [(*r[:3], r[3] + volume.get(r[6], 0.0), *r[4:]) for r in rows]
        rejected += part.rejects
        for name, value in part.signed_volume.items():
            volume[name] = volume.get(name, 0.0) + value
    assert [r[0] for r in got] == [r[0] for r in expected]
    assert [r[3] for r in got] == pytest.approx([r[3] for r in expected], abs=1e-9)
    unparseable = [(t, i) for t, i, why in rejected if "timestamp" in why]
    assert len(unparseable) == len(set(unparseable)) == book.unparseable + trades.unparseable
    conn.close()


@pytest.mark.parametrize(
    ("jitter_ms", "tables", "workers", "sharding"),
    [
        (100, ("book", "trades"), 1, ("--shard-rows", 97)),
        (100, ("book", "trades"), 2, ("--shards", 37)),
        (3_000, ("book",), 2, ("--shard-rows", 250)),
        (3_000, ("trades",), 4, ("--shard-rows", 61)),
        (3_000, ("book", "trades"), 4, ("--shards", 64)),
    ],
)
def test_coordinator_reads_jittered_ids_by_widened_ranges(
    tmp_path: Path,
    jitter_ms: int,
    tables: tuple[str, ...],
    workers: int,
    sharding: tuple[str, int],
) -> None:
    source = write_jittered_recording(
        tmp_path / "src.db", 6_000, jitter_ms=jitter_ms, tables=tables, unparseable_every=503
    )
    ref = _reference(tmp_path, source)
    got = tmp_path / "got.db"
    shutil.copy(source, got)
    done = run_coord("--workers", workers, *sharding, "--log-level", "INFO", got, timeout=120)
    assert done.returncode == 0, done.stderr
    assert not [text for text in FALLBACKS if text in done.stderr], done.stderr
    assert_metrics_equal(ref, got)
    assert read_rejects(got) == read_rejects(ref)


def test_a_killed_run_on_jittered_ids_resumes(tmp_path: Path) -> None:
    source = write_jittered_recording(tmp_path / "src.db", 20_000, jitter_ms=3_000)
    ref = _reference(tmp_path, source)
    db = tmp_path / "got.db"
    shutil.copy(source, db)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    log = tmp_path / "first.log"
    coord = start_coord(log, "--workers", 2, "--shard-rows", 200, db, tmpdir=scratch)
    try:
        wait_for(lambda: len(committed_shards(db)) >= 5, timeout=60, what="committed shards")
        os.kill(coord.pid, signal.SIGSTOP)
        workers = children(coord.pid)
        kept = committed_shards(db)
        os.kill(coord.pid, signal.SIGKILL)
        coord.wait()
        wait_for(lambda: not any(alive(w) for w in workers), timeout=15, what="orphans")
    finally:
        if coord.poll() is None:
            coord.kill()
    with sqlite3.connect(db) as conn:
        planned = conn.execute("SELECT count(*) FROM metrics_shards").fetchone()[0]
    assert len(kept) < planned, "the run finished before the kill"
    log = tmp_path / "second.log"
    coord = start_coord(log, "--workers", 2, db, tmpdir=scratch)
    assert coord.wait(timeout=120) == 0, log.read_text()
    text = log.read_text()
    assert f"resuming, {len(kept)} of {planned} shards already committed" in text
    assert not [fallback for fallback in FALLBACKS if fallback in text], text
    assert committed_shards(db)[: len(kept)] == kept
    assert_metrics_equal(ref, db)


@pytest.mark.skipif(native.KERNEL is None, reason=str(native.UNAVAILABLE_REASON))
@pytest.mark.parametrize("jitter_ms", [100, 3_000])
def test_the_kernel_reads_jittered_ranges_as_the_python_path(
    tmp_path: Path, jitter_ms: int
) -> None:
    from orderflow.native.shard import KernelRange
    from tests.native.test_range import assert_same

    path = write_jittered_recording(
        tmp_path / "r.db", 6_000, jitter_ms=jitter_ms, unparseable_every=97
    )
    repo = SQLiteOrderflowRepository(path)
    conn = repo.connect()
    book, trades = repo.probe_order(conn, "book", 100), repo.probe_order(conn, "trades")
    assert book is not None and trades is not None and book.margin_ns and trades.margin_ns
    reader = native.KERNEL.Reader(str(path))
    edges = [None, *book.sample_ns[2::5], None]
    for start, end in pairwise(edges):
        ref = RangeMetrics(repo, conn, book, trades, start, end)
        rows = list(ref.rows())
        got = KernelRange(reader, conn, book, trades, start, end).compute()
        assert_same(ref, rows, got)
    conn.close()


def test_a_merged_feed_whose_worst_lag_is_rare_still_resumes_from_probes(tmp_path: Path) -> None:
    """orderflow-synth --jitter-ms 100: rows 1 ms apart swap all the time, rows 100 ms
    apart almost never, so the probes see lags of about 1 ms while the file's worst is
    near 100 ms. The margin's floor covers it: no full scan, same metrics."""
    source = tmp_path / "src.db"
    synth = [sys.executable, "-m", "orderflow.synth.cli", str(source), "--snapshots", "20000"]
    options = ["--levels", "5", "--jitter-ms", "100", "--seed", "3", "--quiet"]
    subprocess.run([*synth, *options], check=True)
    repo = SQLiteOrderflowRepository(source)
    conn = repo.connect()
    for table in ("book", "trades"):
        probed, exact = repo.probe_order(conn, table), repo.scan_order(conn, table)
        assert probed is not None and probed.margin_ns >= exact.margin_ns > 0
    conn.close()
    ref = _reference(tmp_path, source)
    got = tmp_path / "got.db"
    shutil.copy(source, got)
    done = run_coord("--workers", 2, "--log-level", "INFO", got, timeout=180)
    assert done.returncode == 0, done.stderr
    assert not [text for text in FALLBACKS if text in done.stderr], done.stderr
    assert_metrics_equal(ref, got)
