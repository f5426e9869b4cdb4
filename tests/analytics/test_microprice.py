"""Stoikov's estimator on a synthetic chain whose G* is known in closed form."""

from __future__ import annotations

import numpy as np

from orderflow.analytics.microprice import MOVES_TICKS, fit_microprice, state_of

N_IMB = 10
MAX_SPREAD = 2


def _move_probabilities() -> np.ndarray:
    """P(mid change = K[k] | bucket), mirror-symmetric: bucket b moves as -K from n-1-b."""
    lean = (np.arange(N_IMB) + 0.5) / N_IMB - 0.5  # -0.45 .. 0.45
    up = 0.2 * (0.5 + lean)
    down = 0.2 * (0.5 - lean)
    # columns follow MOVES_TICKS = (-1, -0.5, +0.5, +1): whole ticks twice as often
    return np.column_stack([down * 2 / 3, down / 3, up / 3, up * 2 / 3])


def test_g_star_of_a_chain_with_a_closed_form() -> None:
    """States are drawn afresh each step (uniform buckets and spreads, a symmetric
    law), and the mid moves by K with the bucket's probabilities. The expected
    mid change before the next move from any fresh state is 0 by symmetry, so
    G1(b) = sum_k K[k] p_k(b), every later term of the series vanishes, and
    G*(b, s) = G1(b) for both spreads."""
    rng = np.random.default_rng(5)
    steps = 400_000
    bucket = rng.integers(0, N_IMB, steps)
    spread = rng.integers(0, MAX_SPREAD, steps)
    probs = _move_probabilities()
    cum = np.cumsum(probs, axis=1)
    u = rng.random(steps)
    k = (u[:, None] >= cum[bucket]).sum(axis=1)  # 0..3 a move, 4 none
    change = np.where(k < 4, MOVES_TICKS[np.minimum(k, 3)], 0.0)
    mid = np.concatenate([[0.0], np.cumsum(change[:-1])])  # the move happens after state t
    fit = fit_microprice(bucket, spread, mid, N_IMB, MAX_SPREAD)
    expected = probs @ MOVES_TICKS
    assert fit.observations == steps - 1
    assert fit.samples.sum() == steps - 1
    for s in range(MAX_SPREAD):
        np.testing.assert_allclose(fit.g_star_ticks[:, s], expected, atol=0.01)
        np.testing.assert_allclose(fit.g1_ticks[:, s], expected, atol=0.01)
    # symmetrised data: exactly antisymmetric in the bucket
    np.testing.assert_allclose(fit.g_star_ticks, -fit.g_star_ticks[::-1], atol=1e-12)


def test_later_terms_matter_when_the_state_persists() -> None:
    """A persistent chain: the state after a move is the state before it. Each
    move from bucket b is then followed by more moves from b, so the series keeps
    adding: G* differs from G1, yet stays antisymmetric and finite."""
    rng = np.random.default_rng(6)
    steps = 200_000
    # buckets drift slowly: a reflected random walk, changing on 5% of steps
    step = np.where(rng.random(steps) < 0.05, rng.choice([-1, 1], steps), 0)
    bucket = np.clip(np.cumsum(step) % (2 * N_IMB), 0, 2 * N_IMB - 1)
    bucket = np.where(bucket >= N_IMB, 2 * N_IMB - 1 - bucket, bucket)
    probs = _move_probabilities()
    k = (rng.random(steps)[:, None] >= np.cumsum(probs, axis=1)[bucket]).sum(axis=1)
    change = np.where(k < 4, MOVES_TICKS[np.minimum(k, 3)], 0.0)
    mid = np.concatenate([[0.0], np.cumsum(change[:-1])])
    fit = fit_microprice(bucket, np.zeros(steps, dtype=np.int64), mid, N_IMB, 1)
    g1, g_star = fit.g1_ticks[:, 0], fit.g_star_ticks[:, 0]
    assert np.all(np.isfinite(g_star)) and fit.terms > 1
    assert np.all(np.abs(g_star[-3:]) > np.abs(g1[-3:]))  # persistence adds to the lean
    np.testing.assert_allclose(g_star, -g_star[::-1], atol=1e-9)


def test_states_and_dropped_observations() -> None:
    bucket, spread = state_of(
        np.array([1.0, 3.0, 0.0, 1.0]), np.array([1.0, 1.0, 2.0, 0.0]), np.array([1, 2, 1, 4]), 10
    )
    assert bucket.tolist() == [5, 7, 0, 9] and spread.tolist() == [0, 1, 0, 3]
    # a 2-tick mid jump and a spread beyond max are dropped; unseen states are NaN
    fit = fit_microprice(
        np.array([5, 5, 5, 5]), np.array([0, 0, 3, 0]), np.array([0.0, 2.0, 2.0, 2.5]), 10, 2
    )
    assert fit.observations == 0 and np.isnan(fit.g_star_ticks).all()
    assert fit.samples.sum() == 0
