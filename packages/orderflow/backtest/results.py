"""What a backtest reports per instrument, with every definition stated.

- ``pnl``: cash + position x last non-NULL mid, net of fees (quote currency).
- ``fees``: total fees paid. ``n_trades``: fills. ``n_orders``/``unfilled``: orders
  placed, and those still pending at the end (never filled).
- ``hit_rate``: fraction of closing fills (fills that reduce or flip the
  position) whose realised PnL is > 0. Realised PnL uses average cost with
  fees folded in: entry fees raise a long's cost basis (lower a short's entry
  proceeds), the closing fill's fee is charged to the closed quantity. None
  when nothing was closed.
- ``sharpe_per_day``: equity marked to mid is sampled every
  ``sharpe_interval_s`` (default 60 s) from the first snapshot; the PnL
  changes between samples give mean / std (ddof = 1) x sqrt(86,400 /
  interval). Not annualised. PnL changes stand in for returns on a fixed
  capital, which the ratio does not depend on. None with fewer than two
  intervals or zero variance.
- ``max_drawdown``: largest fall of equity from a running peak, the peak
  including the starting equity 0 (quote currency, >= 0).
- ``turnover``: traded notional, sum of |quantity| x fill price.
- ``exposure``: fraction of the covered time (first to last snapshot) with a
  non-zero position, each snapshot's position holding until the next.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np

from orderflow.backtest.engine import Simulation

__all__ = [
    "SECONDS_PER_DAY",
    "BacktestStats",
    "Trade",
    "closing_pnls",
    "compute_stats",
    "max_drawdown",
    "sharpe_per_day",
    "trades_of",
]

SECONDS_PER_DAY = 86_400
NS_PER_S = 1_000_000_000


class BacktestStats(msgspec.Struct, frozen=True):
    instrument: str
    pnl: float | None
    """None only when a position was held and the instrument never had a mid price."""
    fees: float
    n_trades: int
    final_position: float
    n_orders: int
    unfilled: int
    hit_rate: float | None
    closing_trades: int
    sharpe_per_day: float | None
    max_drawdown: float
    turnover: float
    exposure: float
    snapshots: int
    start_ns: int
    end_ns: int


class Trade(msgspec.Struct, frozen=True):
    """One fill; ``order_ts_ns`` is when it was decided, ``ts_ns`` when it filled."""

    instrument: str
    order_ts_ns: int
    ts_ns: int
    side: str
    quantity: float
    price: float
    fee: float


def trades_of(sim: Simulation) -> list[Trade]:
    ok = sim.filled
    return [
        Trade(
            sim.instrument,
            int(sim.ts_ns[o]),
            int(sim.ts_ns[f]),
            "buy" if q > 0 else "sell",
            float(abs(q)),
            float(p),
            float(fee),
        )
        for o, f, q, p, fee in zip(
            sim.order_index[ok],
            sim.fill_index[ok],
            sim.order_qty[ok],
            sim.fill_price[ok],
            sim.fee[ok],
            strict=True,
        )
    ]


def closing_pnls(qty: np.ndarray, price: np.ndarray, fee: np.ndarray) -> list[float]:
    """Realised PnL of each fill that reduces or flips the position (average cost, fees in)."""
    position, basis = 0.0, 0.0  # basis: per-unit entry value of the open position, fees in
    out = []
    for q, p, f in zip(qty.tolist(), price.tolist(), fee.tolist(), strict=True):
        unit_fee = f / abs(q)
        if position == 0 or (position > 0) == (q > 0):
            # opening or adding: long basis is cost + fee, short basis is proceeds - fee
            entry = p + unit_fee if q > 0 else p - unit_fee
            basis = (basis * abs(position) + entry * abs(q)) / (abs(position) + abs(q))
            position += q
            continue
        closed = min(abs(q), abs(position))
        if position > 0:
            out.append(closed * ((p - unit_fee) - basis))
        else:
            out.append(closed * (basis - (p + unit_fee)))
        position += q
        if abs(q) > closed:  # flipped: the rest opens a new position at this fill
            basis = p + unit_fee if q > 0 else p - unit_fee
    return out


def max_drawdown(equity: np.ndarray) -> float:
    if not len(equity):
        return 0.0
    curve = np.r_[0.0, equity]
    curve = curve[~np.isnan(curve)]
    return float(np.max(np.maximum.accumulate(curve) - curve))


def sharpe_per_day(ts_ns: np.ndarray, equity: np.ndarray, interval_s: float = 60.0) -> float | None:
    """mean / std of PnL per interval, scaled to a day by sqrt(86,400 / interval)."""
    if len(ts_ns) < 2:
        return None
    step = int(interval_s * NS_PER_S)
    bounds = np.arange(int(ts_ns[0]), int(ts_ns[-1]) + 1, step, dtype=np.int64)
    bounds = np.r_[bounds, int(ts_ns[-1])] if bounds[-1] != ts_ns[-1] else bounds
    # equity at or before each boundary (the first boundary is the first snapshot)
    at = np.searchsorted(ts_ns, bounds, side="right") - 1
    sampled = np.nan_to_num(equity[at], nan=0.0)
    changes = np.diff(sampled)
    if len(changes) < 2:
        return None
    std = float(changes.std(ddof=1))
    if std == 0 or not math.isfinite(std):
        return None
    return float(changes.mean()) / std * math.sqrt(SECONDS_PER_DAY / interval_s)


def _exposure(ts_ns: np.ndarray, position: np.ndarray) -> float:
    if len(ts_ns) < 2 or ts_ns[-1] == ts_ns[0]:
        return 0.0
    held = np.diff(ts_ns)
    return float(held[position[:-1] != 0].sum()) / float(ts_ns[-1] - ts_ns[0])


def compute_stats(sim: Simulation, sharpe_interval_s: float = 60.0) -> BacktestStats:
    ok = sim.filled
    qty, price, fee = sim.order_qty[ok], sim.fill_price[ok], sim.fee[ok]
    closes = closing_pnls(qty, price, fee)
    n = len(sim.ts_ns)
    return BacktestStats(
        instrument=sim.instrument,
        pnl=sim.pnl if math.isfinite(sim.pnl) else None,
        fees=float(fee.sum()),
        n_trades=int(ok.sum()),
        final_position=sim.final_position,
        n_orders=len(sim.order_index),
        unfilled=int((~ok).sum()),
        hit_rate=(sum(1 for c in closes if c > 0) / len(closes)) if closes else None,
        closing_trades=len(closes),
        sharpe_per_day=sharpe_per_day(sim.ts_ns, sim.equity, sharpe_interval_s),
        max_drawdown=max_drawdown(sim.equity),
        turnover=float(np.abs(qty * price).sum()),
        exposure=_exposure(sim.ts_ns, sim.position),
        snapshots=n,
        start_ns=int(sim.ts_ns[0]) if n else 0,
        end_ns=int(sim.ts_ns[-1]) if n else 0,
    )
