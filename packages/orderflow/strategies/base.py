"""The strategy interface: a target position per snapshot, from data up to that snapshot.

Two entry points compute the same thing. ``on_metrics`` is the workhorse: it
gets a whole instrument's stored metrics as columns and returns one target per
row, vectorised, which is what lets a backtest over a million snapshots run in
a fraction of a second. ``on_booktick`` is the seed's integration point for a
live ``Book``: it derives the same columns from the snapshots with the metric
formulas of ``orderflow.core.calculator`` and returns the target for the latest
snapshot, so a strategy written once behaves identically live and in a backtest.

The contract a strategy must keep (the engine relies on it, and the
no-look-ahead test checks the built-ins): ``targets[i]`` depends only on rows
``0..i``. A NaN target means "keep the previous target" (0 before the first).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from orderflow.core.calculator import MetricCalculator
from orderflow.core.errors import OrderflowError
from orderflow.core.models import Book
from orderflow.core.order_flow import aggregate_side, book_top, ofi_pair
from orderflow.strategies.batch import MetricsBatch

__all__ = ["Strategy", "StrategyError", "batch_from_book", "hold_targets"]


class StrategyError(OrderflowError, ValueError):
    """A strategy that cannot be found, built or run with the given parameters."""


class Strategy(ABC):
    """Base of every strategy; subclasses implement ``on_metrics``.

    Parameters are keyword arguments of ``__init__``; ``params`` lists the
    names and defaults so ``--param`` typos are reported, not ignored.
    """

    name: ClassVar[str] = ""
    params: ClassVar[dict[str, object]] = {}

    def __init__(self, **params: object) -> None:
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            known = ", ".join(sorted(self.params)) or "none"
            raise StrategyError(
                f"{self.label}: unknown parameter(s) {', '.join(unknown)} (known: {known})"
            )
        values: dict[str, object] = {**self.params, **params}
        for key, value in values.items():
            if isinstance(self.params[key], int | float):
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    raise StrategyError(
                        f"{self.label}: parameter {key}={value!r} is not a number"
                    ) from None
                values[key] = value
            setattr(self, key, value)
        self.settings = values

    @property
    def label(self) -> str:
        return self.name or type(self).__name__

    @abstractmethod
    def on_metrics(self, batch: MetricsBatch) -> np.ndarray:
        """Target position per row of ``batch`` (float array, same length; NaN = hold)."""

    def on_booktick(self, book: Book) -> float:
        """Target position after the latest snapshot of a live book.

        Recomputes the whole book's columns each call (O(snapshots)): simple and
        exactly the backtest's answer; live books are short rolling windows.
        """
        if not book.snapshots:
            return 0.0
        targets = hold_targets(self.on_metrics(batch_from_book(book)))
        return float(targets[-1])


def hold_targets(raw: np.ndarray) -> np.ndarray:
    """Replace NaN ("hold") by the previous target, and leading NaNs by 0."""
    targets = np.asarray(raw, dtype=np.float64)
    missing = np.isnan(targets)
    if not missing.any():
        return targets
    index = np.where(missing, 0, np.arange(len(targets)))
    np.maximum.accumulate(index, out=index)
    held = targets[index]
    held[np.isnan(held)] = 0.0
    return held


def batch_from_book(book: Book, depth: int | None = None) -> MetricsBatch:
    """The metrics columns of a live book, by the same formulas the pipeline stores.

    CVD here counts only the trades attached to the book's snapshots, so it is
    relative to the book's start (like ``RangeMetrics``); strategies use changes.
    """
    n = len(book.snapshots)
    ts = np.empty(n, dtype=np.int64)
    obi = np.full(n, np.nan)
    cvd = np.empty(n)
    bid = np.full(n, np.nan)
    ask = np.full(n, np.nan)
    ofi = np.full(n, np.nan)
    previous = None
    running = 0.0
    for i, snap in enumerate(book.snapshots):
        top = book_top(
            *aggregate_side(
                [lv.price for lv in snap.bids], [lv.size for lv in snap.bids], bids=True
            ),
            *aggregate_side(
                [lv.price for lv in snap.asks], [lv.size for lv in snap.asks], bids=False
            ),
            1,
        )
        value = ofi_pair(previous, top, 1)[0]
        if value is not None:
            ofi[i] = value
        previous = top
        ts[i] = snap.instant_ns
        value = MetricCalculator.calculate_obi(snap, depth)
        if value is not None:
            obi[i] = value
        best_bid, best_ask = MetricCalculator.best_prices(snap)
        if best_bid is not None:
            bid[i] = best_bid
        if best_ask is not None:
            ask[i] = best_ask
        running = MetricCalculator.calculate_cvd(running, snap.trades)
        cvd[i] = running
    ids = np.array([s.id for s in book.snapshots], dtype=np.int64)
    return MetricsBatch(book.instrument, ts, obi, cvd, bid, ask, ids, ofi)
