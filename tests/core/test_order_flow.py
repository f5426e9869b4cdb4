"""Every clause of metrics.md's "order-flow family", with hand-computed expectations.

The reference functions of ``orderflow.core.order_flow`` are checked by hand,
and ``snapshot_values`` (the calculator's fast and general paths over stored
JSON) against those functions on arbitrary sides.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderflow.core.calculator import InvalidSnapshot, snapshot_values
from orderflow.core.ofi_columns import ofi_columns, top_arrays
from orderflow.core.order_flow import (
    aggregate_side,
    book_top,
    flow_values,
    mlofi,
    ofi,
    ofi_pair,
)


def values(bids, asks, top_levels=5, as_text=False):
    """snapshot_values of sides given as lists of [price, size(, counts)] levels."""
    if as_text:
        bids = [[str(x) for x in level] for level in bids]
        asks = [[str(x) for x in level] for level in asks]
    return snapshot_values(json.dumps(bids), json.dumps(asks), None, top_levels)


def top(bids, asks, levels=5):
    """A BookTop from (price, size) pairs given best first."""
    bid_prices, ask_prices = [p for p, _ in bids], [p for p, _ in asks]
    return book_top(bid_prices, [s for _, s in bids], ask_prices, [s for _, s in asks], levels)


# --- spread, mid, weighted mid, top sizes


def test_spread_mid_and_weighted_mid_by_hand() -> None:
    v = values([[100, 3, 0, 1], [99, 5, 0, 1]], [[102, 1, 0, 1], [103, 2, 0, 1]])
    spread, mid, weighted, q_b, q_a = v[3:8]
    assert spread == 2.0 and mid == 101.0
    assert weighted == (100 * 1 + 102 * 3) / (3 + 1) == 101.5  # leans to the ask
    assert (q_b, q_a) == (3.0, 1.0)


def test_crossed_book_keeps_a_negative_spread() -> None:
    v = values([[101, 1], [100, 1]], [[100.5, 1]])
    assert v[3] == -0.5 and v[4] == 100.75


@pytest.mark.parametrize(
    ("bids", "asks", "q_b", "q_a", "obi_l1"),
    [
        ([], [[101, 2]], None, 2.0, -1.0),
        ([[100, 3]], [[101, 0]], 3.0, None, 1.0),  # a zero-size level does not count
        ([], [], None, None, None),
        ([[100, 0]], [[101, 0]], None, None, None),
    ],
)
def test_missing_side_gives_null_prices_and_one_sided_imbalance(bids, asks, q_b, q_a, obi_l1):
    v = values(bids, asks)
    assert v[3:6] == (None, None, None)  # spread, mid, weighted_mid
    assert v[6:8] == (q_b, q_a)
    assert v[8] == v[9] == v[10] == obi_l1


def test_equal_prices_are_one_level_with_the_summed_size() -> None:
    bids = [[100, 1], [99, 4], [100, 2], [98, 1]]  # 100 appears twice: one level of 3
    asks = [[101, 1], [101, 1], [102, 6]]
    v = values(bids, asks)
    assert v[6:8] == (3.0, 2.0)
    assert v[8] == (3 - 2) / 5  # obi_l1 over the merged best levels
    assert v[11] == ((100.0, 99.0, 98.0), (3.0, 4.0, 1.0), (101.0, 102.0), (2.0, 6.0))


def test_zero_sizes_do_not_take_a_rank() -> None:
    bids = [[101, 0], [100, 1], [99, 2]]  # best counted bid is 100
    v = values(bids, [[102, 1]])
    assert v[0] == 100.0 and v[6] == 1.0
    assert v[11][0] == (100.0, 99.0)


def test_obi_levels_cut_at_1_5_and_10_counted_levels() -> None:
    bids = [[100 - i, 1] for i in range(12)]  # 12 levels of 1
    asks = [[101 + i, 1 + i] for i in range(12)]  # sizes 1, 2, 3, ...
    v = values(bids, asks)
    assert v[8] == 0.0  # 1 vs 1
    assert v[9] == (5 - 15) / (5 + 15)  # 5 vs 1+2+3+4+5
    assert v[10] == (10 - 55) / (10 + 55)
    assert v[2] == (12 - 78) / (12 + 78)  # obi over all levels is unchanged


def test_fewer_than_the_depth_uses_all_levels() -> None:
    v = values([[100, 2], [99, 2]], [[101, 1]])
    assert v[9] == v[10] == (4 - 1) / 5
    assert v[8] == (2 - 1) / 3


def test_levels_in_any_order_rank_by_price() -> None:
    shuffled = values([[98, 3], [100, 1], [99, 2]], [[103, 3], [101, 1], [102, 2]], top_levels=2)
    ranked = values([[100, 1], [99, 2], [98, 3]], [[101, 1], [102, 2], [103, 3]], top_levels=2)
    assert shuffled == ranked
    assert shuffled[11] == ((100.0, 99.0), (1.0, 2.0), (101.0, 102.0), (1.0, 2.0))


def test_an_invalid_level_still_rejects_the_snapshot() -> None:
    with pytest.raises(InvalidSnapshot):
        values([[100, -1]], [[101, 1]])


# --- OFI (Cont, Kukanov & Stoikov)

PREV = top([(100.0, 5.0), (99.0, 3.0)], [(101.0, 4.0), (102.0, 6.0)])
BID_CASES = {  # current best bid -> the bid term e_b by hand
    "bid-higher": ((100.5, 2.0), 2.0),  # q_b(n)
    "bid-equal": ((100.0, 7.0), 7.0 - 5.0),  # q_b(n) - q_b(n-1)
    "bid-lower": ((99.5, 1.0), -5.0),  # -q_b(n-1)
}
ASK_CASES = {  # current best ask -> the ask term (subtracted: e = e_b - dV)
    "ask-higher": ((101.5, 2.0), -4.0),  # dV = -q_a(n-1)
    "ask-equal": ((101.0, 1.0), 1.0 - 4.0),  # dV = q_a(n) - q_a(n-1)
    "ask-lower": ((100.8, 3.0), 3.0),  # dV = q_a(n)
}


@pytest.mark.parametrize("ask_case", ASK_CASES)
@pytest.mark.parametrize("bid_case", BID_CASES)
def test_ofi_for_higher_equal_and_lower_best_prices(bid_case: str, ask_case: str) -> None:
    (bid, bid_term), (ask, ask_dv) = BID_CASES[bid_case], ASK_CASES[ask_case]
    cur = top([bid], [ask])
    expected = bid_term - ask_dv
    assert ofi(PREV, cur) == expected
    # The spec's indicator form, written out independently:
    (pb0, qb0), (pa0, qa0), (pb1, qb1), (pa1, qa1) = (100.0, 5.0), (101.0, 4.0), bid, ask
    e = qb1 * (pb1 >= pb0) - qb0 * (pb1 <= pb0) - qa1 * (pa1 <= pa0) + qa0 * (pa1 >= pa0)
    assert e == expected


def test_ofi_is_null_at_the_first_snapshot_and_when_a_side_is_missing() -> None:
    cur = top([(100.0, 1.0)], [(101.0, 1.0)])
    assert ofi(None, cur) is None and mlofi(None, cur, 5) is None
    no_bids = top([], [(101.0, 1.0)])
    no_asks = top([(100.0, 1.0)], [])
    for a, b in ((no_bids, cur), (cur, no_bids), (no_asks, cur), (cur, no_asks)):
        assert ofi_pair(a, b, 5) == (None, None)


def test_mlofi_by_hand_with_fewer_levels_on_one_side() -> None:
    prev = top([(100.0, 5.0), (99.0, 3.0), (98.0, 2.0)], [(101.0, 4.0), (102.0, 6.0)])
    cur = top([(100.0, 6.0), (99.5, 1.0)], [(101.0, 4.0), (102.5, 2.0), (103.0, 1.0)])
    # m=1: bids equal 6-5=1, asks equal dV=0          -> e1 = 1
    # m=2: bid 99.5 > 99: dW = 1; ask 102.5 > 102: dV = -6 -> e2 = 7
    # m=3: cur has 2 bid levels, prev has 2 ask levels: both terms 0
    assert ofi(prev, cur) == 1.0
    assert mlofi(prev, cur, 1) == 1.0
    assert mlofi(prev, cur, 2) == 8.0
    assert mlofi(prev, cur, 3) == 8.0
    # A lower bid at level 2 and a lower ask at level 2:
    later = top([(100.0, 6.0), (99.2, 4.0)], [(101.0, 4.0), (102.0, 5.0)])
    # m=1: 0 - 0; m=2: bid 99.2 < 99.5: -1; ask 102 < 102.5: dV = 5 -> e2 = -6
    assert mlofi(cur, later, 5) == -6.0


def test_ofi_uses_the_merged_best_level() -> None:
    before = values([[100, 1], [100, 1]], [[101, 1]])[11]
    after = values([[100, 5]], [[101, 1], [101, 2]])[11]
    assert ofi(before, after) == (5.0 - 2.0) - (3.0 - 1.0)


sizes = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)
prices = st.integers(min_value=1, max_value=40).map(lambda tick: tick * 0.5)
sides = st.lists(st.tuples(prices, sizes), max_size=12)


def _side_top(levels: list[tuple[float, float]], *, bids: bool) -> tuple[list, list]:
    return aggregate_side([p for p, _ in levels], [s for _, s in levels], bids=bids)


@given(sides, sides, sides, sides)
def test_mlofi_with_one_level_equals_ofi(b0, a0, b1, a1) -> None:
    prev = book_top(*_side_top(b0, bids=True), *_side_top(a0, bids=False), 5)
    cur = book_top(*_side_top(b1, bids=True), *_side_top(a1, bids=False), 5)
    first = ofi(prev, cur)
    assert mlofi(prev, cur, 1) == first
    assert (mlofi(prev, cur, 5) is None) == (first is None)


@given(sides, sides, st.booleans(), st.integers(min_value=1, max_value=8))
def test_calculator_paths_equal_the_reference(bids, asks, as_text, levels) -> None:
    """Four-field levels (the fast path when sorted and positive) and two-field ones
    (the struct path) both give the reference definition's values."""
    ref_bids = _side_top(bids, bids=True)
    ref_asks = _side_top(asks, bids=False)
    expected = (
        *flow_values(*ref_bids, *ref_asks),
        book_top(*ref_bids, *ref_asks, levels),
    )
    four = values([[p, s, 0, 1] for p, s in bids], [[p, s, 0, 1] for p, s in asks], levels, as_text)
    two = values([list(x) for x in bids], [list(x) for x in asks], levels, as_text)
    assert four[3:] == expected
    assert two == four


