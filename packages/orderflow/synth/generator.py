"""Realistic synthetic recordings in the seed's input schema.

Real data is small and licensed by others; tests, benchmarks and the demo need
any size, several instruments and known structure. The market model
(``orderflow.synth.market``) has the features order-flow tools react to:
queue depletion moves the price (so OFI tracks price changes), book imbalance
trends, reverts and leans the flow, volatility clusters, and liquidity walls
sit at fixed prices. Trades arrive as a Poisson stream per step, buying more
often when bids are heavier or buyers active, and print at the touch. Levels
are OKX-style string quadruples ``["43250.1","0.532","0","3"]``.

Everything comes from one ``numpy.random.Generator`` seeded by ``seed``, so a
file is reproducible byte for byte. Steps are generated a block at a time with
numpy and the JSON text is built in numpy too (``_json_text``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from orderflow.core.timestamps import parse_instant_ns
from orderflow.store.input_writer import InputWriter
from orderflow.synth._json_text import sides_json
from orderflow.synth.market import InstrumentMarket, InstrumentSpec, MarketBlock

__all__ = ["INSTRUMENTS", "InstrumentSpec", "SynthConfig", "generate"]

INSTRUMENTS = (
    InstrumentSpec("BTC-USDT", 43250.0, 0.1, 1, 0.5, ticks_per_step=6.0),
    InstrumentSpec("ETH-USDT", 2300.0, 0.01, 2, 5.0, ticks_per_step=3.0),
    InstrumentSpec("SOL-USDT", 102.0, 0.001, 3, 80.0, ticks_per_step=1.0),
    InstrumentSpec("DOGE-USDT", 0.085, 0.00001, 5, 40000.0, ticks_per_step=0.3),
)

BLOCK_STEPS = 4000
INVALID_BIDS = '[["NaN","1","0","1"]]'


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


_Row = TypeVar("_Row", bound=tuple[Any, ...])


def _jittered(rng: np.random.Generator, rows: list[_Row], jitter_ms: int) -> list[_Row]:
    """Rows in order of timestamp plus a uniform delay in [0, jitter_ms]: a merged feed."""
    stamps = np.array([r[0] for r in rows], dtype=np.float64)
    arrival = stamps + rng.uniform(0, jitter_ms, len(rows))
    return [rows[i] for i in np.argsort(arrival, kind="stable")]


def _block_books(
    blocks: list[MarketBlock], specs: tuple[InstrumentSpec, ...], step_ms: np.ndarray, count: int
) -> list[tuple[int, str, str, str]]:
    """The first ``count`` snapshots of a block, step by step, instruments in turn."""
    n_instr = len(specs)
    per_instr = []
    for k, (spec, block) in enumerate(zip(specs, blocks, strict=True)):
        steps = -(-(count - k) // n_instr)  # this instrument's snapshots among the first count
        if steps <= 0:
            per_instr.append([])
            continue
        counts = block.order_counts[:, :steps]
        bids = sides_json(
            block.bid_prices[:steps], block.bid_size_milli[:steps], counts[0], spec.price_decimals
        )
        asks = sides_json(
            block.ask_prices[:steps], block.ask_size_milli[:steps], counts[1], spec.price_decimals
        )
        stamps = (step_ms[:steps] + k).tolist()
        per_instr.append(list(zip(stamps, [spec.name] * steps, bids, asks, strict=True)))
    rows: list[tuple[int, str, str, str]] = []
    for b in range(len(per_instr[0])):
        rows.extend(instr[b] for instr in per_instr if b < len(instr))
    return rows


def _block_trades(
    rng: np.random.Generator,
    blocks: list[MarketBlock],
    specs: tuple[InstrumentSpec, ...],
    step_ms: np.ndarray,
    count: int,
    config: SynthConfig,
) -> list[tuple[int, str, float, float, str]]:
    """Trades of the block's snapshots, time-sorted as a recorder appends them."""
    n_instr = len(specs)
    stamps, instr, prices, sizes, buys = [], [], [], [], []
    for k, (spec, block) in enumerate(zip(specs, blocks, strict=True)):
        steps = -(-(count - k) // n_instr)
        if steps <= 0:
            continue
        n = rng.poisson(config.trades_per_step, steps)
        step_of = np.repeat(np.arange(steps), n)
        first = np.repeat(np.cumsum(n) - n, n)
        j = np.arange(len(step_of)) - first
        total = n[step_of]
        offset = (config.interval_ms * (total - j) // (total + 1)).astype(np.int64)
        p_buy = np.clip(0.5 + 0.4 * block.imbalance + 0.2 * np.tanh(block.flow_shock), 0.02, 0.98)[
            step_of
        ]
        buy = rng.random(len(step_of)) < p_buy
        touch = np.where(buy, block.ask_prices[step_of, 0], block.bid_prices[step_of, 0])
        scale = 10.0**spec.price_decimals
        stamps.append(step_ms[step_of] + k - offset)
        instr.append(np.full(len(step_of), k))
        prices.append(np.round(touch / scale, spec.price_decimals))
        sizes.append(np.round(rng.lognormal(-1.5, 1.0, len(step_of)) * spec.size_scale, 4))
        buys.append(buy)
    if not stamps:
        return []
    ts, k_all = np.concatenate(stamps), np.concatenate(instr)
    order = np.lexsort((k_all, ts))  # by instant; ties keep instrument order
    names = [s.name for s in specs]
    return list(
        zip(
            ts[order].tolist(),
            [names[k] for k in k_all[order].tolist()],
            np.concatenate(prices)[order].tolist(),
            np.concatenate(sizes)[order].tolist(),
            np.where(np.concatenate(buys)[order], "buy", "sell").tolist(),
            strict=True,
        )
    )


def generate(
    path: str | Path,
    config: SynthConfig,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Write a new file at ``path``; returns (snapshots, trades) written."""
    rng = np.random.default_rng(config.seed)
    specs = INSTRUMENTS[: max(1, min(config.instruments, len(INSTRUMENTS)))]
    n_instr = len(specs)
    start_ns = parse_instant_ns(config.start)
    if start_ns is None:
        raise ValueError(f"start {config.start!r} is not a timestamp")
    start_ms = start_ns // 1_000_000
    markets = [InstrumentMarket(spec, config.levels, rng) for spec in specs]
    steps_total = -(-config.snapshots // n_instr)
    written = 0
    trade_no = 0
    with InputWriter(
        path,
        overwrite=True,
        batch_size=10_000,
        integer_timestamps=config.integer_timestamps,
        durable=False,
    ) as out:
        for step in range(0, steps_total, BLOCK_STEPS):
            steps = min(BLOCK_STEPS, steps_total - step)
            count = min(steps * n_instr, config.snapshots - written)
            blocks = [m.block(steps) for m in markets]
            step_ms = start_ms + (step + np.arange(steps, dtype=np.int64)) * config.interval_ms
            books = _block_books(blocks, specs, step_ms, count)
            trades = _block_trades(rng, blocks, specs, step_ms, count, config)
            if config.invalid_every:
                every = config.invalid_every
                for i in range((every - 1 - written) % every, count, every):
                    ts, name, _, asks = books[i]
                    books[i] = (ts, name, INVALID_BIDS, asks)
            if config.jitter_ms and config.jitter_book:
                books = _jittered(rng, books, config.jitter_ms)
            if config.jitter_ms and config.jitter_trades:
                trades = _jittered(rng, trades, config.jitter_ms)
            for ts_ms, name, bids_text, asks_text in books:
                out.add_snapshot_json(name, ts_ms, bids_text, asks_text)
            for ts_ms, name, price, size, side in trades:
                trade_no += 1
                out.add_trade(name, str(trade_no), price, size, side, ts_ms)
            written += count
            if progress is not None:
                progress(written, config.snapshots)
    return written, out.trades_written
