"""Drawdown, Sharpe, hit rate and exposure on constructed cases; no look-ahead."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.backtest.engine import CostModel, simulate
from orderflow.backtest.results import closing_pnls, compute_stats, max_drawdown, sharpe_per_day
from orderflow.strategies.batch import MetricsBatch
from orderflow.strategies.builtin import CvdMomentum, ObiThreshold, OfiMomentum

S = 1_000_000_000
MS = 1_000_000


def test_max_drawdown_is_the_largest_fall_from_a_running_peak_including_start():
    assert max_drawdown(np.array([5.0, -3.0, 2.0, -6.0, 1.0])) == 11.0
    assert max_drawdown(np.array([-2.0, -1.0, -4.0])) == 4.0  # peak is the starting 0
    assert max_drawdown(np.array([1.0, 2.0, 3.0])) == 0.0


def test_sharpe_per_day_from_interval_pnl_changes():
    rng = np.random.default_rng(3)
    ts = np.arange(0, 600 * S + 1, 10 * S, dtype=np.int64)  # every 10 s for 10 minutes
    equity = np.cumsum(rng.normal(0.1, 1.0, len(ts)))
    every_minute = equity[::6]  # the sample at each 60 s boundary
    changes = np.diff(every_minute)
    expected = changes.mean() / changes.std(ddof=1) * math.sqrt(1440)
    assert sharpe_per_day(ts, equity, 60.0) == pytest.approx(expected)
    assert sharpe_per_day(ts[:3], equity[:3], 60.0) is None  # under two intervals


def test_hit_rate_counts_closing_fills_with_positive_pnl_net_of_fees():
    qty = np.array([1.0, -1.0, -1.0, 2.0, -1.0])
    price = np.array([100.0, 103.0, 103.0, 101.0, 99.0])
    fee = np.array([1.0, 1.0, 1.0, 0.0, 2.0])
    # long 1 @ 100 (+1 fee: basis 101); sell @ 103 -1 fee -> +1; short 1 @ 103 (-1: 102);
    # buy 2 @ 101: closes 1 -> 102 - 101 = +1, opens long 1 @ 101; sell 1 @ 99 (-2) -> -4
    assert closing_pnls(qty, price, fee) == [1.0, 1.0, -4.0]
    ts = np.arange(6, dtype=np.int64) * S
    b = MetricsBatch.from_columns(
        "X", ts, [0.0] * 6, [0.0] * 6, [90, 102, 103, 100, 99, 99], [100, 103, 104, 101, 100, 100]
    )
    # targets 1, 0, -1, 1, 0 placed at 0..4 fill at 1..5; fees at 10 bps
    sim = simulate(b, np.array([1.0, 0.0, -1.0, 1.0, 0.0, 0.0]), CostModel(fee_bps=10))
    expected = closing_pnls(
        sim.order_qty, sim.fill_price, 0.001 * np.abs(sim.order_qty) * sim.fill_price
    )
    stats = compute_stats(sim)
    assert stats.closing_trades == len(expected) == 3
    assert stats.hit_rate == pytest.approx(sum(p > 0 for p in expected) / 3)


def test_exposure_is_time_weighted_share_with_a_position():
    ts = np.array([0, 1, 2, 10], dtype=np.int64) * S
    b = MetricsBatch.from_columns("X", ts, [0.9, -0.1, 0.0, 0.0], [0] * 4, [1] * 4, [2] * 4)
    sim = simulate(b, ObiThreshold(theta=0.3).on_metrics(b), CostModel())
    # buy fills at 1, sell (placed at 1) fills at 2: long from 1 to 2 = 1 s of 10 s
    assert compute_stats(sim).exposure == pytest.approx(0.1)


def test_cvd_momentum_is_the_sign_of_the_change_over_the_window():
    ts = np.array([0, 30, 60, 61, 90, 130], dtype=np.int64) * S
    cvd = np.array([0.0, 5.0, 2.0, 1.0, -4.0, -4.0])
    b = MetricsBatch.from_columns("X", ts, [0.0] * 6, cvd, [1] * 6, [2] * 6)
    targets = CvdMomentum(window_s=60).on_metrics(b)
    # refs: none, none, row 0 (2-0>0), row 0 (1-0>0), row 1 (-4-5<0), row 3 (t=61 <= 70: -4-1<0)
    assert targets.tolist()[2:] == [1.0, 1.0, -1.0, -1.0]
    assert targets.tolist()[:2] == [0.0, 0.0]


# --- no look-ahead: rewriting the future never changes a fill already made

value = st.floats(-1, 1)
price = st.one_of(st.floats(1, 100), st.just(float("nan")))
row = st.tuples(st.integers(0, 20), value, price, price, st.floats(-50, 50))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(row, min_size=2, max_size=40),
    st.lists(row, min_size=40, max_size=40),
    st.sampled_from(["obi-threshold", "obi-hysteresis", "cvd-momentum", "ofi-momentum"]),
    st.sampled_from([0, 15]),
    st.data(),
)
def test_changing_snapshots_after_a_fill_cannot_change_that_fill(
    rows, replacement, strategy, latency_ms, data
):
    def make(rs):
        steps, obi, bid, ask, dcvd = zip(*rs, strict=True)
        return MetricsBatch.from_columns(
            "X", np.cumsum(steps) * MS, obi, np.cumsum(dcvd), bid, ask, ofi=dcvd
        )

    def fills(b):
        s = {
            "obi-threshold": ObiThreshold(theta=0.3),
            "obi-hysteresis": ObiThreshold(theta=0.3, hysteresis=0.25, min_hold_s=0.02),
            "cvd-momentum": CvdMomentum(window_s=0.03),
            "ofi-momentum": OfiMomentum(window_s=0.03, threshold=5, min_hold_s=0.02),
        }[strategy]
        sim = simulate(b, s.on_metrics(b), CostModel(fee_bps=3, latency_ms=latency_ms))
        ok = sim.filled
        return list(
            zip(
                sim.order_index[ok],
                sim.fill_index[ok],
                sim.order_qty[ok],
                sim.fill_price[ok],
                strict=True,
            )
        )

    original = make(rows)
    made = fills(original)
    if not made:
        return
    _, j, _, _ = made[data.draw(st.integers(0, len(made) - 1))]
    # rewrite every snapshot after j (keeping instants ordered), and the row count
    tail = replacement[: data.draw(st.integers(0, len(rows) + 5))]
    changed = make(list(rows[: j + 1]) + tail)
    before = [f for f in made if f[1] <= j]
    after = [f for f in fills(changed) if f[1] <= j]
    assert after == before
