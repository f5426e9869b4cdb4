"""Stoikov's micro-price (2018), fitted over a recording as metrics.md describes.

The micro-price is the limit of expected future mids given the current state,
``microprice = mid + G*(I, S)``, where the state is the top-of-book imbalance
``I = Q_b / (Q_b + Q_a)`` in ``n`` buckets and the spread ``S`` in ticks
(1..``max_spread``; larger, locked or crossed spreads are dropped). The paper's
construction, on consecutive observations (x_t, x_t+1, dM = mid change in ticks):

- the data are symmetrised: each observation also counts mirrored, bucket
  ``b -> n-1-b`` for both states and ``dM -> -dM``;
- ``Q`` (states x states): transitions without a mid change; ``R1`` (states x
  K): mid changes by ``K = (-1, -0.5, 0.5, 1)`` ticks; ``R2`` (states x
  states): transitions with a mid change; each row of ``[Q | R]`` normalised to
  sum 1 (observations whose mid moves by more than a tick, or not by a
  half-tick multiple, are dropped, as in the paper);
- ``G1 = (I - Q)^-1 R1 K`` (the expected mid change at the next move),
  ``B = (I - Q)^-1 R2`` (the state right after it), and
  ``G* = G1 + B G1 + B^2 G1 + ...`` summed until the terms vanish (the paper
  stops at six; symmetrised data make the series converge to its limit).

States never observed get no estimate (NaN) and a sample size of 0, as do states
from which no observed path leads to a mid change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MOVES_TICKS", "MicropriceFit", "fit_microprice", "state_of"]

MOVES_TICKS = np.array([-1.0, -0.5, 0.5, 1.0])
"""The mid changes K of the paper, in ticks."""
MAX_TERMS = 10_000
TOLERANCE = 1e-12


@dataclass(frozen=True)
class MicropriceFit:
    """G*(I, S) in ticks, per imbalance bucket (rows) and spread 1..max_spread (columns)."""

    n_imbalance: int
    max_spread: int
    g_star_ticks: np.ndarray
    """(n_imbalance, max_spread) adjustment in ticks; NaN for unobserved states."""
    g1_ticks: np.ndarray
    """(n_imbalance, max_spread) first-order adjustment G1 in ticks."""
    samples: np.ndarray
    """(n_imbalance, max_spread) observations starting in each state, before symmetrising."""
    observations: int
    """Observations used (before symmetrising)."""
    terms: int
    """Terms of the series G1 + B G1 + ... summed."""


def state_of(
    bid_size: np.ndarray, ask_size: np.ndarray, spread_ticks: np.ndarray, n_imbalance: int
) -> tuple[np.ndarray, np.ndarray]:
    """(imbalance bucket 0..n-1, spread index 0..) of each observation; I = Q_b/(Q_b+Q_a)."""
    imbalance = bid_size / (bid_size + ask_size)
    bucket = np.minimum(np.floor(imbalance * n_imbalance), n_imbalance - 1).astype(np.int64)
    return bucket, spread_ticks.astype(np.int64) - 1


def fit_microprice(
    bucket: np.ndarray,
    spread: np.ndarray,
    mid_ticks: np.ndarray,
    n_imbalance: int = 10,
    max_spread: int = 3,
    valid: np.ndarray | None = None,
) -> MicropriceFit:
    """Fit G* from a sequence of observations of one instrument, in time order.

    ``bucket`` (0..n-1) and ``spread`` (0-based: 0 is one tick) are the states,
    ``mid_ticks`` the mid in ticks; ``valid[t]`` False breaks the sequence
    (no transition into or out of observation t).
    """
    n_states = n_imbalance * max_spread
    ok = np.ones(len(bucket), dtype=bool) if valid is None else valid.copy()
    ok &= (spread >= 0) & (spread < max_spread) & (bucket >= 0) & (bucket < n_imbalance)
    pair = ok[:-1] & ok[1:]
    d_mid = np.diff(mid_ticks)
    move = np.rint(d_mid * 2) / 2
    pair &= np.isclose(d_mid, move, atol=1e-6) & (np.abs(move) <= 1.0)
    b0, b1 = bucket[:-1][pair], bucket[1:][pair]
    s0, s1 = spread[:-1][pair], spread[1:][pair]
    dm = move[pair]
    x0, x1 = b0 * max_spread + s0, b1 * max_spread + s1
    samples = np.bincount(x0, minlength=n_states)
    # symmetrised: I -> 1 - I (bucket b -> n-1-b), dM -> -dM
    m0 = (n_imbalance - 1 - b0) * max_spread + s0
    m1 = (n_imbalance - 1 - b1) * max_spread + s1
    x0, x1, dm = np.r_[x0, m0], np.r_[x1, m1], np.r_[dm, -dm]
    still = dm == 0
    q_counts = np.zeros((n_states, n_states))
    np.add.at(q_counts, (x0[still], x1[still]), 1.0)
    r1_counts = np.zeros((n_states, len(MOVES_TICKS)))
    np.add.at(r1_counts, (x0[~still], np.searchsorted(MOVES_TICKS, dm[~still])), 1.0)
    r2_counts = np.zeros((n_states, n_states))
    np.add.at(r2_counts, (x0[~still], x1[~still]), 1.0)
    totals = q_counts.sum(axis=1) + r1_counts.sum(axis=1)
    seen = totals > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.where(seen[:, None], q_counts / totals[:, None], 0.0)
        r1 = np.where(seen[:, None], r1_counts / totals[:, None], 0.0)
        r2 = np.where(seen[:, None], r2_counts / totals[:, None], 0.0)
    # A state can be solved for when a move is reachable from it, now or through
    # states without a move; a closed set of states that never move has no G*.
    solvable = seen & (r1.sum(axis=1) > 0)
    while True:
        grown = solvable | (seen & (q[:, solvable] > 0).any(axis=1))
        if (grown == solvable).all():
            break
        solvable = grown
    g1 = np.full(n_states, np.nan)
    g_star = np.full(n_states, np.nan)
    terms = 0
    if solvable.any():
        idx = np.flatnonzero(solvable)
        inv = np.linalg.pinv(np.eye(len(idx)) - q[np.ix_(idx, idx)])
        g1_s = inv @ r1[idx] @ MOVES_TICKS
        b = inv @ r2[np.ix_(idx, idx)]
        total, term = g1_s.copy(), g1_s
        while terms < MAX_TERMS and np.max(np.abs(term)) >= TOLERANCE:
            term = b @ term
            total += term
            terms += 1
        g1[idx], g_star[idx] = g1_s, total
    shape = (n_imbalance, max_spread)
    return MicropriceFit(
        n_imbalance=n_imbalance,
        max_spread=max_spread,
        g_star_ticks=g_star.reshape(shape),
        g1_ticks=g1.reshape(shape),
        samples=samples.reshape(shape),
        observations=int(pair.sum()),
        terms=terms,
    )
