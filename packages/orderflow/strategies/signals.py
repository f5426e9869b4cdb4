"""Turning a noisy signal into positions that don't pay fees on every flicker.

A threshold rule on a signal that hovers near its threshold flips position on
every snapshot; each flip is a fill and a fee. Two standard cures, both causal
(the position at row i reads rows 0..i only) and vectorised or walking only
the position changes:

- hysteresis: enter beyond ``enter``, leave only once the signal falls back to
  ``exit`` (a dead band between the two);
- a minimum holding time: after a change, the position stays put for at
  least ``min_hold_s``; a change wanted meanwhile happens at the first
  snapshot after that if it is still wanted then.
"""

from __future__ import annotations

import numpy as np

__all__ = ["hold_at_least", "hysteresis_targets"]

NS_PER_S = 1_000_000_000


def _entered_in_run(inside: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """Where ``inside`` and a ``strong`` row occurred earlier in the same run of ``inside``."""
    index = np.arange(len(inside))
    starts = inside & ~np.r_[False, inside[:-1]]
    run_start = np.maximum.accumulate(np.where(starts, index, -1))
    last_strong = np.maximum.accumulate(np.where(strong & inside, index, -1))
    return inside & (last_strong >= run_start) & (last_strong >= 0)


def hysteresis_targets(values: np.ndarray, enter: float, exit: float) -> np.ndarray:
    """+1 from ``values > enter`` until ``values <= exit``, -1 from ``< -enter`` until ``>= -exit``.

    ``0 <= exit <= enter``; with ``exit == enter`` this is the plain threshold
    rule. NaN values hold the previous target (NaN in the output).
    """
    if not 0 <= exit <= enter:
        raise ValueError(f"hysteresis needs 0 <= exit <= enter, got exit={exit}, enter={enter}")
    v = np.asarray(values, dtype=np.float64)
    valid = ~np.isnan(v)
    w = v[valid]
    long = _entered_in_run(w > exit, w > enter)
    short = _entered_in_run(w < -exit, w < -enter)
    out = np.full(len(v), np.nan)
    out[valid] = np.where(long, 1.0, np.where(short, -1.0, 0.0))
    return out


def hold_at_least(targets: np.ndarray, ts_ns: np.ndarray, min_hold_s: float) -> np.ndarray:
    """``targets`` (no NaN) with each position kept for at least ``min_hold_s`` seconds.

    Walks the changes only: at a wanted change inside a holding period, jump to
    the period's end (by binary search) and take the target wanted there.
    """
    want = np.asarray(targets, dtype=np.float64)
    if min_hold_s <= 0 or len(want) == 0:
        return want.copy()
    hold_ns = round(min_hold_s * NS_PER_S)
    changes = np.flatnonzero(np.diff(want, prepend=0.0) != 0)
    out = np.full(len(want), np.nan)
    out[0] = 0.0
    position, free_at, i = 0.0, np.iinfo(np.int64).min, 0
    while i < len(want):
        if want[i] == position:
            later = np.searchsorted(changes, i, side="right")
            if later == len(changes):
                break
            i = int(changes[later])
            continue
        if ts_ns[i] < free_at:
            i = int(np.searchsorted(ts_ns, free_at, side="left"))
            continue
        position = float(want[i])
        out[i] = position
        free_at = int(ts_ns[i]) + hold_ns
        i += 1
    held = np.where(np.isnan(out), 0, np.arange(len(out)))
    np.maximum.accumulate(held, out=held)
    return out[held]
