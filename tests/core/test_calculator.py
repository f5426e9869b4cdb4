"""Every per-snapshot clause of metrics.md, with hand-computed expectations."""

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderflow.core.calculator import (
    InvalidSnapshot,
    MetricCalculator,
    decode_side,
    obi_from_totals,
    snapshot_metrics,
    snapshot_values,
    summarize_side,
)
from orderflow.core.models import BookSnapshot, OrderbookLevel, Trade


def metrics(bids, asks, depth=None):
    return snapshot_metrics(json.dumps(bids), json.dumps(asks), depth)


def test_numeric_strings_numbers_and_two_element_levels_mix() -> None:
    best_bid, best_ask, obi = metrics(
        [["100.5", "2", "0", "3"], [100.0, 1.0]], [[101, "1.5"], ["102", 0.5, 1, 2]]
    )
    assert (best_bid, best_ask) == (100.5, 101.0)
    assert obi == pytest.approx((3.0 - 2.0) / 5.0, abs=1e-15)


def test_levels_in_any_order() -> None:
    best_bid, best_ask, _ = metrics([[99, 1], [101, 1], [100, 1]], [[105, 1], [103, 1], [104, 1]])
    assert (best_bid, best_ask) == (101.0, 103.0)


def test_zero_size_levels_do_not_count() -> None:
    best_bid, best_ask, obi = metrics([[101, 0], [100, 2]], [[102, 0], [103, 2], [104, 2]])
    assert (best_bid, best_ask) == (100.0, 103.0)
    assert obi == pytest.approx((2 - 4) / 6, abs=1e-15)


def test_empty_side_gives_null_best_and_obi_from_other_side() -> None:
    assert metrics([], [[101, 2]]) == (None, 101.0, -1.0)
    assert metrics([[100, 3]], [[101, 0]]) == (100.0, None, 1.0)


def test_obi_null_when_nothing_counts() -> None:
    assert metrics([], []) == (None, None, None)
    assert metrics([[100, 0]], [[101, 0]]) == (None, None, None)


def test_depth_limits_to_top_levels_by_price() -> None:
    bids = [[98, 5], [100, 1], [99, 2], [101, 0]]  # counted by price: 100, 99, 98
    asks = [[103, 1], [102, 4], [104, 8]]  # 102, 103, 104
    _, _, obi = metrics(bids, asks, depth=2)
    assert obi == pytest.approx(((1 + 2) - (4 + 1)) / (3 + 5), abs=1e-15)
    _, _, obi_all = metrics(bids, asks)
    assert obi_all == pytest.approx((8 - 13) / 21, abs=1e-15)


def test_depth_counts_equal_prices_as_one_level_whatever_their_order() -> None:
    """metrics.md: the depth is the top N levels by price and levels may come in any
    order, so entries sharing a price are in or out of the cut together (before: the
    first recorded of two entries at 100 made the top level alone, so depth 1 gave
    B = 1 or B = 2 by recorded order)."""
    asks = [[101, 1], [101, 1], [102, 5]]
    for bids in ([[100, 1], [100, 2], [99, 5]], [[99, 5], [100, 2], [100, 1]]):
        assert metrics(bids, asks, depth=1)[2] == (3 - 2) / 5
        assert metrics(bids, asks, depth=2)[2] == (8 - 7) / 15
        assert metrics(bids, asks, depth=1)[2] == snapshot_values(
            json.dumps(bids), json.dumps(asks)
        )[8]  # obi_l1, the same top level


@pytest.mark.parametrize(
    ("bids", "reason"),
    [
        ([[100, -1]], "negative"),
        ([[-100, 1]], "negative"),
        ([["NaN", 1]], "NaN or infinite"),
        ([[100, "Infinity"]], "NaN or infinite"),
        ([[100, 1, "abc", 2]], "not a JSON array of numeric levels"),
        ([[100, 1, 0, None]], "not a JSON array of numeric levels"),
        ([[100]], "not a JSON array of numeric levels"),
        ({"price": 100}, "not a JSON array of numeric levels"),
    ],
)
def test_bad_level_invalidates_the_snapshot(bids: object, reason: str) -> None:
    with pytest.raises(InvalidSnapshot, match=reason):
        metrics(bids, [[101, 1]])


def test_side_that_is_not_json_is_invalid() -> None:
    with pytest.raises(InvalidSnapshot, match="bids"):
        snapshot_metrics("not json", "[]")
    with pytest.raises(InvalidSnapshot, match="NULL"):
        snapshot_metrics(None, "[]")


def test_calculator_on_models() -> None:
    snap = BookSnapshot(
        id=1,
        instrument="X",
        instant_ns=0,
        bids=[OrderbookLevel(100.0, 3.0), OrderbookLevel(99.0, 1.0)],
        asks=[OrderbookLevel(101.0, 2.0, 1.0, 4.0)],
    )
    assert MetricCalculator.calculate_obi(snap) == pytest.approx(2 / 6)
    assert MetricCalculator.calculate_obi(snap, depth=1) == pytest.approx(1 / 5)
    assert MetricCalculator.best_prices(snap) == (100.0, 101.0)
    trades = [
        Trade(1, "X", 100.0, 2.0, "buy", 0),
        Trade(2, "X", 100.0, 0.5, "sell", 0),
    ]
    assert MetricCalculator.calculate_cvd(10.0, trades) == pytest.approx(11.5)


sizes = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)
prices = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)
levels = st.lists(st.tuples(prices, sizes), max_size=30)


