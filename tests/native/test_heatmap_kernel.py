"""The kernel's depth heatmap (``_kernel.Heatmap``) against ``HeatmapAccumulator``.

The same snapshots must give the same partial cells: the same instruments, rows
(instrument, bucket, side), snapshot counts, bins (``price_bins``'s decimal floor
with its 1e-12 nudge, bit for bit) and sums equal up to the order of the float
additions. Both sum each cell's sizes in the order they were added; they may group
the additions differently when a bucket's snapshots were split (ids out of time
order, rows the reference computed), so sums are compared within a relative 1e-12
(positive sizes: any order is within n ulp of the exact sum).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderflow import native
from orderflow.core.heatmap import NS_PER_MS, HeatmapAccumulator, HeatmapPartials
from tests.recordings import write_recording

pytestmark = pytest.mark.skipif(native.KERNEL is None, reason=str(native.UNAVAILABLE_REASON))

NAMES = ["B", "A", "ZZ", "a"]
"""Codes 0..3; sorted by name they are A, B, ZZ, a (the kernel must reorder them)."""
BIN_LIMIT = 2.0**62


def kernel_partials(
    ticks: dict[str, float], bucket_ms: int, snapshots: list[tuple], names: list[str] = NAMES
) -> HeatmapPartials:
    """``snapshots`` (code, ns, bid levels, ask levels) through ``_kernel.Heatmap``."""
    by_code = np.array([ticks.get(name, 0.0) for name in names], "<f8")
    heat = native.KERNEL.Heatmap(by_code, bucket_ms * NS_PER_MS)
    heat.add_many(*_columns(snapshots))
    rank = np.argsort(np.argsort(np.array(names, dtype=object))).astype("<i4")
    codes, *columns = heat.partials(rank)
    return HeatmapPartials([names[c] for c in codes], *columns)


def reference_partials(
    ticks: dict[str, float], bucket_ms: int, snapshots: list[tuple], names: list[str] = NAMES
) -> HeatmapPartials:
    acc = HeatmapAccumulator(ticks, bucket_ms)
    for code, ns, bids, asks in snapshots:
        acc.add(
            names[code],
            ns,
            [p for p, _ in bids],
            [s for _, s in bids],
            [p for p, _ in asks],
            [s for _, s in asks],
        )
    return acc.partials()


def _columns(snapshots: list[tuple]) -> tuple[np.ndarray, ...]:
    out: list[np.ndarray] = [
        np.array([s[0] for s in snapshots], "<i4"),
        np.array([s[1] for s in snapshots], "<i8"),
    ]
    for side in (2, 3):
        out.append(np.array([len(s[side]) for s in snapshots], "<i8"))
        out.append(np.array([p for s in snapshots for p, _ in s[side]], "<f8"))
        out.append(np.array([q for s in snapshots for _, q in s[side]], "<f8"))
    return tuple(out)


def assert_partials_equal(got: HeatmapPartials, want: HeatmapPartials) -> None:
    """Everything identical but the sums, which agree within a relative 1e-12."""
    assert got.instruments == want.instruments
    for name in ("row_instrument", "row_bucket", "row_side", "row_snapshots", "ends", "bins"):
        assert getattr(got, name) == getattr(want, name), name
    got_sums, want_sums = got.columns()[6], want.columns()[6]
    assert len(got_sums) == len(want_sums)
    assert np.all(np.abs(got_sums - want_sums) <= 1e-12 * np.abs(want_sums)), (
        got_sums,
        want_sums,
    )


TICKS = st.sampled_from([0.1, 0.3, 0.25, 0.01, 0.001, 0.07, 1.0, 7.0, 0.5, 1e-8, 123.456])


@st.composite
def heatmap_cases(draw: st.DrawFn) -> tuple[dict[str, float], int, list[tuple]]:
    """Ticks for some instruments, a bucket width, and snapshots in any time order:
    prices on and off each tick's decimal grid (written as a recorder writes them),
    negative and fractional ones, instants on and next to bucket edges (before the
    epoch too), equal and scattered bins, empty sides."""
    ticks = draw(st.dictionaries(st.sampled_from(NAMES), TICKS, min_size=1, max_size=4))
    bucket_ms = draw(st.sampled_from([1, 2, 5, 1000]))
    bucket_ns = bucket_ms * NS_PER_MS
    snapshots = []
    base = draw(st.integers(-3, 3)) * bucket_ns
    for _ in range(draw(st.integers(0, 40))):
        code = draw(st.integers(0, len(NAMES) - 1))
        tick = ticks.get(NAMES[code], 0.1)
        edge = base + draw(st.integers(-4, 4)) * bucket_ns
        ns = edge + draw(st.sampled_from([0, 0, -1, 1, bucket_ns // 2, bucket_ns - 1]))
        sides = []
        for _side in range(2):
            levels = []
            center = draw(st.integers(-2000, 2000))
            for _level in range(draw(st.integers(0, 12))):
                k = center + draw(st.integers(-30, 30))
                kind = draw(st.integers(0, 4))
                if kind == 0:
                    price = k * tick  # binary product: may sit just below the grid
                elif kind == 1:
                    price = float(f"{k * tick:.10g}")  # decimal text on the grid
                elif kind == 2:
                    price = float(f"{k * tick:.10g}") + draw(st.sampled_from([1e-9, -1e-9]))
                elif kind == 3:
                    price = draw(
                        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
                    )  # anywhere: scattered bins
                else:
                    price = (k + draw(st.floats(0, 1, exclude_max=True))) * tick
                size = draw(
                    st.one_of(
                        st.sampled_from([0.1, 0.2, 0.3, 1.0, 1 / 3, 2.5]),
                        st.floats(1e-9, 1e9, allow_nan=False, allow_infinity=False),
                    )
                )
                levels.append((price, size))
            sides.append(levels)
        snapshots.append((code, ns, sides[0], sides[1]))
    return ticks, bucket_ms, snapshots


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(heatmap_cases())
def test_kernel_heatmap_equals_the_reference(case) -> None:
    ticks, bucket_ms, snapshots = case
    got = kernel_partials(ticks, bucket_ms, snapshots)
    want = reference_partials(ticks, bucket_ms, snapshots)
    assert_partials_equal(got, want)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=1, max_size=200), st.booleans())
def test_buckets_revisited_in_any_order(buckets: list[int], one_level: bool) -> None:
    """More buckets than the kernel keeps open, met again and again: their parts merge."""
    snapshots = []
    for i, b in enumerate(buckets):
        bids = [(100.0 + 0.1 * (i % 7), 1 / 3)] if one_level else [(99.9, 0.1), (99.8, 0.2)]
        snapshots.append((i % 2, b * NS_PER_MS + i % 3, bids, [(100.1 + 0.1 * (i % 5), 0.7)]))
    ticks = {"B": 0.1, "A": 0.2}
    assert_partials_equal(
        kernel_partials(ticks, 1, snapshots), reference_partials(ticks, 1, snapshots)
    )


def test_ordered_snapshots_sum_bit_for_bit() -> None:
    """In time order, every cell's sum is the reference's sequential sum exactly."""
    rng = np.random.default_rng(3)
    snapshots = []
    for i in range(3000):
        mid = 1000 + int(rng.integers(-50, 50))
        bids = [(round((mid - k) * 0.1, 1), float(rng.random())) for k in range(1, 26)]
        asks = [(round((mid + k) * 0.1, 1), float(rng.random())) for k in range(1, 26)]
        snapshots.append((i % 2, i * 37 * NS_PER_MS, bids, asks))
    ticks = {"B": 0.1, "A": 0.1}
    got = kernel_partials(ticks, 1000, snapshots)
    want = reference_partials(ticks, 1000, snapshots)
    assert got == want


def test_empty_and_untracked_give_the_reference_empty_partials() -> None:
    assert kernel_partials({"A": 0.1}, 1000, []) == reference_partials({"A": 0.1}, 1000, [])
    only_b = [(0, 5, [(1.0, 1.0)], [])]
    assert kernel_partials({"A": 0.1}, 1000, only_b) == reference_partials({"A": 0.1}, 1000, only_b)


@pytest.mark.parametrize("price", [1e20, 4.7e18, -1e20])
def test_a_bin_out_of_int64_range_declines(price: float) -> None:
    """floor(price / tick) beyond 2^62: the kernel refuses rather than guess numpy's cast."""
    with pytest.raises(ValueError, match="row 1"):
        kernel_partials({"B": 0.001}, 1000, [(0, 0, [(1.0, 1.0)], []), (0, 1, [(price, 1.0)], [])])


