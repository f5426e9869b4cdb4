"""The fill simulation: target positions in, fills and an equity curve out.

The rules (``docs/backtest.md`` states them for users; tests check each one):

1. Targets are held (NaN = keep the previous one, 0 before the first) and
   clamped to ±position_limit.
2. At snapshot i, when the target differs from position + pending orders, one
   order for the difference is placed. Since every placed order makes
   position + pending equal the target, orders are placed exactly where the
   held target changes, for the size of the change; several can be pending.
3. An order placed at i fills at the first snapshot j > i with
   instant(j) >= instant(i) + latency whose needed side is not NULL (best ask
   for a buy, best bid for a sell), at that price. Nothing known at i sets the
   price. Orders with no such j never fill.
4. Fee = fee_bps / 10,000 x |quantity| x fill price, paid in cash.
5. Equity at snapshot k = cash + position x mid, with fills at k included and
   mid = (best bid + best ask) / 2 carried forward over NULL mids. Final PnL
   uses the last non-NULL mid.

Everything is array arithmetic: the order placement is ``np.flatnonzero`` on
target changes, the fill search is ``searchsorted`` plus a "next valid index"
table, and positions and cash are ``bincount`` + ``cumsum``. A million
snapshots take tens of milliseconds, so no Python loop over rows exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orderflow.strategies.base import hold_targets
from orderflow.strategies.batch import MetricsBatch

__all__ = ["CostModel", "Simulation", "next_valid_index", "simulate"]

NS_PER_MS = 1_000_000


@dataclass(frozen=True)
class CostModel:
    """Execution costs and limits; units in the names."""

    fee_bps: float = 0.0
    latency_ms: float = 0.0
    position_limit: float = 1.0


@dataclass(frozen=True)
class Simulation:
    """One instrument's backtest. Order arrays cover every order; fill arrays the filled."""

    instrument: str
    ts_ns: np.ndarray  # per snapshot
    targets: np.ndarray  # held, clamped target per snapshot
    position: np.ndarray  # per snapshot, after that snapshot's fills
    cash: np.ndarray  # per snapshot, after that snapshot's fills and fees
    mark: np.ndarray  # mid carried forward; NaN before the first mid
    equity: np.ndarray  # cash + position x mark (cash alone while flat)
    order_index: np.ndarray  # snapshot where each order was placed
    order_qty: np.ndarray  # signed quantity (+ buy, - sell)
    fill_index: np.ndarray  # snapshot of the fill, -1 when never filled
    fill_price: np.ndarray  # NaN when never filled
    fee: np.ndarray  # 0 when never filled

    @property
    def filled(self) -> np.ndarray:
        return self.fill_index >= 0

    @property
    def final_position(self) -> float:
        return float(self.position[-1]) if len(self.position) else 0.0

    @property
    def pnl(self) -> float:
        """Cash + position x the last non-NULL mid."""
        if not len(self.equity):
            return 0.0
        return float(self.equity[-1])


def next_valid_index(valid: np.ndarray) -> np.ndarray:
    """``out[k]`` = smallest index >= k where ``valid`` is True, else len(valid).

    One extra entry at the end (``out[len] = len``) so callers can look up k = len.
    """
    n = len(valid)
    index = np.where(valid, np.arange(n), n)
    out = np.empty(n + 1, dtype=np.int64)
    out[:n] = np.minimum.accumulate(index[::-1])[::-1]
    out[n] = n
    return out


def _forward_fill(values: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(values)
    index = np.where(ok, np.arange(len(values)), 0)
    np.maximum.accumulate(index, out=index)
    filled = values[index]
    if len(values) and not ok[0]:
        filled[: np.argmax(ok) if ok.any() else len(values)] = np.nan
    return filled


def simulate(batch: MetricsBatch, raw_targets: np.ndarray, costs: CostModel) -> Simulation:
    """Run the fill rules above over one instrument's snapshots."""
    n = len(batch)
    ts = batch.ts_ns
    targets = np.clip(hold_targets(raw_targets), -costs.position_limit, costs.position_limit)
    if len(targets) != n:
        raise ValueError(f"strategy returned {len(targets)} targets for {n} snapshots")
    before = np.r_[0.0, targets[:-1]] if n else targets
    order_index = np.flatnonzero(targets != before)
    order_qty = targets[order_index] - before[order_index]

    latency_ns = round(costs.latency_ms * NS_PER_MS)
    earliest = np.searchsorted(ts, ts[order_index] + latency_ns, side="left")
    earliest = np.maximum(earliest, order_index + 1)
    buys = order_qty > 0
    next_ask = next_valid_index(~np.isnan(batch.best_ask))
    next_bid = next_valid_index(~np.isnan(batch.best_bid))
    fill_index = np.where(buys, next_ask[earliest], next_bid[earliest])
    filled = fill_index < n
    fill_index = np.where(filled, fill_index, -1)
    safe = np.where(filled, fill_index, 0)
    fill_price = np.where(
        filled, np.where(buys, batch.best_ask[safe], batch.best_bid[safe]), np.nan
    )
    fee = np.where(filled, costs.fee_bps / 10_000.0 * np.abs(order_qty) * fill_price, 0.0)

    at, qty, price = fill_index[filled], order_qty[filled], fill_price[filled]
    position = np.cumsum(np.bincount(at, weights=qty, minlength=n))
    cash = np.cumsum(np.bincount(at, weights=-qty * price - fee[filled], minlength=n))
    mark = _forward_fill(batch.mid)
    with np.errstate(invalid="ignore"):
        equity = cash + np.where(position != 0, position * mark, 0.0)
    return Simulation(
        batch.instrument,
        ts,
        targets,
        position,
        cash,
        mark,
        equity,
        order_index,
        order_qty,
        fill_index,
        fill_price,
        fee,
    )