@given(levels, levels, st.one_of(st.none(), st.integers(min_value=1, max_value=40)))
def test_obi_always_within_bounds_or_null(bids, asks, depth) -> None:
    _, _, obi = metrics([list(lv) for lv in bids], [list(lv) for lv in asks], depth)
    b = sum(s for _, s in bids)
    a = sum(s for _, s in asks)
    if depth is None and b + a == 0:
        assert obi is None
    if obi is not None:
        assert -1.0 <= obi <= 1.0
        assert not math.isnan(obi)


trade_lists = st.lists(
    st.tuples(st.sampled_from(["buy", "sell"]), st.floats(0, 1e6, allow_nan=False)), max_size=50
)


@given(trade_lists, st.integers(min_value=0, max_value=50))
def test_cvd_is_additive_over_any_split(raw, cut) -> None:
    trades = [Trade(i, "X", 1.0, size, side, i) for i, (side, size) in enumerate(raw)]
    whole = MetricCalculator.calculate_cvd(0.0, trades)
    first = MetricCalculator.calculate_cvd(0.0, trades[:cut])
    split = first + MetricCalculator.calculate_cvd(0.0, trades[cut:])
    chained = MetricCalculator.calculate_cvd(first, trades[cut:])
    volume = sum(size for _, size in raw)
    assert chained == pytest.approx(whole, abs=1e-9 * max(1.0, volume))
    assert split == pytest.approx(whole, abs=1e-9 * max(1.0, volume))


def spec_metrics(bids, asks):
    """metrics.md read literally, one level at a time, for full-depth snapshots."""
    counted_bids = [(float(p), float(s)) for p, s, *_ in bids if float(s) > 0]
    counted_asks = [(float(p), float(s)) for p, s, *_ in asks if float(s) > 0]
    b = sum(s for _, s in counted_bids)
    a = sum(s for _, s in counted_asks)
    return (
        max((p for p, _ in counted_bids), default=None),
        min((p for p, _ in counted_asks), default=None),
        None if b + a == 0 else (b - a) / (b + a),
    )


def as_text_or_number(draw_text: bool, value: float) -> object:
    return repr(value) if draw_text else value


count_values = st.one_of(st.integers(min_value=0, max_value=500), st.floats(0, 50, allow_nan=False))
four_field_levels = st.lists(
    st.tuples(prices, sizes, count_values, count_values, st.booleans()), max_size=30
)


@given(four_field_levels, four_field_levels)
def test_four_field_sides_match_the_spec_exactly(bids, asks) -> None:
    """The four-field fast path (zero sizes, fractional counts, text and numbers mixed)
    gives the spec's numbers bit for bit."""

    def stored(levels):
        return [
            [as_text_or_number(text, p), as_text_or_number(text, s), c1, str(c2)]
            for p, s, c1, c2, text in levels
        ]

    got = metrics(stored(bids), stored(asks))
    assert got == spec_metrics(stored(bids), stored(asks))


@pytest.mark.parametrize(
    "bids",
    [
        [["100", "-1", "0", "1"]],
        [["-100", "1", "0", "1"]],
        [["100", "1", "x", "1"]],
        [["100", "1e400", "0", "1"]],
        [["100", "1", "0", "1", "extra"], ["99", "2", "0", "1"]],
    ],
)
def test_four_field_fast_path_keeps_the_reference_verdict(bids) -> None:
    """Sides the fast path declines get exactly the general path's answer or reason."""
    asks = [["101", "1", "0", "1"]]

    def outcome(compute):
        try:
            return compute()
        except InvalidSnapshot as exc:
            return str(exc)

    def general_path():
        bid_best, bid_total = summarize_side(decode_side(json.dumps(bids), "bids"), "bids")
        ask_best, ask_total = summarize_side(decode_side(json.dumps(asks), "asks"), "asks")
        return bid_best, ask_best, obi_from_totals(bid_total, ask_total)

    assert outcome(lambda: metrics(bids, asks)) == outcome(general_path)


any_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-300, 5e-324, 1e308]),
    st.integers(min_value=-5, max_value=5),
)


def general_outcome(bids_json: str, asks_json: str):
    """The struct path alone (the fast path's fallback), as value or reject reason."""
    try:
        bid_levels, ask_levels = decode_side(bids_json, "bids"), decode_side(asks_json, "asks")
        bid_best, bid_total = summarize_side(bid_levels, "bids")
        ask_best, ask_total = summarize_side(ask_levels, "asks")
    except InvalidSnapshot as exc:
        return str(exc)
    return bid_best, ask_best, obi_from_totals(bid_total, ask_total)


@given(
    st.lists(st.tuples(any_values, any_values, st.booleans()), max_size=8),
    st.lists(st.tuples(any_values, any_values, st.booleans()), max_size=8),
)
def test_fast_path_agrees_with_the_struct_path_on_any_numbers(bids, asks) -> None:
    """Negative, zero, tiny, huge, NaN and infinite values, as text or numbers: the
    four-field fast path either answers exactly as the struct path or leaves it to it."""

    def stored(levels):
        return json.dumps(
            [[repr(p) if t else p, repr(s) if t else s, 0, "1"] for p, s, t in levels]
        )

    try:
        got = snapshot_metrics(stored(bids), stored(asks))
    except InvalidSnapshot as exc:
        got = str(exc)
    assert got == general_outcome(stored(bids), stored(asks))