def test_bins_right_below_the_limit_are_kept() -> None:
    price = float(BIN_LIMIT) * 0.5  # q = 2^61: an int64, binned exactly
    snapshots = [(0, 0, [(price, 1.0)], [(1.0, 2.0)])]
    assert kernel_partials({"B": 1.0}, 1000, snapshots) == reference_partials(
        {"B": 1.0}, 1000, snapshots
    )


def test_bad_columns_are_refused() -> None:
    heat = native.KERNEL.Heatmap(np.array([0.1], "<f8"), NS_PER_MS)
    i4, i8, f8 = (np.zeros(1, t) for t in ("<i4", "<i8", "<f8"))
    with pytest.raises(ValueError, match="level counts"):
        heat.add_many(i4, i8, np.ones(1, "<i8"), f8[:0], f8[:0], i8, f8[:0], f8[:0])
    with pytest.raises(ValueError, match="different lengths"):
        heat.add_many(i4, i8[:0], i8, f8[:0], f8[:0], i8, f8[:0], f8[:0])
    with pytest.raises(ValueError, match="negative"):
        heat.add_many(-np.ones(1, "<i4"), i8, i8, f8[:0], f8[:0], i8, f8[:0], f8[:0])
    with pytest.raises(ValueError, match="one rank"):
        heat.partials(np.zeros(2, "<i4"))
    with pytest.raises(ValueError, match="positive"):
        native.KERNEL.Heatmap(np.array([0.1], "<f8"), 0)


