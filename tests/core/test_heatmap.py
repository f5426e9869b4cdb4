"""The heatmap accumulator against metrics.md "Aggregates over time", by hand and by property."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.core.heatmap import (
    ASKS,
    BIDS,
    HeatmapAccumulator,
    HeatmapPartials,
    infer_tick,
    merge_partials,
    price_bins,
    tick_from_gap,
)

S = 1_000_000_000


def cells(partials: HeatmapPartials) -> dict[tuple[str, int, int], tuple[int, dict[int, float]]]:
    return {
        (name, bucket, side): (snaps, dict(zip(bins.tolist(), sums.tolist(), strict=True)))
        for name, bucket, side, snaps, bins, sums in partials.rows()
    }


def test_bucket_edges_are_epoch_aligned_and_half_open() -> None:
    acc = HeatmapAccumulator({"X": 1.0}, bucket_ms=1000)
    acc.add("X", S - 1, [10.0], [1.0], [11.0], [2.0])  # last instant of bucket 0
    acc.add("X", S, [10.0], [3.0], [], [])  # first instant of bucket 1, no asks
    acc.add("X", 2 * S - 1, [9.5, 10.2], [1.0, 4.0], [11.0], [1.0])
    acc.add("X", -1, [10.0], [5.0], [11.0], [5.0])  # before 1970: bucket -1
    got = cells(acc.partials())
    assert got[("X", 0, BIDS)] == (1, {10: 1.0})
    assert got[("X", 0, ASKS)] == (1, {11: 2.0})
    # bucket 1: two snapshots; bin 10 holds 3 + 4 (10.2 floors to 10), bin 9 holds 1
    assert got[("X", 1, BIDS)] == (2, {9: 1.0, 10: 7.0})
    assert got[("X", 1, ASKS)] == (2, {11: 1.0})  # the empty side still counts its snapshot
    assert got[("X", -1, BIDS)] == (1, {10: 5.0})
    assert len(got) == 6


def test_a_level_whose_bin_is_no_int64_is_left_out_not_a_crash() -> None:
    """floor(price / tick) of 1e17 at tick 0.01, or of 100 at tick 1e-320, is no int64
    (SQLite's INTEGER): that level has no storable cell, but the snapshot still counts
    and its other levels keep their bins. Before, numpy's cast made such bins
    -2^63 and the run crashed packing them (IndexError) or stored shifted bins."""
    acc = HeatmapAccumulator({"X": 0.01, "Y": 1e-320}, bucket_ms=1000)
    acc.add("X", 0, [100.0], [1.0], [100.01, 1e17], [3.0, 4.0])
    acc.add("Y", 0, [0.0], [1.0], [100.0], [2.0])
    got = cells(acc.partials())
    assert got[("X", 0, BIDS)] == (1, {10_000: 1.0})
    assert got[("X", 0, ASKS)] == (1, {10_001: 3.0})
    assert got[("Y", 0, BIDS)] == (1, {0: 1.0})
    assert got[("Y", 0, ASKS)] == (1, {})


def test_bucket_width_from_the_profile() -> None:
    acc = HeatmapAccumulator({"X": 1.0}, bucket_ms=250)
    for ms in (0, 249, 250, 999, 1000):
        acc.add("X", ms * 1_000_000, [1.0], [1.0], [2.0], [1.0])
    assert sorted({b for _, b, _ in cells(acc.partials())}) == [0, 1, 3, 4]


@pytest.mark.parametrize(
    ("price", "tick", "expected"),
    [
        (0.3, 0.1, 3),  # 0.3 / 0.1 == 2.9999999999999996 in binary
        (43250.3, 0.1, 432503),
        (0.00007, 0.00001, 7),  # 6.999999999999999
        (61728.01, 0.01, 6172801),
        (0.0, 0.5, 0),
        (0.49, 0.5, 0),
        (100.0, 25.0, 4),
        (124.99, 25.0, 4),
        (125.0, 25.0, 5),
        (1e-9, 1e-9, 1),
        (12345678.9, 0.1, 123456789),
    ],
)
def test_bins_on_fractional_and_whole_ticks(price: float, tick: float, expected: int) -> None:
    assert price_bins(np.array([price]), tick).tolist() == [expected]


@pytest.mark.parametrize(
    ("price", "tick", "expected"),
    [
        # float artefacts of prices on an edge land in the edge's bin (the decimal reading)
        (0.1 + 0.2, 0.1, 3),  # 0.30000000000000004
        (0.7 + 0.1, 0.1, 8),  # 0.7999999999999999: 0.8 by arithmetic, 1e-16 below the edge
        (1.4999999999999998, 0.5, 3),  # 1.5 one ulp low; quotient 2.9999999999999996
        (-(0.1 + 0.2), 0.1, -3),
        # a real price (12 significant digits) just below an edge stays below it
        (0.299999999999, 0.1, 2),
        (43250.0999999, 0.1, 432500),
        # negative prices: floor goes down, an edge belongs to the bin above it
        (-0.3, 0.1, -3),  # -2.9999999999999996
        (-0.31, 0.1, -4),
        (-0.25, 0.5, -1),
        (-0.5, 0.5, -1),
        (-0.51, 0.5, -2),
        (-1.13, 0.01, -113),  # -112.99999999999999
        (-0.0, 0.5, 0),
        # fractional ticks
        (1.13, 0.01, 113),  # 112.99999999999999
        (0.57, 0.01, 57),  # 56.99999999999999
        (0.29, 0.01, 29),  # 28.999999999999996
        (1.005, 0.01, 100),  # half a tick in: 100.49999999999999
        (0.5, 0.5, 1),
        (1.49, 0.5, 2),
        (1.5, 0.5, 3),
        # fine ticks under high prices: a relative nudge alone would add a whole bin here
        (1000.00000001, 1e-8, 100_000_000_001),
        (10000.0, 1e-8, 1_000_000_000_000),
        (10000.00000001, 1e-8, 1_000_000_000_001),
    ],
)
def test_prices_on_and_near_bin_edges(price: float, tick: float, expected: int) -> None:
    """Hand-computed: ``floor(price / tick)`` of the decimal price (metrics.md)."""
    assert price_bins(np.array([price]), tick).tolist() == [expected]


def test_artefacts_of_one_grid_price_share_its_cell() -> None:
    acc = HeatmapAccumulator({"X": 0.1}, bucket_ms=1000)
    acc.add("X", 0, [0.1 + 0.2, 0.3, 0.2], [1.0, 2.0, 4.0], [0.7 + 0.1, 0.8], [1.5, 0.5])
    got = cells(acc.partials())
    assert got[("X", 0, BIDS)] == (1, {2: 4.0, 3: 3.0})
    assert got[("X", 0, ASKS)] == (1, {8: 2.0})


def test_every_price_on_a_decimal_grid_lands_in_its_own_bin() -> None:
    for decimals in range(0, 9):
        tick = 10.0**-decimals
        j = np.arange(0, 200_000, 7, dtype=np.int64)
        prices = np.array([float(f"{x * tick:.{decimals}f}") for x in j.tolist()])
        np.testing.assert_array_equal(price_bins(prices, tick), j)


def test_infer_tick_is_the_smallest_gap_between_distinct_prices() -> None:
    assert infer_tick([43250.0, 43250.1, 43250.1, 43251.0]) == 0.1
    assert infer_tick([61728.0, 61728.01, 61730.0]) == 0.01
    assert infer_tick([0.08501, 0.08503, 0.085]) == 0.00001
    assert infer_tick([5.0, 5.0]) is None
    assert infer_tick([]) is None


@given(st.lists(st.floats() | st.sampled_from([0.0, -0.0, 43250.1, 43250.2]), max_size=12))
def test_infer_tick_is_the_least_gap_of_the_distinct_finite_prices(prices: list[float]) -> None:
    distinct = np.unique(np.asarray(prices, dtype=np.float64))
    distinct = distinct[np.isfinite(distinct)]
    tick = infer_tick(prices)
    if len(distinct) < 2:
        assert tick is None
    else:
        gap, top = float(np.diff(distinct).min()), float(np.abs(distinct).max())
        assert tick == tick_from_gap(gap, top)


def test_a_tick_is_its_gap_rounded_at_the_15th_digit_of_the_top_price() -> None:
    assert tick_from_gap(43250.1 - 43250.0, 43250.1) == 0.1
    assert tick_from_gap(1e-9, 43250.0) == 1e-9  # rounds to zero: the gap itself


@given(st.floats(min_value=0.0, allow_infinity=False, exclude_min=True), st.floats())
def test_a_tick_is_positive_for_any_gap_and_top(gap: float, top: float) -> None:
    """Prices near 1.8e308 made ``round`` raise OverflowError (hypothesis found
    [0.0, 1.7976931348623151e+308] in CI): an odd book must not stop a run."""
    assert tick_from_gap(gap, top) > 0


def test_a_price_near_the_largest_double_gives_a_tick_not_an_error() -> None:
    assert infer_tick([0.0, 1.7976931348623151e308]) == 1.7976931348623151e308


def test_the_heatmap_does_not_import_numpy_ma() -> None:
    """``np.unique``'s plain form imports ``numpy.ma`` on its first call in a process
    (84M instructions); neither the workers' accumulator nor the tick inference
    needs it."""
    code = (
        "import sys, numpy as np\n"
        "from orderflow.core.heatmap import HeatmapAccumulator, infer_tick\n"
        "h = HeatmapAccumulator({'A': 0.5, 'B': 0.1})\n"
        "prices, sizes = np.array([100.0, 99.5, 101.0, 101.5]), np.array([1.0, 2.0, 3.0, 4.0])\n"
        "two = np.array([2, 2])\n"
        "h.add_many(['A', 'B'], np.array([0, 1]), np.array([5, 6]), two, prices[:4],"
        " sizes[:4], two, prices[:4], sizes[:4])\n"
        "assert len(h.partials()) == 4 and infer_tick([1.0, 1.5, 1.5]) == 0.5\n"
        "print('numpy.ma' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


snapshot = st.tuples(
    st.integers(-3 * S, 5 * S),
    st.lists(st.tuples(st.integers(0, 60), st.floats(0.001, 100)), max_size=6),
    st.lists(st.tuples(st.integers(0, 60), st.floats(0.001, 100)), max_size=6),
    st.sampled_from(["A", "B"]),
)


def _direct(snaps: list, tick: float, bucket_ns: int) -> dict:
    """Cell means straight from the definition: a dict per (instrument, bucket, side)."""
    members: dict[tuple[str, int], list] = defaultdict(list)
    for ts, bids, asks, name in snaps:
        members[(name, ts // bucket_ns)].append((bids, asks))
    out = {}
    for (name, bucket), group in members.items():
        for side in (BIDS, ASKS):
            per_snapshot = []
            for levels in (g[side] for g in group):
                summed: dict[int, float] = defaultdict(float)
                for price_ticks, size in levels:
                    summed[int(np.floor(price_ticks * tick / tick + 1e-9))] += size
                per_snapshot.append(summed)
            bins = {j for s in per_snapshot for j in s}
            out[(name, bucket, side)] = {
                j: sum(s.get(j, 0.0) for s in per_snapshot) / len(group) for j in bins
            }
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(snapshot, max_size=40), st.sampled_from([0.5, 0.1, 0.25, 2.0]), st.data())
def test_cell_means_equal_a_direct_per_bucket_computation(snaps, tick, data) -> None:
    bucket_ms = data.draw(st.sampled_from([1, 250, 1000]))
    acc = HeatmapAccumulator({"A": tick, "B": tick}, bucket_ms=bucket_ms)
    for ts, bids, asks, name in snaps:
        acc.add(
            name,
            ts,
            [p * tick for p, _ in bids],
            [s for _, s in bids],
            [p * tick for p, _ in asks],
            [s for _, s in asks],
        )
    got = {
        key: {j: v / n for j, v in bins.items()} for key, (n, bins) in cells(acc.partials()).items()
    }
    expected = _direct(snaps, tick, bucket_ms * 1_000_000)
    assert got.keys() == expected.keys()
    for key, bins in expected.items():
        assert got[key].keys() == bins.keys(), key
        for j, mean in bins.items():
            assert got[key][j] == pytest.approx(mean, rel=1e-12), (key, j)


@settings(max_examples=150, deadline=None)
@given(st.lists(snapshot, max_size=40), st.lists(st.integers(0, 40), max_size=5))
def test_split_anywhere_and_merged_equals_one_pass(snaps, cuts) -> None:
    snaps = sorted(snaps, key=lambda s: s[0])
    whole = HeatmapAccumulator({"A": 0.5, "B": 0.5})
    parts = []
    bounds = sorted({0, len(snaps), *[min(c, len(snaps)) for c in cuts]})
    for lo, hi in itertools.pairwise(bounds):
        acc = HeatmapAccumulator({"A": 0.5, "B": 0.5})
        for ts, bids, asks, name in snaps[lo:hi]:
            for a in (acc, whole):
                a.add(
                    name,
                    ts,
                    [p * 0.5 for p, _ in bids],
                    [s for _, s in bids],
                    [p * 0.5 for p, _ in asks],
                    [s for _, s in asks],
                )
        parts.append(acc.partials())
    merged, one = cells(merge_partials(parts)), cells(whole.partials())
    assert merged.keys() == one.keys()
    for key, (n, bins) in one.items():
        assert merged[key][0] == n
        assert merged[key][1].keys() == bins.keys()
        for j, v in bins.items():
            assert merged[key][1][j] == pytest.approx(v, rel=1e-12)


def test_partials_cross_the_wire_and_unknown_instruments_are_skipped() -> None:
    import msgspec

    acc = HeatmapAccumulator({"A": 1.0})
    acc.add("A", 0, [1.0, 2.0], [1.0, 1.0], [3.0], [1.0])
    acc.add("Z", 0, [1.0], [1.0], [3.0], [1.0])
    part = acc.partials()
    back = msgspec.msgpack.decode(msgspec.msgpack.encode(part), type=HeatmapPartials)
    assert cells(back) == cells(part) and part.instruments == ["A"]
    assert len(acc.partials()) == 0  # partials() starts afresh
