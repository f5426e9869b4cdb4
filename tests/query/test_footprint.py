"""Footprint cells and volume profiles from DuckDB equal a direct Python computation.

The reference below follows metrics.md "Aggregates over time" word by word on a
plain list of trades; hand-computed cases pin the edge rules (ties, the ratio at
equality, a zero side, gaps between bins), hypothesis covers the rest, and the
Dataset is checked on a generated recording against its raw trade rows.
"""

from __future__ import annotations

import itertools
import math
import sqlite3
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.core.calculator import trade_sign
from orderflow.core.heatmap import price_bins
from orderflow.core.timestamps import parse_instant_ns
from orderflow.pipeline.range_metrics import trade_reject_reason
from orderflow.query import Dataset
from orderflow.query.footprint import infer_tick, nice_bin_width, query_footprint
from orderflow.query.volume_profile import query_volume_profile
from orderflow.store.schema import INPUT_DDL

Trade = tuple[int, float, float, int]
"""(ts_ns, price, size, sign)"""


def price_bin(price: float, tick: float) -> int:
    """floor(price / tick) read as decimal arithmetic means (a relative 1e-12 nudge,
    at most a quarter bin: orderflow.core.heatmap.price_bins)."""
    q = price / tick
    return math.floor(q + min(abs(q) * 1e-12, 0.25))


def trades_connection(trades: list[Trade], instrument: str = "X") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    table = pa.table(
        {
            "id": pa.array(range(len(trades)), pa.int64()),
            "instrument": pa.array([instrument] * len(trades), pa.string()),
            "ts_ns": pa.array([t[0] for t in trades], pa.int64()),
            "price": pa.array([t[1] for t in trades], pa.float64()),
            "size": pa.array([t[2] for t in trades], pa.float64()),
            "sign": pa.array([t[3] for t in trades], pa.int32()),
        }
    )
    con.register("raw", table)
    con.execute("CREATE TABLE trades AS SELECT * FROM raw")
    return con


