"""Realistic synthetic recordings in the seed's input schema.

Real data is small and licensed by others; tests, benchmarks and the demo need
any size, several instruments and known structure. The market model is simple
but has the features order-flow tools react to:

- the mid price follows a random walk whose volatility clusters (GARCH(1,1));
- book imbalance is a mean-reverting process that tilts resting size towards
  one side and nudges the next price move the same way;
- trades arrive as a Poisson stream per step, buying more often when bids are
  heavier, and print at the touch;
- levels are OKX-style string quadruples ``["43250.1","0.532","0","3"]``.

Everything comes from one ``numpy.random.Generator`` seeded by ``seed``, so a
file is reproducible byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from orderflow.core.timestamps import parse_instant_ns
from orderflow.store.input_writer import InputWriter

__all__ = ["INSTRUMENTS", "InstrumentSpec", "SynthConfig", "generate"]


@dataclass(frozen=True)
class InstrumentSpec:
    name: str
    mid: float
    tick: float
    price_decimals: int
    size_scale: float


INSTRUMENTS = (
    InstrumentSpec("BTC-USDT", 43250.0, 0.1, 1, 0.5),
    InstrumentSpec("ETH-USDT", 2300.0, 0.01, 2, 5.0),
    InstrumentSpec("SOL-USDT", 102.0, 0.001, 3, 80.0),
    InstrumentSpec("DOGE-USDT", 0.085, 0.00001, 5, 40000.0),
)

BLOCK_STEPS = 2000
IMBALANCE_PERSISTENCE = 0.995
"""AR(1) coefficient per step: at 100 ms steps an imbalance lasts ~20 s, so OBI
trends and reverts the way real books do rather than flickering."""
IMBALANCE_NOISE = 0.03
"""Per-step shock; with the persistence above the imbalance's spread is ~0.3."""


@dataclass(frozen=True)
class SynthConfig:
    """Shape of a generated file; ``snapshots`` counts all instruments together."""

    snapshots: int = 100_000
    instruments: int = 2
    levels: int = 25
    interval_ms: int = 100
    trades_per_step: float = 1.5
    start: str = "2024-03-01T00:00:00Z"
    seed: int = 7
    invalid_every: int = 0
    """Insert one deliberately invalid snapshot every N (0 = none), for reject demos."""
    jitter_ms: int = 0
    """Rows get ids in the order of their timestamp plus a uniform 0..N ms delay, as
    merged or re-sequenced feeds do: ids are then only nearly in time order."""
    jitter_book: bool = True
    """Apply ``jitter_ms`` to ``book`` ids."""
    jitter_trades: bool = True
    """Apply ``jitter_ms`` to ``trades`` ids."""
    integer_timestamps: bool = False
    """Store integer epoch ms in INTEGER ``timestamp`` columns instead of TEXT."""


def _volatility_path(rng: np.random.Generator, steps: int, state: list[float]) -> np.ndarray:
    """GARCH(1,1) per-step return scale: quiet and busy stretches alternate."""
    omega, alpha, beta = 2e-11, 0.08, 0.9
    shocks = rng.standard_normal(steps)
    var = state[0]
    out = np.empty(steps)
    for i in range(steps):
        out[i] = np.sqrt(var) * shocks[i]
        var = omega + alpha * out[i] ** 2 + beta * var
    state[0] = var
    return out


def _side_json(prices: np.ndarray, sizes: np.ndarray, counts: np.ndarray, fmt: str) -> str:
    return (
        "["
        + ",".join(
            f'["{p:{fmt}}","{s:.3f}","0","{c}"]'
            for p, s, c in zip(prices, sizes, counts, strict=True)
        )
        + "]"
    )


_Row = TypeVar("_Row", bound=tuple[Any, ...])


def _jittered(rng: np.random.Generator, rows: list[_Row], jitter_ms: int) -> list[_Row]:
    """Rows in order of timestamp plus a uniform delay in [0, jitter_ms]: a merged feed."""
    stamps = np.array([r[0] for r in rows], dtype=np.float64)
    arrival = stamps + rng.uniform(0, jitter_ms, len(rows))
    return [rows[i] for i in np.argsort(arrival, kind="stable")]


