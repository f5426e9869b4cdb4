"""Fills, fees, latency, NULL sides, limits and PnL on hand-computed cases,
and the engine against a literal per-snapshot reference loop written here."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.backtest.engine import CostModel, simulate
from orderflow.backtest.results import compute_stats
from orderflow.strategies.batch import MetricsBatch
from orderflow.strategies.builtin import ObiThreshold

MS = 1_000_000
nan = float("nan")


def batch(ts_ms, obi, bid, ask, cvd=None) -> MetricsBatch:
    n = len(ts_ms)
    return MetricsBatch.from_columns(
        "X", [t * MS for t in ts_ms], obi, cvd if cvd is not None else [0.0] * n, bid, ask
    )


def run(b: MetricsBatch, theta=0.3, fee_bps=0.0, latency_ms=0.0, limit=1.0):
    targets = ObiThreshold(theta=theta).on_metrics(b)
    return simulate(b, targets, CostModel(fee_bps, latency_ms, limit))


def fills(sim) -> list[tuple[int, int, float, float]]:
    ok = sim.filled
    return list(
        zip(
            sim.order_index[ok].tolist(),
            sim.fill_index[ok].tolist(),
            sim.order_qty[ok].tolist(),
            sim.fill_price[ok].tolist(),
            strict=True,
        )
    )


def test_orders_fill_at_the_next_snapshots_ask_or_bid_and_pnl_marks_to_last_mid():
    b = batch(
        [0, 1, 2, 3],
        obi=[0.5, 0.5, -0.5, 0.0],
        bid=[99, 100, 101, 102],
        ask=[100, 101, 102, 103],
    )
    sim = run(b, fee_bps=10)
    # target 1 at 0 -> buy 1 at ask[1]; target -1 at 2 -> sell 2 at bid[3];
    # target 0 at 3 -> buy 1, no later snapshot: never fills.
    assert fills(sim) == [(0, 1, 1.0, 101.0), (2, 3, -2.0, 102.0)]
    assert sim.order_index.tolist() == [0, 2, 3]
    assert sim.fill_index.tolist() == [1, 3, -1]
    fees = 0.001 * 101 + 0.001 * 2 * 102
    stats = compute_stats(sim)
    assert stats.fees == pytest.approx(fees)
    assert stats.n_trades == 2 and stats.unfilled == 1 and stats.n_orders == 3
    assert stats.final_position == -1.0
    cash = -101 + 204 - fees
    assert stats.pnl == pytest.approx(cash - 1 * (102 + 103) / 2)
    assert sim.position.tolist() == [0, 1, 1, -1]
    assert stats.turnover == pytest.approx(101 + 204)


def test_latency_skips_snapshots_earlier_than_the_delay():
    b = batch(
        [0, 5, 9, 10, 20],
        obi=[0.9, 0.9, 0.9, 0.9, 0.9],
        bid=[1, 2, 3, 4, 5],
        ask=[11, 12, 13, 14, 15],
    )
    assert fills(run(b, latency_ms=10)) == [(0, 3, 1.0, 14.0)]  # first instant >= 0 + 10 ms
    assert fills(run(b, latency_ms=9)) == [(0, 2, 1.0, 13.0)]  # instant exactly at the delay
    assert fills(run(b, latency_ms=0)) == [(0, 1, 1.0, 12.0)]
    assert fills(run(b, latency_ms=21)) == []  # no snapshot late enough: never fills


def test_same_instant_snapshot_is_after_with_zero_latency_only():
    b = batch([0, 0, 1], obi=[0.9, 0.9, 0.9], bid=[1, 2, 3], ask=[11, 12, 13])
    assert fills(run(b, latency_ms=0)) == [(0, 1, 1.0, 12.0)]  # j > i, instant >= instant(i)
    assert fills(run(b, latency_ms=1)) == [(0, 2, 1.0, 13.0)]


def test_null_needed_side_skips_to_the_next_snapshot_that_has_it():
    b = batch(
        [0, 1, 2, 3, 4, 5],
        obi=[0.9, 0.9, -0.9, -0.9, -0.9, -0.9],
        bid=[1, 2, 3, nan, nan, 6],
        ask=[11, nan, nan, 14, 15, 16],
    )
    # buy at 0 needs an ask: 1 and 2 have none -> fills at 3 (14)
    # sell 2 at 2 needs a bid: 3 and 4 have none -> fills at 5 (6)
    assert fills(run(b)) == [(0, 3, 1.0, 14.0), (2, 5, -2.0, 6.0)]


def test_null_obi_keeps_the_previous_target():
    b = batch([0, 1, 2, 3], obi=[0.9, nan, nan, 0.0], bid=[1, 2, 3, 4], ask=[2, 3, 4, 5])
    sim = run(b)
    assert sim.targets.tolist() == [1, 1, 1, 0]
    assert fills(sim) == [(0, 1, 1.0, 3.0)]  # the order at 3 (sell 1) has no later snapshot


def test_position_limit_clamps_targets():
    b = batch([0, 1, 2, 3], obi=[0.9, -0.9, 0.9, 0.9], bid=[1, 2, 3, 4], ask=[2, 3, 4, 5])
    sim = run(b, limit=0.5)
    assert sim.targets.tolist() == [0.5, -0.5, 0.5, 0.5]
    assert fills(sim) == [(0, 1, 0.5, 3.0), (1, 2, -1.0, 3.0), (2, 3, 1.0, 5.0)]
    assert np.abs(sim.position).max() == 0.5


def test_several_orders_can_be_pending_with_latency():
    b = batch(
        [0, 1, 2, 3, 50, 60],
        obi=[0.9, -0.9, 0.9, 0.0, 0.0, 0.0],
        bid=[1, 2, 3, 4, 5, 6],
        ask=[11, 12, 13, 14, 15, 16],
    )
    sim = run(b, latency_ms=40)
    # orders at 0 (+1), 1 (-2), 2 (+2), 3 (-1) are all pending until instant 50
    assert fills(sim) == [
        (0, 4, 1.0, 15.0),
        (1, 4, -2.0, 5.0),
        (2, 4, 2.0, 15.0),
        (3, 4, -1.0, 5.0),
    ]
    assert sim.position.tolist() == [0, 0, 0, 0, 0, 0]


def test_equity_marks_to_mid_and_final_pnl_uses_last_non_null_mid():
    b = batch([0, 1, 2, 3], obi=[0.9, 0.9, 0.9, 0.9], bid=[9, 10, 12, 13], ask=[11, 12, 14, nan])
    sim = run(b, fee_bps=0)
    # buy 1 at ask[1] = 12; mids 10, 11, 13, then NULL (carried: 13)
    assert sim.equity.tolist() == [0.0, -12 + 11, -12 + 13, -12 + 13]
    assert compute_stats(sim).pnl == pytest.approx(1.0)


# --- the literal reference: one snapshot at a time, pending orders in a list


def reference(ts, obi, bid, ask, theta, fee_bps, latency_ns, limit):
    position = cash = fees = 0.0
    pending: list[tuple[int, float]] = []
    target = 0.0
    out = []
    for j in range(len(ts)):
        for order in list(pending):
            i, qty = order
            price = ask[j] if qty > 0 else bid[j]
            if j > i and ts[j] >= ts[i] + latency_ns and not math.isnan(price):
                pending.remove(order)
                position += qty
                fee = fee_bps / 10_000 * abs(qty) * price
                cash -= qty * price + fee
                fees += fee
                out.append((i, j, qty, price))
        if not math.isnan(obi[j]):
            target = 1.0 if obi[j] > theta else (-1.0 if obi[j] < -theta else 0.0)
        target_c = max(-limit, min(limit, target))
        committed = position + sum(q for _, q in pending)
        if target_c != committed:
            pending.append((j, target_c - committed))
    mids = [(b + a) / 2 for b, a in zip(bid, ask, strict=True) if not math.isnan(b + a)]
    held = position * mids[-1] if mids else None  # None: holding with no mid ever
    pnl = cash if position == 0 else (cash + held if held is not None else None)
    return sorted(out), pnl, fees, position


maybe = st.one_of(st.floats(-1, 1), st.just(nan))
price = st.one_of(st.floats(1, 100), st.just(nan))
rows = st.lists(st.tuples(st.integers(0, 30), maybe, price, price), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    rows,
    st.sampled_from([0.0, 0.2, 0.5]),
    st.sampled_from([0, 10, 35]),
    st.sampled_from([0.0, 5.0]),
    st.sampled_from([1.0, 0.5]),
)
def test_engine_matches_the_literal_reference(rows, theta, latency_ms, fee_bps, limit):
    steps, obi, bid, ask = zip(*rows, strict=True)
    ts = np.cumsum(steps).tolist()
    b = batch(ts, list(obi), list(bid), list(ask))
    sim = run(b, theta=theta, fee_bps=fee_bps, latency_ms=latency_ms, limit=limit)
    expected, pnl, fees, position = reference(
        [t * MS for t in ts], obi, bid, ask, theta, fee_bps, latency_ms * MS, limit
    )
    assert sorted(fills(sim)) == expected
    stats = compute_stats(sim)
    assert stats.fees == pytest.approx(fees, abs=1e-9)
    assert stats.final_position == pytest.approx(position)
    if pnl is None:  # holding a position in a market that never had a mid
        assert stats.pnl is None
    else:
        assert stats.pnl == pytest.approx(pnl, abs=1e-6)
