"""Hysteresis and minimum holding time: hand cases, the plain rule as a special case, causality."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.strategies.base import StrategyError, hold_targets
from orderflow.strategies.batch import MetricsBatch
from orderflow.strategies.builtin import ObiThreshold
from orderflow.strategies.signals import hold_at_least, hysteresis_targets

NAN = float("nan")
S = 1_000_000_000


def test_hysteresis_enters_beyond_enter_and_leaves_at_exit() -> None:
    values = [0.1, 0.5, 0.35, 0.25, 0.2, 0.3, -0.1, -0.5, -0.3, NAN, -0.21, 0.5, -0.45]
    expected = [0, 1, 1, 1, 0, 0, 0, -1, -1, NAN, -1, 1, -1]
    np.testing.assert_array_equal(hysteresis_targets(np.array(values), 0.4, 0.2), expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(-1, 1), st.just(NAN)), max_size=60), st.floats(0, 1))
def test_exit_at_enter_is_the_plain_threshold_rule(values: list[float], theta: float) -> None:
    obi = np.array(values, dtype=np.float64)
    plain = np.where(obi > theta, 1.0, np.where(obi < -theta, -1.0, 0.0))
    plain[np.isnan(obi)] = NAN
    np.testing.assert_array_equal(hysteresis_targets(obi, theta, theta), plain)


def test_hysteresis_rejects_an_exit_beyond_enter() -> None:
    with pytest.raises(ValueError, match="exit"):
        hysteresis_targets(np.zeros(3), 0.2, 0.3)
    with pytest.raises(StrategyError, match="hysteresis"):
        ObiThreshold(theta=0.3, hysteresis=0.4)


def test_minimum_hold_delays_changes_to_the_end_of_the_holding_period() -> None:
    ts = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]) * S
    want = np.array([0, 1, -1, -1, 0, 0, 1, 1, 1, 0], dtype=np.float64)
    # +1 at 1 s holds to 4 s: the -1 wanted at 2-3 s is gone by then, 0 is taken at 4 s;
    # it holds to 7 s, when +1 is wanted; that holds to 10 s, past the end.
    np.testing.assert_array_equal(hold_at_least(want, ts, 3.0), [0, 1, 1, 1, 0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(hold_at_least(want, ts, 0.0), want)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.sampled_from([-1.0, 0.0, 1.0])), max_size=60),
    st.floats(0, 10),
)
def test_minimum_hold_keeps_every_position_long_enough_and_is_causal(
    rows: list[tuple[int, float]], hold_s: float
) -> None:
    ts = np.cumsum([step for step, _ in rows]).astype(np.int64) * S
    want = np.array([w for _, w in rows])
    held = hold_at_least(want, ts, hold_s)
    changes = np.flatnonzero(np.diff(held, prepend=0.0) != 0)
    assert all(np.diff(ts[changes]) >= round(hold_s * S))
    assert all(held[changes] == want[changes])  # only ever moves to a wanted position
    for k in range(len(want)):
        np.testing.assert_array_equal(hold_at_least(want[:k], ts[:k], hold_s), held[:k])


def test_obi_threshold_with_hysteresis_and_hold_trades_less() -> None:
    rng = np.random.default_rng(2)
    n = 5000
    obi = np.clip(np.cumsum(rng.normal(0, 0.05, n)) * 0.1 + rng.normal(0, 0.3, n), -1, 1)
    ts = np.arange(n, dtype=np.int64) * 100_000_000
    batch = MetricsBatch.from_columns("X", ts, obi, np.zeros(n), np.ones(n), np.ones(n) * 2)
    flicker = hold_targets(ObiThreshold(theta=0.3).on_metrics(batch))
    calm = hold_targets(ObiThreshold(theta=0.3, hysteresis=0.3, min_hold_s=5).on_metrics(batch))
    assert np.count_nonzero(np.diff(calm)) * 10 < np.count_nonzero(np.diff(flicker))