def generate(
    path: str | Path,
    config: SynthConfig,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Write a new file at ``path``; returns (snapshots, trades) written."""
    rng = np.random.default_rng(config.seed)
    specs = INSTRUMENTS[: max(1, min(config.instruments, len(INSTRUMENTS)))]
    n_instr = len(specs)
    steps_total = -(-config.snapshots // n_instr)
    start_ms = parse_instant_ns(config.start)
    if start_ms is None:
        raise ValueError(f"start {config.start!r} is not a timestamp")
    start_ms //= 1_000_000
    levels = config.levels
    depth_ticks = np.arange(levels)
    mids = [s.mid for s in specs]
    imbalance = [0.0] * n_instr
    garch = [[1e-9] for _ in specs]
    written = 0
    trade_no = 0
    with InputWriter(
        path, overwrite=True, batch_size=10_000, integer_timestamps=config.integer_timestamps
    ) as out:
        step = 0
        while step < steps_total and written < config.snapshots:
            block = min(BLOCK_STEPS, steps_total - step)
            per_instr = []
            for k in range(n_instr):
                returns = _volatility_path(rng, block, garch[k])
                imb_noise = rng.standard_normal(block) * IMBALANCE_NOISE
                per_instr.append((returns, imb_noise))
            block_books: list[tuple[int, str, str, str]] = []
            block_trades: list[tuple[int, str, float, float, str]] = []
            for b in range(block):
                t_ms = start_ms + (step + b) * config.interval_ms
                step_trades: list[tuple[int, str, float, float, str]] = []
                for k, spec in enumerate(specs):
                    if written >= config.snapshots:
                        break
                    returns, imb_noise = per_instr[k]
                    imb = IMBALANCE_PERSISTENCE * imbalance[k] + imb_noise[b]
                    imb = max(-0.95, min(0.95, imb))
                    imbalance[k] = imb
                    mid = mids[k] * (1.0 + returns[b] + 2e-5 * imb)
                    mids[k] = mid
                    half_spread = spec.tick * (1 + rng.integers(0, 3))
                    bid_px = np.round((mid - half_spread) / spec.tick) * spec.tick
                    bid_prices = bid_px - depth_ticks * spec.tick
                    ask_prices = (
                        bid_px + (1 + rng.integers(0, 3)) * spec.tick + depth_ticks * spec.tick
                    )
                    scale = spec.size_scale * (1 + depth_ticks * 0.08)
                    bid_sizes = rng.lognormal(0, 0.6, levels) * scale * (1 + imb)
                    ask_sizes = rng.lognormal(0, 0.6, levels) * scale * (1 - imb)
                    counts = rng.integers(1, 20, (2, levels))
                    fmt = f".{spec.price_decimals}f"
                    ts = str(t_ms + k)
                    n_trades = rng.poisson(config.trades_per_step)
                    for j in range(n_trades):
                        buy = rng.random() < 0.5 + 0.4 * imb
                        price = ask_prices[0] if buy else bid_prices[0]
                        size = round(float(rng.lognormal(-1.5, 1.0)) * spec.size_scale, 4)
                        offset = int(config.interval_ms * (n_trades - j) / (n_trades + 1))
                        step_trades.append(
                            (
                                t_ms + k - offset,
                                spec.name,
                                round(float(price), spec.price_decimals),
                                size,
                                "buy" if buy else "sell",
                            )
                        )
                    if (
                        config.invalid_every
                        and written % config.invalid_every == config.invalid_every - 1
                    ):
                        bids_text = '[["NaN","1","0","1"]]'
                    else:
                        bids_text = _side_json(bid_prices, bid_sizes, counts[0], fmt)
                    block_books.append(
                        (
                            int(ts),
                            spec.name,
                            bids_text,
                            _side_json(ask_prices, ask_sizes, counts[1], fmt),
                        )
                    )
                    written += 1
                # Recorders append in arrival order, so trades are written time-sorted.
                block_trades.extend(sorted(step_trades, key=lambda t: t[0]))
            if config.jitter_ms and config.jitter_book:
                block_books = _jittered(rng, block_books, config.jitter_ms)
            if config.jitter_ms and config.jitter_trades:
                block_trades = _jittered(rng, block_trades, config.jitter_ms)
            for ts_ms, name, bids_text, asks_text in block_books:
                out.add_snapshot_json(name, ts_ms, bids_text, asks_text)
            for ts_ms, name, price, size, side in block_trades:
                trade_no += 1
                out.add_trade(name, str(trade_no), price, size, side, ts_ms)
            step += block
            if progress is not None:
                progress(written, config.snapshots)
    return written, out.trades_written
