"""The kernel's per-snapshot values against the Python reference.

Best prices and OBI (all levels and a depth cut) must be identical to
``snapshot_metrics`` whenever the kernel accepts a snapshot; a snapshot the kernel
accepts is never one the reference rejects. The order-flow family must equal
``snapshot_values`` (the reference, ``orderflow.core.order_flow``) bit for bit, and
``spec_values`` below, a direct transcription of metrics.md, within 1e-12."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from orderflow import native
from orderflow.core.calculator import InvalidSnapshot, snapshot_metrics, snapshot_values
from orderflow.core.order_flow import ofi_pair
from orderflow.native.shard import KERNEL_COLUMNS
from tests.native.strategies import number_texts, plain_number_texts, side_texts

NAMES = KERNEL_COLUMNS

pytestmark = pytest.mark.skipif(native.KERNEL is None, reason=str(native.UNAVAILABLE_REASON))
kernel = native.KERNEL


def aggregated(levels: list[list[float]], is_bid: bool) -> list[tuple[float, float]]:
    """metrics.md: counted levels (size > 0), equal prices merged, best first."""
    sizes: dict[float, float] = {}
    for level in levels:
        price, size = float(level[0]), float(level[1])
        if size > 0:
            sizes[price] = sizes.get(price, 0.0) + size
    return sorted(sizes.items(), reverse=is_bid)


def imbalance(b: float, a: float) -> float | None:
    return None if b + a == 0 else (b - a) / (b + a)


def spec_values(bids: list, asks: list) -> dict[str, object]:
    """The order-flow family of metrics.md, written out plainly."""
    bl, al = aggregated(bids, True), aggregated(asks, False)
    out: dict[str, object] = {
        "bid_size_1": bl[0][1] if bl else None,
        "ask_size_1": al[0][1] if al else None,
    }
    if bl and al:
        (pb, qb), (pa, qa) = bl[0], al[0]
        out.update(spread=pa - pb, mid=(pb + pa) / 2, weighted_mid=(pb * qa + pa * qb) / (qb + qa))
    else:
        out.update(spread=None, mid=None, weighted_mid=None)
    for n in (1, 5, 10):
        out[f"obi_l{n}"] = imbalance(sum(s for _, s in bl[:n]), sum(s for _, s in al[:n]))
    out["bid_levels"], out["ask_levels"] = bl, al
    return out


def close(a: object, b: object, tol: float = 1e-12) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)  # type: ignore[arg-type]


@given(side_texts(), side_texts(), st.sampled_from([None, None, 1, 2, 5, 1000]))
@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@example('[["100.5","2","0","3"],[100.0,1.0]]', '[[101,"1.5"],["102",0.5,1,2]]', None)
@example("[]", "[]", None)
@example("[[1, 0]]", "[[2, 0]]", 3)
def test_accepted_snapshots_equal_the_reference(bids: str, asks: str, depth: int | None) -> None:
    got = kernel.reduce_sides(bids, asks, depth)
    if got is None:
        return  # declined: the reference decides, whatever it says
    try:
        ref = snapshot_values(bids, asks, depth, 5)
    except InvalidSnapshot as exc:  # pragma: no cover - the failure being tested for
        pytest.fail(f"kernel accepted a snapshot the reference rejects: {exc}")
    assert [got[name] for name in NAMES] == list(ref[:11])
    bid_prices, bid_sizes, ask_prices, ask_sizes = ref[11]
    assert got["bid_levels"] == list(zip(bid_prices, bid_sizes, strict=True))
    assert got["ask_levels"] == list(zip(ask_prices, ask_sizes, strict=True))
    spec = spec_values(json.loads(bids), json.loads(asks))
    for name in ("spread", "mid", "weighted_mid", "obi_l1", "obi_l5", "obi_l10"):
        assert close(got[name], spec[name]), (name, got[name], spec[name])


def plain_side(levels: list[tuple[float, float]], as_text: bool) -> str:
    if as_text:
        return json.dumps([[repr(p), repr(s), "0", "1"] for p, s in levels])
    return json.dumps([[p, s, 0, 1] for p, s in levels])


_price = st.integers(1, 10**7).map(lambda n: n / 100)
_size = st.integers(0, 10**6).map(lambda n: n / 1000)


@given(
    st.lists(st.tuples(_price, _size), max_size=40),
    st.lists(st.tuples(_price, _size), max_size=40),
    st.booleans(),
)
def test_recorder_sides_are_not_declined(bids: list, asks: list, as_text: bool) -> None:
    """What recorders write (4-field levels, numbers or numeric strings) takes the
    fast path, so the kernel is actually used."""
    got = kernel.reduce_sides(plain_side(bids, as_text), plain_side(asks, as_text))
    assert got is not None
    ref = snapshot_metrics(plain_side(bids, as_text), plain_side(asks, as_text))
    assert (got["best_bid"], got["best_ask"], got["obi"]) == ref


@pytest.mark.parametrize(
    "side",
    [
        '[["1"]]',
        '[["1","2","3","4","5"]]',
        '[[["1"],"2"]]',
        '[["-1","2"]]',
        '[["1","NaN"]]',
        '[["1","Infinity"]]',
        "[[1,2]]x",
        '{"a":1}',
        "[[1,2],]",
        '[["1", "\\u0032"]]',
        "[[1\u00a0,2]]",
        "[[null,2]]",
        '[["\u0661","2"]]',
        '[[1,"1e400"]]',
        "",
        "null",
    ],
)
def test_declines_odd_shapes_and_numbers(side: str) -> None:
    assert kernel.reduce_sides(side, "[]") is None
    assert kernel.reduce_sides("[]", side) is None


def test_huge_side_and_many_equal_prices() -> None:
    bids = [[(1000 - i % 700) / 10, 1 + i % 3, 0, 1] for i in range(6000)]
    asks = [[(1010 + i % 500) / 10, 2, 0, 1] for i in reversed(range(6000))]
    got = kernel.reduce_sides(json.dumps(bids), json.dumps(asks), None, 10)
    assert (got["best_bid"], got["best_ask"], got["obi"]) == snapshot_metrics(
        json.dumps(bids), json.dumps(asks)
    )
    spec = spec_values(bids, asks)
    assert [p for p, _ in got["bid_levels"]] == [p for p, _ in spec["bid_levels"][:10]]
    for depth in (1, 7, 5000):
        cut = kernel.reduce_sides(json.dumps(bids), json.dumps(asks), depth)
        assert cut["obi"] == snapshot_metrics(json.dumps(bids), json.dumps(asks), depth)[2]


def test_depth_cut_takes_equal_prices_together() -> None:
    """The depth is counted in prices, not recorded entries (metrics.md: top-N levels
    by price, levels in any order); before, depth 1 took one of the two 100s."""
    for bids in ("[[100, 1], [100, 2], [99, 5]]", "[[99, 5], [100, 2], [100, 1]]"):
        got = kernel.reduce_sides(bids, "[[101, 1], [101, 1], [102, 5]]", 1)
        assert got["obi"] == (3 - 2) / 5 == got["obi_l1"]


def test_hand_computed_family() -> None:
    got = kernel.reduce_sides("[[100, 1], [100, 2], [99, 4]]", "[[101, 3], [102, 1]]")
    assert got["bid_size_1"] == 3.0 and got["ask_size_1"] == 3.0
    assert got["spread"] == 1.0 and got["mid"] == 100.5
    assert got["weighted_mid"] == (100 * 3 + 101 * 3) / 6
    assert got["obi_l1"] == 0.0
    assert got["obi_l5"] == pytest.approx((7 - 4) / 11)
    assert got["bid_levels"] == [(100.0, 3.0), (99.0, 4.0)]
    crossed = kernel.reduce_sides("[[102, 1]]", "[[101, 1]]")
    assert crossed["spread"] == -1.0
    one_sided = kernel.reduce_sides("[[102, 1]]", "[]")
    assert one_sided["mid"] is None and one_sided["ask_size_1"] is None
    assert one_sided["obi_l1"] == 1.0


@pytest.mark.parametrize(
    ("count", "accepted"),
    [
        ("0", True),
        ('"15"', True),
        ("12345678901234567", True),
        ('"9999999999999999999"', True),
        ('"1.5"', True),
        ("2.5e1", True),
        ("01", False),
        ('"01"', False),
        ('"1e400"', False),
        ("99999999999999999999", False),
        ('"-1"', False),
        ('"x"', False),
        ('"3', False),
    ],
)
def test_counts_are_checked_not_parsed(count: str, accepted: bool) -> None:
    """liq_count/order_count values do not matter, only that the reference accepts them."""
    side = f'[["100.5", "2", {count}, {count}]]'
    got = kernel.reduce_sides(side, "[]")
    assert (got is not None) == accepted
    if got is not None:
        assert (got["best_bid"], got["best_ask"], got["obi"]) == snapshot_metrics(side, "[]")


_tick_price = st.integers(990, 1010).map(lambda n: n / 10)
_small_side = st.lists(st.tuples(_tick_price, st.integers(0, 4).map(lambda n: n / 2)), max_size=8)


@settings(deadline=None)  # a deadline measures the neighbours on a shared machine
@given(
    st.lists(st.tuples(st.sampled_from([0, 1]), _small_side, _small_side), max_size=25),
    st.integers(1, 12),
)
def test_order_flow_equals_the_reference(snapshots: list, levels: int) -> None:
    """OFI and MLOFI over a sequence of snapshots of two instruments, bit for bit
    ``order_flow.ofi_pair`` of the reference's ``BookTop``s."""
    codes, rows, counts, want = [], [], [], []
    previous: dict[int, object] = {}
    for code, bids, asks in snapshots:
        b, a = plain_side(bids, True), plain_side(asks, False)
        top = snapshot_values(b, a, None, levels)[11]
        want.append(ofi_pair(previous.get(code), top, levels))  # type: ignore[arg-type]
        previous[code] = top
        row = np.zeros(4 * levels)
        for k, part in enumerate(top):
            row[k * levels : k * levels + len(part)] = part
        codes.append(code)
        rows.append(row)
        counts.append((len(top[0]), len(top[2])))
    ofi, mlofi = kernel.order_flow(
        np.array(codes, "<i4"),
        np.array(rows, "<f8").reshape(-1, 4 * levels),
        np.array(counts, np.uint8).reshape(-1, 2),
        levels,
    )
    got = zip(np.frombuffer(ofi).tolist(), np.frombuffer(mlofi).tolist(), strict=True)
    assert [(None if o != o else o, None if m != m else m) for o, m in got] == want


