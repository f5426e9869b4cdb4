"""The built-in strategies: OBI threshold, CVD momentum and OFI momentum.

Both are causal by construction: the target at row i reads rows 0..i only
(``cvd-momentum`` and ``ofi-momentum`` look back with ``searchsorted`` over
instants already seen).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from orderflow.strategies.base import Strategy, StrategyError, hold_targets
from orderflow.strategies.batch import MetricsBatch
from orderflow.strategies.signals import hold_at_least, hysteresis_targets

__all__ = [
    "BUILTIN_STRATEGIES",
    "CvdMomentum",
    "ObiThreshold",
    "OfiMomentum",
    "cvd_change",
    "ofi_sum",
]

NS_PER_S = 1_000_000_000


class ObiThreshold(Strategy):
    """Long +1 when OBI > theta, short -1 when OBI < -theta, flat in between.

    ``hysteresis`` (0..theta, default 0) keeps a position until OBI falls back
    to ``theta - hysteresis`` (``theta`` = ``hysteresis``: until OBI changes
    sign); ``min_hold_s`` (default 0) keeps each position at least that long.
    Both stop the strategy paying a fee on every flicker around theta. A NULL
    OBI (empty book) leaves the target unchanged.
    """

    name = "obi-threshold"
    params: ClassVar[dict[str, object]] = {"theta": 0.3, "hysteresis": 0.0, "min_hold_s": 0.0}
    theta: float
    hysteresis: float
    min_hold_s: float

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        if not 0 <= self.hysteresis <= self.theta:
            raise StrategyError(
                f"{self.label}: hysteresis={self.hysteresis:g} must lie in 0..theta={self.theta:g}"
            )

    def on_metrics(self, batch: MetricsBatch) -> np.ndarray:
        targets = hysteresis_targets(batch.obi, self.theta, self.theta - self.hysteresis)
        if self.min_hold_s <= 0:
            return targets
        return hold_at_least(hold_targets(targets), batch.ts_ns, self.min_hold_s)


def cvd_change(batch: MetricsBatch, window_s: float) -> np.ndarray:
    """CVD now minus CVD at the latest snapshot at least ``window_s`` earlier.

    NaN where no snapshot is that old yet: a change over a shorter stretch would
    not be a change over the window, so it is not reported.
    """
    lookback = batch.ts_ns - round(window_s * NS_PER_S)
    # index of the latest row with ts <= ts[i] - window (rows are time-ordered)
    ref = np.searchsorted(batch.ts_ns, lookback, side="right") - 1
    change = np.full(len(batch), np.nan)
    ok = ref >= 0
    change[ok] = batch.cvd[ok] - batch.cvd[ref[ok]]
    return change


class CvdMomentum(Strategy):
    """Sign of the CVD change over a window: +1 buying pressure, -1 selling, 0 none.

    ``min_change`` (base units) is a dead band: |change| <= min_change is flat.
    Before a full window of history the target stays flat.
    """

    name = "cvd-momentum"
    params: ClassVar[dict[str, object]] = {"window_s": 60.0, "min_change": 0.0}
    window_s: float
    min_change: float

    def on_metrics(self, batch: MetricsBatch) -> np.ndarray:
        change = cvd_change(batch, self.window_s)
        targets = np.where(
            change > self.min_change, 1.0, np.where(change < -self.min_change, -1.0, 0.0)
        )
        targets[np.isnan(batch.cvd)] = np.nan
        return targets


def ofi_sum(batch: MetricsBatch, window_s: float) -> np.ndarray:
    """OFI summed over the snapshots with instant in ``(t - window_s, t]``.

    OFI is a flow, so over a window it is a sum (a NULL OFI, at an instrument's
    first snapshot or a one-sided book, adds nothing). NaN until a full window
    of history exists, as for ``cvd_change``. Needs the ``ofi`` column.
    """
    if batch.ofi is None:
        raise StrategyError(
            f"{batch.instrument}: no ofi column; recompute the metrics (orderflow-coord --force)"
        )
    running = np.concatenate([[0.0], np.cumsum(np.nan_to_num(batch.ofi, nan=0.0))])
    lookback = batch.ts_ns - round(window_s * NS_PER_S)
    ref = np.searchsorted(batch.ts_ns, lookback, side="right")  # rows <= t - window
    total = running[1:] - running[ref]
    total[ref == 0] = np.nan  # no snapshot a full window earlier yet
    return total


class OfiMomentum(Strategy):
    """Sign of OFI summed over a rolling window: +1 when the sum > threshold (bids
    building, asks depleting), -1 when < -threshold, flat in between.

    ``threshold`` is in base units (OFI is a size); ``min_hold_s`` keeps each
    position at least that long. Flat until a full window of history exists.
    """

    name = "ofi-momentum"
    params: ClassVar[dict[str, object]] = {"window_s": 10.0, "threshold": 0.0, "min_hold_s": 0.0}
    window_s: float
    threshold: float
    min_hold_s: float

    def on_metrics(self, batch: MetricsBatch) -> np.ndarray:
        total = ofi_sum(batch, self.window_s)
        with np.errstate(invalid="ignore"):
            targets = np.where(
                total > self.threshold, 1.0, np.where(total < -self.threshold, -1.0, 0.0)
            )
        targets[np.isnan(total)] = 0.0
        if self.min_hold_s <= 0:
            return targets
        return hold_at_least(targets, batch.ts_ns, self.min_hold_s)


BUILTIN_STRATEGIES: dict[str, type[Strategy]] = {
    ObiThreshold.name: ObiThreshold,
    CvdMomentum.name: CvdMomentum,
    OfiMomentum.name: OfiMomentum,
}