def test_a_reader_declines_a_snapshot_whose_bin_is_out_of_range(tmp_path: Path) -> None:
    """Through the reader: that snapshot goes to the reference, whose values and heatmap
    join the kernel's; the result is the Python path's. Its 1e20 level has no int64 bin
    at tick 0.001 and no cell (``storable_bins``); the snapshot still counts."""
    from orderflow_services.protocol import Task
    from orderflow_services.worker.native_shard import native_result
    from orderflow_services.worker.shard_compute import compute_shard

    from orderflow.store.input_repository import SQLiteOrderflowRepository
    from orderflow.store.order_index import TimeOrderedReader

    t = 1_709_251_200_000
    books = [
        ("A", json.dumps([[100.0 + i / 10, 1.5]]), json.dumps([[101.0, 2.0]]), str(t + i))
        for i in range(20)
    ]
    books[7] = ("A", json.dumps([[1e20, 1.0]]), json.dumps([[101.0, 2.0]]), str(t + 7))
    path = write_recording(tmp_path / "huge.db", books, [("A", 100.0, 1.0, "buy", str(t))])
    repo = SQLiteOrderflowRepository(path)
    conn = repo.connect()
    scans = repo.scan_order(conn, "book"), repo.scan_order(conn, "trades")
    task = Task(1, str(path), 0, None, None, *scans, None, None, heatmap_ticks={"A": 0.001})
    reader = TimeOrderedReader(repo, conn, None)
    got = native_result(task, reader, conn, lambda: None)
    want = compute_shard(task, reader, conn, use_native=False)
    conn.close()
    assert got is not None and got.heatmap is not None and want.heatmap is not None
    assert_partials_equal(got.heatmap, want.heatmap)
    assert math.isclose(sum(want.heatmap.columns()[6]), 20 * 1.5 - 1.5 + 20 * 2.0)
    assert set(want.heatmap.columns()[3].tolist()) == {20}  # every snapshot counts


def test_windows_that_move_grow_and_turn_sparse_sum_bit_for_bit() -> None:
    """In time order, rows whose prices drift (the kernel's window of bins moves and
    grows), and rows whose bins spread past any window (a far level turns the row's
    side into pairs after its window already holds sums): every cell is still the
    reference's sequential sum exactly."""
    rng = np.random.default_rng(5)
    snapshots = []
    for i in range(600):
        bucket = i // 50
        mid = 100_000 + 40 * i  # drifts 2,000 bins a bucket at tick 0.01
        bids = [(round((mid - k) * 0.01, 2), float(rng.random())) for k in range(1, 30)]
        asks = [(round((mid + k) * 0.01, 2), float(rng.random())) for k in range(1, 30)]
        if bucket % 3 == 1 and i % 50 == 20:  # far levels halfway through the bucket
            bids.append((0.01, 0.5))
            asks.append((1e9, 0.25))
        snapshots.append((i % 2, bucket * 1000 * NS_PER_MS + i, bids, asks))
    ticks = {"B": 0.01, "A": 0.01}
    got = kernel_partials(ticks, 1000, snapshots)
    want = reference_partials(ticks, 1000, snapshots)
    assert got == want
