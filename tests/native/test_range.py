"""``KernelRange`` against ``RangeMetrics`` on real SQLite files: the same snapshots,
identical best prices, OBI and CVD (the same float sums), the same rejects with the
same reasons, the same signed volume per instrument, for whole files, shards with
ties on their edges, instrument filters and scans planned from probes."""

from __future__ import annotations

import itertools
import json
import math
import random
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from orderflow import native
from orderflow.core.errors import TableOutOfOrder
from orderflow.pipeline.range_metrics import RangeMetrics
from orderflow.store.input_repository import UNPARSEABLE_REASON, SQLiteOrderflowRepository
from orderflow.store.schema import FLOW_COLUMNS
from tests.coordinator.harness import make_tie_recording
from tests.recordings import write_recording

pytestmark = pytest.mark.skipif(native.KERNEL is None, reason=str(native.UNAVAILABLE_REASON))

if native.KERNEL is not None:
    from orderflow.native.shard import KernelRange


def nan_to_none(x: float) -> float | None:
    return None if math.isnan(x) else x


def run_both(path: Path, bounds=(None, None), *, probe: bool = False, **kw):
    repo = SQLiteOrderflowRepository(path)
    conn = repo.connect()
    if probe:
        book_scan = repo.probe_order(conn, "book", every=7)
        trade_scan = repo.probe_order(conn, "trades", every=7)
    else:
        book_scan = repo.scan_order(conn, "book")
        trade_scan = repo.scan_order(conn, "trades")
    ref = RangeMetrics(repo, conn, book_scan, trade_scan, *bounds, **kw)
    ref_rows = list(ref.rows())
    reader = native.KERNEL.Reader(str(path))
    got = KernelRange(reader, conn, book_scan, trade_scan, *bounds, **kw).compute()
    conn.close()
    return ref, ref_rows, got


def assert_same(ref, ref_rows, got) -> None:
    assert got.ids.tolist() == [r[0] for r in ref_rows]
    assert got.ns.tolist() == [r[7] for r in ref_rows]
    offsets = got.timestamp_offsets.tolist()
    texts = [got.timestamps[a:b].decode() for a, b in itertools.pairwise(offsets)]
    assert texts == [str(r[1]) for r in ref_rows]
    assert [got.names[c] for c in got.codes] == [r[6] for r in ref_rows]
    v = got.values
    assert [nan_to_none(x) for x in v["obi"].tolist()] == [r[2] for r in ref_rows]
    assert v["cvd"].tolist() == [r[3] for r in ref_rows]
    assert [nan_to_none(x) for x in v["best_bid"].tolist()] == [r[4] for r in ref_rows]
    assert [nan_to_none(x) for x in v["best_ask"].tolist()] == [r[5] for r in ref_rows]
    for k, name in enumerate(FLOW_COLUMNS):
        assert [nan_to_none(x) for x in v[name].tolist()] == [r[8 + k] for r in ref_rows], name
    assert got.heads_and_tails() == (ref.heads, ref.tails)
    assert sorted(got.rejects) == sorted(ref.rejects)
    assert got.signed_volume == ref.signed_volume
    assert got.trades == ref.trades