_count_texts = st.one_of(
    st.integers(0, 10**21).map(str),
    st.text(alphabet="0123456789", min_size=1, max_size=21),
    st.sampled_from(["1.5", "2e1", "-1", "x", "", "1 "]),
)


@st.composite
def _recorder_level(draw: st.DrawFn) -> str:
    """A level in (or one byte away from) the form the kernel reads fastest:
    `["price","size","count","count"]`, numbers bare or quoted, ", " or ",", any
    number text in any place."""
    price = draw(st.one_of(plain_number_texts(), number_texts))
    size = draw(st.one_of(plain_number_texts(), number_texts))
    counts = draw(st.lists(_count_texts, max_size=3))
    sep = draw(st.sampled_from([",", ", ", ",  "]))
    quote = draw(st.sampled_from(['"', '"', ""]))
    elements = [f"{quote}{e}{quote}" for e in (price, size, *counts)]
    return "[" + sep.join(elements) + "]"


@given(st.lists(_recorder_level(), min_size=1, max_size=6), st.lists(_recorder_level(), max_size=3))
@settings(max_examples=800, suppress_health_check=[HealthCheck.too_slow])
@example(['["43250.0","0.591","0","15"]'], [])
@example(['["12345678.1234567","1.2345678"]', "[1,2]"], [])
@example(['["123456789.1","1"]', '["1.123456789","1","0123"]'], [])
@example(['["0.00000001","99999999","9999999999999999","0"]'], ["[0.5,1e1]"])
@example(['["1","2","01"]'], [])
@example(["[1,2,0,007]"], [])
def test_recorder_levels_equal_the_reference(bids: list, asks: list) -> None:
    """The level fast path (short numbers, recorder punctuation) against the
    reference wherever a level sits in a side, its end included."""
    b, a = "[" + ",".join(bids) + "]", "[" + ", ".join(asks) + "]"
    got = kernel.reduce_sides(b, a)
    try:
        ref = snapshot_values(b, a, None, 5)
    except InvalidSnapshot:
        assert got is None
        return
    if got is None:
        return  # declined: the reference decides
    assert [got[name] for name in NAMES] == list(ref[:11])
    bid_prices, bid_sizes, ask_prices, ask_sizes = ref[11]
    assert got["bid_levels"] == list(zip(bid_prices, bid_sizes, strict=True))
    assert got["ask_levels"] == list(zip(ask_prices, ask_sizes, strict=True))


@given(st.lists(st.tuples(plain_number_texts(), plain_number_texts()), min_size=1, max_size=30))
def test_recorder_levels_are_accepted(levels: list) -> None:
    side = json.dumps([[p, s, "0", "12"] for p, s in levels])
    got = kernel.reduce_sides(side, "[]")
    assert got is not None
    assert (got["best_bid"], got["obi"]) == snapshot_metrics(side, "[]")[::2]