def reference_footprint(trades: list[Trade], window: int, tick: float, ratio: float) -> list:
    """Rows (ts_ns, bin, buy, sell, delta, total, poc, buy_imb, sell_imb) by the spec."""
    cells: dict[int, dict[int, list[float]]] = {}
    for ts, price, size, sign in trades:
        candle = cells.setdefault(ts // window * window, {})
        cell = candle.setdefault(price_bin(price, tick), [0.0, 0.0])
        cell[0 if sign == 1 else 1] += size
    out = []
    for ts in sorted(cells):
        candle = cells[ts]
        best = max(b + s for b, s in candle.values())
        poc = min(j for j, (b, s) in candle.items() if b + s == best)
        for j in sorted(candle):
            buy, sell = candle[j]
            up_buy = candle.get(j + 1, [0.0, 0.0])[0]
            buying = min(up_buy, sell) > 0 and up_buy >= ratio * sell
            selling = min(up_buy, sell) > 0 and sell >= ratio * up_buy
            out.append((ts, j, buy, sell, buy - sell, buy + sell, j == poc, buying, selling))
    return out


def reference_profile(trades: list[Trade], tick: float) -> tuple[int, int, int] | None:
    """(poc, value-area low, high): a dense walk over every bin from lowest to highest."""
    volume: dict[int, float] = {}
    for _, price, size, _ in trades:
        j = price_bin(price, tick)
        volume[j] = volume.get(j, 0.0) + size
    if not volume:
        return None
    first, last = min(volume), max(volume)
    dense = [volume.get(j, 0.0) for j in range(first, last + 1)]
    poc = dense.index(max(dense))  # index() finds the first, i.e. lowest price, on a tie
    lo = hi = poc
    held = dense[poc]
    while held < 0.7 * sum(volume.values()) and (lo > 0 or hi < len(dense) - 1):
        up = dense[hi + 1] if hi < len(dense) - 1 else -1.0
        down = dense[lo - 1] if lo > 0 else -1.0
        if up >= down:
            hi += 1
            held += up
        else:
            lo -= 1
            held += down
    return first + poc, first + lo, first + hi


def footprint_rows(con: duckdb.DuckDBPyConnection, window: int, tick: float, ratio: float = 3.0):
    table = query_footprint(con, "trades", "X", -(10**18), 10**18, window, tick, ratio)
    return [tuple(r.values()) for r in table.to_pylist()]


def test_hand_computed_footprint() -> None:
    s = 10**9
    trades = [
        (1 * s, 100.0, 2.0, 1),
        (2 * s, 100.5, 6.0, -1),  # same bin 100 at tick 1
        (3 * s, 101.0, 18.0, 1),  # buy(101) = 3 x sell(100): buying imbalance at 100
        (4 * s, 101.0, 1.0, -1),
        (5 * s, 102.0, 3.0, 1),  # buy(102) = 3 x sell(101): buying imbalance at 101
        (6 * s, 104.0, 10.0, -1),  # sell(104) >= 3 x buy(105): selling imbalance at 104
        (7 * s, 105.0, 2.0, 1),
        (8 * s, 106.0, 5.0, 1),  # sell(106) = 0: no imbalance though 4 >= 3 x 0
        (9 * s, 107.0, 4.0, 1),
        (61 * s, 200.0, 5.0, 1),  # next candle: a tie between 200 and 201
        (62 * s, 201.0, 5.0, -1),
    ]
    got = footprint_rows(trades_connection(trades), 60 * s, 1.0)
    m = 60 * s
    assert got == [
        (0, 100, 2.0, 6.0, -4.0, 8.0, False, True, False),
        (0, 101, 18.0, 1.0, 17.0, 19.0, True, True, False),
        (0, 102, 3.0, 0.0, 3.0, 3.0, False, False, False),
        (0, 104, 0.0, 10.0, -10.0, 10.0, False, False, True),
        (0, 105, 2.0, 0.0, 2.0, 2.0, False, False, False),
        (0, 106, 5.0, 0.0, 5.0, 5.0, False, False, False),
        (0, 107, 4.0, 0.0, 4.0, 4.0, False, False, False),
        (m, 200, 5.0, 0.0, 5.0, 5.0, True, False, False),
        (m, 201, 0.0, 5.0, -5.0, 5.0, False, False, False),
    ]
    # a stricter ratio drops the imbalances at equality, keeps the 10 vs 2 one
    flags = [(r[1], r[7], r[8]) for r in footprint_rows(trades_connection(trades), m, 1.0, 4.0)]
    assert [(j, b, s) for j, b, s in flags if b or s] == [(104, False, True)]


def test_candles_before_1970_are_epoch_aligned(tmp_path: Path) -> None:
    """A trade at 1969-12-31T23:30 belongs to the candle [-1 h, 0), not [0, 1 h): DuckDB's
    ``//`` truncates toward zero, which put it in the candle after its own (before:
    footprint candle 0 held it, and the volume profile of [0, 1 h) counted it)."""
    hour = 3600 * 10**9
    trades = [
        (-hour // 2, 100.0, 1.0, 1),
        (hour // 2, 101.0, 2.0, 1),
        (-3 * hour // 2, 103.0, 8.0, -1),
    ]
    got = footprint_rows(trades_connection(trades), hour, 1.0)
    assert got == reference_footprint(trades, hour, 1.0, 3.0)
    assert [(r[0], r[1]) for r in got] == [(-2 * hour, 103), (-hour, 100), (0, 101)]
    path = tmp_path / "old.db"
    stamps = ["1969-12-31T23:30:00Z", "1970-01-01T00:30:00Z", "1969-12-31T22:30:00Z"]
    with sqlite3.connect(path) as conn:
        conn.executescript(INPUT_DDL)
        conn.executemany(
            "INSERT INTO trades (instrument, trade_id, price, size, side, timestamp)"
            " VALUES ('X', 't', ?, ?, ?, ?)",
            [
                (p, s, "buy" if sign == 1 else "sell", t)
                for (_, p, s, sign), t in zip(trades, stamps, strict=True)
            ],
        )
    with Dataset(path) as dataset:
        assert dataset.volume_profile("X", 0, hour, 1.0).bins == [101]
        assert dataset.volume_profile("X", -hour, hour, 1.0).bins == [100, 101]
        assert dataset.candles("X", -2 * hour, hour, hour)["ts_ns"].to_pylist() == [
            -2 * hour,
            -hour,
            0,
        ]


def test_hand_computed_profile() -> None:
    con = trades_connection(
        [(0, 10.0, 1.0, 1), (0, 11.0, 3.0, -1), (0, 12.0, 10.0, 1), (0, 13.0, 3.0, 1),
         (0, 14.0, 2.0, -1)]
    )  # fmt: skip
    p = query_volume_profile(con, "trades", "X", 0, 1, 1.0)
    # 70% of 19 is 13.3: POC 12 (10); 13 and 11 tie at 3, the higher goes first (13),
    # then 11 (3) beats 14 (2): 16 >= 13.3
    assert (p.poc, p.value_area_low, p.value_area_high) == (12, 11, 13)
    assert p.bins == [10, 11, 12, 13, 14] and p.total == [1.0, 3.0, 10.0, 3.0, 2.0]
    assert p.buy == [1.0, 0.0, 10.0, 3.0, 0.0] and p.sell == [0.0, 3.0, 0.0, 0.0, 2.0]
    # a gap is a bin of volume 0: from 12 the walk takes 13 (1 > 0), then crosses 11 to 10
    gap = trades_connection([(0, 10.0, 5.0, 1), (0, 12.0, 10.0, 1), (0, 13.0, 1.0, -1)])
    p = query_volume_profile(gap, "trades", "X", 0, 1, 1.0)
    assert (p.poc, p.value_area_low, p.value_area_high) == (12, 10, 13)
    # a POC tie goes to the lower price; nothing traded: no POC
    tie = trades_connection([(0, 7.0, 2.0, 1), (0, 9.0, 2.0, -1)])
    assert query_volume_profile(tie, "trades", "X", 0, 1, 1.0).poc == 7
    empty = query_volume_profile(tie, "trades", "X", 5, 6, 1.0)
    assert (empty.bins, empty.poc, empty.value_area_low) == ([], None, None)


# Sizes in quarters sum exactly in any order, so POC ties are real ties on both sides.
_trade = st.tuples(
    st.integers(0, 3 * 60 * 10**9),
    st.floats(90.0, 110.0, allow_nan=False),
    st.integers(0, 400).map(lambda q: q / 4),
    st.sampled_from([1, -1]),
)


@settings(max_examples=150, deadline=None)
@given(
    trades=st.lists(_trade, max_size=60),
    tick=st.sampled_from([0.1, 0.25, 1.0, 2.5, 0.01]),
    ratio=st.sampled_from([1.5, 3.0, 4.0]),
)
def test_footprint_matches_reference(trades: list[Trade], tick: float, ratio: float) -> None:
    window = 60 * 10**9
    got = footprint_rows(trades_connection(trades), window, tick, ratio)
    assert got == reference_footprint(trades, window, tick, ratio)


@settings(max_examples=150, deadline=None)
@given(trades=st.lists(_trade, max_size=60), tick=st.sampled_from([0.1, 0.5, 1.0, 3.0]))
def test_profile_matches_reference(trades: list[Trade], tick: float) -> None:
    p = query_volume_profile(trades_connection(trades), "trades", "X", 0, 10**18, tick)
    want = reference_profile(trades, tick)
    assert (None if p.poc is None else (p.poc, p.value_area_low, p.value_area_high)) == want
    if want is not None:
        held = sum(t for b, t in zip(p.bins, p.total, strict=True)
                   if p.value_area_low <= b <= p.value_area_high)  # fmt: skip
        assert held >= 0.7 * sum(p.total)


def valid_trades(path: Path, instrument: str) -> list[Trade]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT instrument, price, size, side, timestamp FROM trades")
        out = []
        for inst, price, size, side, stamp in rows:
            ts = parse_instant_ns(stamp)
            if (
                inst == instrument
                and ts is not None
                and not trade_reject_reason(inst, price, size, side)
            ):
                out.append((ts, float(price), float(size), trade_sign(side)))
    return out


@pytest.mark.parametrize("instrument", ["BTC-USDT", "ETH-USDT"])
def test_dataset_footprint_and_profile_on_a_recording(synth_db: Path, instrument: str) -> None:
    trades = valid_trades(synth_db, instrument)
    with Dataset(synth_db) as dataset:
        tick = dataset.tick(instrument)
        prices = sorted({t[1] for t in trades})
        assert tick == round(min(b - a for a, b in itertools.pairwise(prices)), 10)
        lo, hi = dataset.extent(instrument)
        bin_width = nice_bin_width(tick, prices[-1] - prices[0], 40)
        cells = dataset.footprint(instrument, lo, hi + 1, 10 * 10**9, bin_width).to_pylist()
        profile = dataset.volume_profile(instrument, lo, hi + 1, bin_width)
    want = reference_footprint(trades, 10 * 10**9, bin_width, 3.0)
    got = [tuple(r.values()) for r in cells]
    assert [g[:2] + g[6:] for g in got] == [w[:2] + w[6:] for w in want]
    for g, w in zip(got, want, strict=True):  # the recordings' decimal sizes: float sums
        assert g[2:6] == pytest.approx(w[2:6], rel=1e-9, abs=1e-9)
    assert any(r["buy_imbalance"] or r["sell_imbalance"] for r in cells)
    assert (profile.poc, profile.value_area_low, profile.value_area_high) == reference_profile(
        trades, bin_width
    )
    assert len({r["ts_ns"] for r in cells}) > 10


def test_grid_prices_keep_their_bin() -> None:
    """43250.1 / 0.1 is 432500.99999999994 in binary: still bin 432501."""
    con = trades_connection([(0, 43250.1, 1.0, 1), (0, 0.3, 2.0, -1)])
    assert [r[1] for r in footprint_rows(con, 60 * 10**9, 0.1)] == [3, 432501]


def test_trade_prices_near_the_largest_double_give_a_tick_not_an_error() -> None:
    """``round`` raised OverflowError at the 15th digit of such a price."""
    con = trades_connection([(0, 0.0, 1.0, 1), (1, 1.7976931348623151e308, 1.0, -1)])
    assert infer_tick(con, "trades", "X") == 1.7976931348623151e308


def test_infer_tick_and_nice_bins() -> None:
    con = trades_connection([(0, 43250.1, 1.0, 1), (0, 43250.0, 1.0, 1), (0, 43251.5, 1.0, -1)])
    assert infer_tick(con, "trades", "X") == 0.1
    assert infer_tick(trades_connection([(0, 5.0, 1.0, 1)]), "trades", "X") is None
    assert nice_bin_width(0.1, 10.0, 100) == 0.1
    assert nice_bin_width(0.1, 10.0, 40) == 0.5
    assert nice_bin_width(0.01, 300.0, 60) == 5.0


@pytest.mark.parametrize(
    ("price", "tick"), [(10_000.0, 1e-8), (43_250.1, 0.1), (0.7 + 0.1, 0.1), (-3.5, 0.5)]
)
def test_footprint_and_profile_bins_are_the_heatmap_bins(price: float, tick: float) -> None:
    """A price lands in the same bin on every aggregate: the heatmap's ``price_bins``
    (whose nudge is capped, so 10000.0 at tick 1e-8 stays in bin 10^12)."""
    want = int(price_bins(np.array([price]), tick)[0])
    con = trades_connection([(0, price, 1.0, 1)])
    cells = query_footprint(con, "trades", "X", 0, 10**9, 10**9, tick, 3.0)
    assert cells["bin"].to_pylist() == [want]
    profile = query_volume_profile(con, "trades", "X", 0, 10**9, tick)
    assert (profile.bins, profile.poc) == ([want], want)