def test_tie_recording_whole_and_sharded(tmp_path: Path) -> None:
    path = tmp_path / "ties.db"
    make_tie_recording(path, shuffle_ids=False)
    assert_same(*run_both(path))
    _, rows, _ = run_both(path)
    instants = sorted({r[7] for r in rows})
    cuts = [None, *instants[:: max(1, len(instants) // 7)][1:], None]
    for lo, hi in itertools.pairwise(cuts):
        assert_same(*run_both(path, (lo, hi)))


def test_instrument_filter_and_depth(tmp_path: Path) -> None:
    path = tmp_path / "ties.db"
    make_tie_recording(path, shuffle_ids=False)
    assert_same(*run_both(path, instruments=["ETH-USDT", "SOL-USDT"]))
    assert_same(*run_both(path, depth=2))


def ordered_recording(path: Path, seed: int = 9) -> Path:
    """Both tables in time order, ties within and across instruments, mixed units,
    some timestamps that do not parse and some bad rows."""
    rng = random.Random(seed)
    books, trades = [], []
    t = 1_709_251_200_000
    for step in range(600):
        t += rng.choice([0, 1, 1, 3])
        for _ in range(rng.randint(1, 3)):
            bids = [[str(100 - k / 2), str(rng.randint(0, 4) / 2), "0", "1"] for k in range(5)]
            asks = [[100.5 + k / 2, rng.randint(0, 4) / 2] for k in range(5)]
            if step % 61 == 3:
                bids[1][1] = "NaN"
            stamp = [str(t), str(t * 1000), f"{t / 1000:.3f}"][step % 3]
            if step % 83 == 5:
                stamp = "garbage"
            books.append((rng.choice(["A", "B"]), json.dumps(bids), json.dumps(asks), stamp))
        for _ in range(rng.randint(0, 2)):
            side = rng.choice(["buy", "sell", "Sell"]) if step % 71 else "hold"
            stamp = str(t) if step % 97 != 11 else "never"
            trades.append((rng.choice(["A", "B"]), 100.0, rng.randint(1, 8) / 4, side, stamp))
    return write_recording(path, books, trades)


def test_probed_scan_reports_unparseable_rows_of_its_range(tmp_path: Path) -> None:
    path = ordered_recording(tmp_path / "ordered.db")
    _, rows, _ = run_both(path)
    instants = sorted({r[7] for r in rows})
    cuts = [None, *instants[:: max(1, len(instants) // 5)][1:], None]
    reported = []
    for bounds in itertools.pairwise(cuts):
        ref, ref_rows, got = run_both(path, bounds, probe=True)
        assert_same(ref, ref_rows, got)
        reported += [r for r in ref.rejects if r[2] == UNPARSEABLE_REASON]
    assert reported, "the file was meant to have unparseable timestamps"


def test_probed_scan_out_of_order_raises_like_the_reference(tmp_path: Path) -> None:
    # 10,000 rows and the late one at id 1,650: no probe reads it (not a sample, and
    # outside the runs of rows probe_order reads to measure how far ids lag).
    books = [("X", [[1, 1]], [[2, 1]], str(1_709_251_200_000 + i)) for i in range(10_000)]
    books[1_649] = ("X", [[1, 1]], [[2, 1]], str(1_709_251_100_000))
    path = write_recording(tmp_path / "late.db", books, [("X", 1, 1, "buy", "1709251200005")])
    repo = SQLiteOrderflowRepository(path)
    conn = repo.connect()
    book_scan = repo.probe_order(conn, "book", every=100)
    trade_scan = repo.probe_order(conn, "trades", every=100)
    with pytest.raises(TableOutOfOrder) as ref_err:
        list(RangeMetrics(repo, conn, book_scan, trade_scan).rows())
    reader = native.KERNEL.Reader(str(path))
    with pytest.raises(TableOutOfOrder) as got_err:
        KernelRange(reader, conn, book_scan, trade_scan).compute()
    assert (got_err.value.table, got_err.value.row_id) == (
        ref_err.value.table,
        ref_err.value.row_id,
    )


def test_declined_rows_go_to_the_reference_in_order(tmp_path: Path) -> None:
    """Odd cells among plain ones: INTEGER and REAL timestamps, BLOB and NULL sides,
    5-element and nested levels, escapes, non-ASCII instruments, text sizes, bad
    sides; results and reasons must match row for row."""
    rng = random.Random(5)
    t0 = 1_709_251_200_000
    odd_sides = [
        None,
        "[[1,2,3,4,5]]",
        '[["1e400", 1]]',
        '[["\\u0031", "2"]]',
        "[[[1], 2]]",
        '[["NaN", 1]]',
        '[[1, "-2"]]',
        "[[12345678901234567890, 1]]",
        '[["0.1000000000000000055511151231257827", 1]]',
        "not json",
    ]
    books, trades = [], []
    for i in range(400):
        name = rng.choice(["BTC", "ETH", "ÉTH", None] if i % 37 == 0 else ["BTC", "ETH"])
        bids = [[str(100 - k / 2), str(rng.randint(0, 4) / 4), "0", "2"] for k in range(6)]
        asks = [[100.5 + k / 2, rng.randint(0, 4) / 4] for k in range(6)]
        ts: object = str(t0 + i * 3)
        if i % 11 == 0:
            ts = t0 + i * 3  # INTEGER cell
        if i % 29 == 0:
            ts = (t0 + i * 3) / 1000  # REAL cell
        b: object = json.dumps(bids)
        if i % 13 == 0:
            b = rng.choice(odd_sides)
        books.append((i + 1, name, b, json.dumps(asks), ts))
        for _ in range(rng.randint(0, 2)):
            price: object = rng.choice([100.0, "100.5", 101, "1e2", " 7", "-1", None, "nan"])
            size: object = rng.choice([0.5, "0.25", 2, "1e-05", "x", -1.0, 2**62, "1.5e300"])
            side = rng.choice(["buy", "sell", "BUY", "Sell", "hold", None])
            trades.append((rng.choice(["BTC", "ETH", "ÉTH"]), price, size, side, str(t0 + i * 3)))
    path = write_recording(tmp_path / "odd.db", books, trades)
    with sqlite3.connect(path) as conn:  # BLOB sides, which the reference decodes too
        conn.execute("UPDATE book SET bids = CAST(bids AS BLOB) WHERE id % 17 = 0")
    ref, ref_rows, got = run_both(path)
    assert ref.rejects, "the file was meant to have rejects"
    assert_same(ref, ref_rows, got)


def test_order_flow_columns_follow_the_spec(tmp_path: Path) -> None:
    t0 = 1_709_251_200_000
    books = [
        ("X", [[100, 2], [99, 1]], [[101, 3], [102, 1]], str(t0)),
        ("Y", [[10, 1]], [[11, 1]], str(t0)),
        ("X", [[100, 5], [99, 1]], [[101, 1], [102, 2]], str(t0 + 1)),  # equal prices
        ("X", [[100.5, 1], [100, 5]], [[100.9, 2], [101, 1]], str(t0 + 2)),  # both improve
        ("X", [], [[100.9, 2]], str(t0 + 3)),  # bid side missing
        ("X", [[99, 4]], [[101, 2]], str(t0 + 4)),
    ]
    path = write_recording(tmp_path / "ofi.db", books, [])
    _, _, got = run_both(path)
    ofi = [nan_to_none(x) for x in got.values["ofi"].tolist()]
    mlofi = [nan_to_none(x) for x in got.values["mlofi"].tolist()]
    # X2 vs X1: bid equal: 5 - 2; ask equal: -(1 - 3); e = 3 + 2 = 5
    # X3 vs X2: bid higher: +1; ask lower: -2; e = 1 - 2 = -1
    assert ofi == [None, None, 5.0, -1.0, None, None]
    # level 2 of X2 vs X1: bids 99: 1 - 1 = 0; asks 102: -(2 - 1) = -1 -> mlofi 5 - 1
    # level 2 of X3 vs X2: bids 100 > 99: +5; asks 101 < 102: -1 -> -1 + 5 - 1
    assert mlofi == [None, None, 4.0, 3.0, None, None]
    assert np.array_equal(got.counts[0], [2, 2])
