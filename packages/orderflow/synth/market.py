"""The generator's market model: one instrument's book, a block of steps at a time.

The book is driven by order flow, and queue depletion moves the price, as in
Cont, Kukanov & Stoikov (2014):

- net order flow per step (positive: bids added or asks taken) accumulates
  into a position ``x`` along the price axis measured in resting volume. Each
  tick holds a capacity of liquidity (lognormal, with occasional walls several
  times larger, fixed per price so they persist as a heatmap shows them); the
  best bid sits at the tick whose capacity ``x`` is currently eating through.
  The bid queue is what has been added at that tick so far, the ask queue what
  remains before the tick is exhausted and the price moves up (symmetrically
  down). So the order-flow imbalance of consecutive snapshots tracks the flow,
  and the flow summed over a second moves the mid in the same direction;
  walls slow the price down.
- flow has a drift from the book imbalance, a mean-reverting AR(1) that also
  tilts resting size towards one side (OBI trends and reverts over ~20 s), and
  a volatility that clusters (log-volatility is AR(1), a stochastic-volatility
  model, so calm and busy stretches alternate);
- the spread is 1 to 3 ticks, persistent, and widens on the thin side;
- levels beyond the best carry the capacity of their price times a depth
  profile and per-snapshot noise.

Every process is linear in its shocks or a function of a cumulative sum, so a
block of steps is a handful of numpy operations (``ar1`` below), not a Python
loop per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["InstrumentMarket", "InstrumentSpec", "MarketBlock", "ar1"]

WALL_PERIOD = 4099
"""Ticks before the capacity pattern repeats (a prime, so walls don't align with round prices)."""
WALL_SHARE = 0.02
"""Share of ticks holding a wall of 4-10x the usual liquidity."""
IMBALANCE_PERSISTENCE = 0.995
"""AR(1) coefficient per step: at 100 ms steps an imbalance lasts ~20 s, so OBI
trends and reverts the way real books do rather than flickering."""
IMBALANCE_NOISE = 0.03
"""Per-step shock; with the persistence above the imbalance's spread is ~0.3."""
IMBALANCE_DRIFT = 0.25
"""Mean flow per step (in tick capacities) at imbalance 1: heavy bids push the price up."""
LOG_VOL_PERSISTENCE = 0.998
LOG_VOL_NOISE = 0.04
"""Log-volatility shocks: its stationary spread is ~0.6, so busy stretches are ~3x calm ones."""
SPREAD_PERSISTENCE = 0.9
SPREAD_NOISE = 0.25
QUEUE_BASE_PERSISTENCE = 0.97


@dataclass(frozen=True)
class InstrumentSpec:
    """An instrument's price grid, sizes and typical activity."""

    name: str
    mid: float
    tick: float
    price_decimals: int
    size_scale: float
    """Mean resting size of one tick's liquidity, in base units."""
    ticks_per_step: float
    """Typical flow per step in tick capacities: small-tick books (BTC) move several
    ticks per step, large-tick ones (DOGE) rarely leave the same tick."""


@dataclass(frozen=True)
class MarketBlock:
    """A block of consecutive snapshots of one instrument."""

    bid_prices: np.ndarray
    """(steps, levels) int64, price in units of 10^-price_decimals; level 0 is the best."""
    ask_prices: np.ndarray
    bid_size_milli: np.ndarray
    """(steps, levels) int64, size in thousandths of a base unit."""
    ask_size_milli: np.ndarray
    order_counts: np.ndarray
    """(2, steps, levels) orders per level, bids then asks."""
    imbalance: np.ndarray
    """(steps,) the imbalance state in [-0.95, 0.95]."""
    flow_shock: np.ndarray
    """(steps,) the standardised flow shock: positive when buyers were active."""


def ar1(phi: float, shocks: np.ndarray, start: float) -> np.ndarray:
    """``x[t] = phi * x[t-1] + shocks[t]`` with ``x[-1] = start``, without a Python loop.

    ``x[t] = phi^(t+1) * (start + sum_s phi^-(s+1) * shocks[s])``, evaluated over
    segments short enough that phi^-n stays far from overflow.
    """
    out = np.empty(len(shocks))
    segment = max(1, int(200 * math.log(10) / -math.log(phi))) if 0 < phi < 1 else 1
    x = start
    for lo in range(0, len(shocks), segment):
        part = shocks[lo : lo + segment]
        powers = phi ** np.arange(1, len(part) + 1)
        out[lo : lo + len(part)] = powers * (x + np.cumsum(part / powers))
        x = out[lo + len(part) - 1]
    return out


class InstrumentMarket:
    """One instrument's state between blocks; ``block(n)`` advances it n steps."""

    def __init__(self, spec: InstrumentSpec, levels: int, rng: np.random.Generator):
        self.spec = spec
        self.levels = levels
        self._rng = rng
        capacity = rng.lognormal(0.0, 0.35, WALL_PERIOD)
        walls = rng.random(WALL_PERIOD) < WALL_SHARE
        capacity[walls] *= rng.uniform(4.0, 10.0, int(walls.sum()))
        self._capacity = capacity
        self._cum = np.cumsum(capacity)
        self._tick_units = round(spec.tick * 10**spec.price_decimals)
        self._base_tick = round(spec.mid / spec.tick)
        self._x = float(capacity[0]) / 2
        self._imbalance = 0.0
        self._log_vol = 0.0
        self._spread_state = 0.0
        self._queue_state = (0.0, 0.0)
        self._depth = 1.0 + 0.08 * np.arange(1, levels)

    def _locate(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Tick index (relative to the start) whose capacity ``x`` lies in, and its bounds."""
        total = self._cum[-1]
        period = np.floor(x / total)
        rest = x - period * total
        within = np.minimum(np.searchsorted(self._cum, rest, side="right"), WALL_PERIOD - 1)
        lower = period * total + np.where(within > 0, self._cum[within - 1], 0.0)
        upper = period * total + self._cum[within]
        return period.astype(np.int64) * WALL_PERIOD + within, lower, upper

    def block(self, steps: int) -> MarketBlock:
        rng = self._rng
        shocks = rng.standard_normal((6, steps))
        raw_imb = ar1(IMBALANCE_PERSISTENCE, IMBALANCE_NOISE * shocks[0], self._imbalance)
        self._imbalance = float(raw_imb[-1])
        imb = np.clip(raw_imb, -0.95, 0.95)
        log_vol = ar1(LOG_VOL_PERSISTENCE, LOG_VOL_NOISE * shocks[1], self._log_vol)
        self._log_vol = float(log_vol[-1])
        flow = IMBALANCE_DRIFT * imb + self.spec.ticks_per_step * np.exp(log_vol) * shocks[2]
        x = self._x + np.cumsum(flow)
        self._x = float(x[-1])
        tick, lower, upper = self._locate(x)

        spread_state = ar1(SPREAD_PERSISTENCE, SPREAD_NOISE * shocks[3], self._spread_state)
        self._spread_state = float(spread_state[-1])
        spread = 1 + np.clip(np.floor(spread_state - 0.4) + 1, 0, 2).astype(np.int64)
        retreat = np.where(imb >= 0, 0, spread - 1)  # the thin side gives way
        bid_tick = tick - retreat
        ask_tick = bid_tick + spread

        base_b = ar1(QUEUE_BASE_PERSISTENCE, 0.2 * shocks[4], self._queue_state[0])
        base_a = ar1(QUEUE_BASE_PERSISTENCE, 0.2 * shocks[5], self._queue_state[1])
        self._queue_state = (float(base_b[-1]), float(base_a[-1]))
        best_bid = (x - lower + 0.1 + 0.3 * np.exp(base_b)) * (1 + 0.3 * imb)
        best_ask = (upper - x + 0.1 + 0.3 * np.exp(base_a)) * (1 - 0.3 * imb)

        depth = np.arange(1, self.levels)
        noise = rng.lognormal(0.0, 0.3, (2, steps, self.levels - 1))
        deeper_bid = self._capacity[(bid_tick[:, None] - depth) % WALL_PERIOD]
        deeper_ask = self._capacity[(ask_tick[:, None] + depth) % WALL_PERIOD]
        bid_sizes = np.empty((steps, self.levels))
        ask_sizes = np.empty((steps, self.levels))
        bid_sizes[:, 0] = best_bid
        ask_sizes[:, 0] = best_ask
        bid_sizes[:, 1:] = deeper_bid * self._depth * noise[0] * (1 + imb)[:, None]
        ask_sizes[:, 1:] = deeper_ask * self._depth * noise[1] * (1 - imb)[:, None]

        ladder = np.arange(self.levels)
        unit = self._tick_units
        return MarketBlock(
            bid_prices=(self._base_tick + bid_tick[:, None] - ladder) * unit,
            ask_prices=(self._base_tick + ask_tick[:, None] + ladder) * unit,
            bid_size_milli=self._milli(bid_sizes),
            ask_size_milli=self._milli(ask_sizes),
            order_counts=rng.integers(1, 20, (2, steps, self.levels)),
            imbalance=imb,
            flow_shock=shocks[2],
        )

    def _milli(self, sizes: np.ndarray) -> np.ndarray:
        """Sizes in thousandths of a base unit; the best level never rounds to nothing."""
        milli = np.rint(sizes * self.spec.size_scale * 1000).astype(np.int64)
        milli[:, 0] = np.maximum(milli[:, 0], 1)
        return milli