@given(st.lists(prices, min_size=1, max_size=12, unique=True), st.data())
def test_fast_path_on_sorted_books_equals_the_reference(raw, data) -> None:
    ranked = sorted(raw, reverse=True)
    size_list = data.draw(st.lists(sizes.filter(lambda s: s > 0), min_size=len(ranked),
                                   max_size=len(ranked)))  # fmt: skip
    bids = [[p, s, 0, 1] for p, s in zip(ranked, size_list, strict=True)]
    asks = [[p + 100, s, 0, 1] for p, s in zip(ranked[::-1], size_list, strict=True)]
    got = values(bids, asks)
    ref_b = aggregate_side([b[0] for b in bids], [b[1] for b in bids], bids=True)
    ref_a = aggregate_side([a[0] for a in asks], [a[1] for a in asks], bids=False)
    assert got[3:] == (*flow_values(*ref_b, *ref_a), book_top(*ref_b, *ref_a, 5))


def _bits(value: float | None) -> object:
    return None if value is None or value != value else struct.pack("<d", value)


@given(
    st.lists(st.tuples(st.integers(0, 2), sides, sides), min_size=1, max_size=30),
    st.integers(min_value=1, max_value=6),
)
def test_batch_columns_equal_ofi_pair_bit_for_bit(snapshots, levels) -> None:
    """ofi_columns (the pipeline's batch form) against ofi_pair, row by row, with
    interleaved instruments, empty sides and fewer levels than ``levels``."""
    tops, previous, expected, last = [], [], [], {}
    for instrument, bids, asks in snapshots:
        cur = book_top(*_side_top(bids, bids=True), *_side_top(asks, bids=False), levels)
        before = last.get(instrument, -1)
        expected.append(ofi_pair(tops[before] if before >= 0 else None, cur, levels))
        previous.append(before)
        last[instrument] = len(tops)
        tops.append(cur)
    ofi_col, mlofi_col = ofi_columns(top_arrays(tops, levels), np.array(previous))
    got = list(zip(ofi_col.tolist(), mlofi_col.tolist(), strict=True))
    assert [(_bits(a), _bits(b)) for a, b in got] == [(_bits(a), _bits(b)) for a, b in expected]
