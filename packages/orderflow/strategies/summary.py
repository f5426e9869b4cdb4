"""Statistics of one instrument's stored metrics (the seed's ``get_metrics_summary``).

Time beyond a threshold is measured the way a chart shows it: each snapshot's
value holds until the instrument's next snapshot, so a snapshot contributes
``ts[i+1] - ts[i]`` and the last one contributes nothing. Fractions are of the
instrument's covered time (first to last snapshot). OBI statistics skip NULL
OBI; ``obi_std`` is the population standard deviation (ddof = 0).
"""

from __future__ import annotations

import msgspec
import numpy as np

from orderflow.profiles.profile import AlertSettings
from orderflow.strategies.batch import MetricsBatch
from orderflow.strategies.builtin import cvd_change

__all__ = ["MetricsSummary", "summarize_metrics"]

NS_PER_S = 1e9


class MetricsSummary(msgspec.Struct, frozen=True):
    instrument: str
    snapshots: int
    start_ns: int
    end_ns: int
    obi_count: int
    """Snapshots with a non-NULL OBI (the ones the OBI statistics cover)."""
    obi_min: float | None
    obi_max: float | None
    obi_mean: float | None
    obi_std: float | None
    cvd_start: float
    cvd_end: float
    cvd_change: float
    obi_threshold: float
    obi_beyond_s: float
    """Seconds with |OBI| > obi_threshold."""
    obi_beyond_fraction: float
    cvd_threshold: float | None
    cvd_window_s: float
    cvd_beyond_s: float
    """Seconds with |CVD change over cvd_window_s| > cvd_threshold (0 when unset)."""
    cvd_beyond_fraction: float

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / NS_PER_S


def _seconds_where(mask: np.ndarray, ts_ns: np.ndarray) -> float:
    if len(ts_ns) < 2:
        return 0.0
    held = np.diff(ts_ns)  # how long snapshot i's value holds
    return float(held[mask[:-1]].sum()) / NS_PER_S


def summarize_metrics(batch: MetricsBatch, settings: AlertSettings) -> MetricsSummary:
    """The summary of one non-empty batch."""
    if len(batch) == 0:
        raise ValueError(f"{batch.instrument}: no metrics to summarise")
    obi = batch.obi[~np.isnan(batch.obi)]
    has_obi = len(obi) > 0
    span_s = (int(batch.ts_ns[-1]) - int(batch.ts_ns[0])) / NS_PER_S
    with np.errstate(invalid="ignore"):
        obi_beyond = _seconds_where(np.abs(batch.obi) > settings.obi_threshold, batch.ts_ns)
        cvd_threshold = settings.cvd_threshold_for(batch.instrument)
        if cvd_threshold is None:
            cvd_beyond = 0.0
        else:
            change = cvd_change(batch, settings.cvd_window_s)
            cvd_beyond = _seconds_where(np.abs(change) > cvd_threshold, batch.ts_ns)
    return MetricsSummary(
        instrument=batch.instrument,
        snapshots=len(batch),
        start_ns=int(batch.ts_ns[0]),
        end_ns=int(batch.ts_ns[-1]),
        obi_count=len(obi),
        obi_min=float(obi.min()) if has_obi else None,
        obi_max=float(obi.max()) if has_obi else None,
        obi_mean=float(obi.mean()) if has_obi else None,
        obi_std=float(obi.std()) if has_obi else None,
        cvd_start=float(batch.cvd[0]),
        cvd_end=float(batch.cvd[-1]),
        cvd_change=float(batch.cvd[-1] - batch.cvd[0]),
        obi_threshold=settings.obi_threshold,
        obi_beyond_s=obi_beyond,
        obi_beyond_fraction=obi_beyond / span_s if span_s > 0 else 0.0,
        cvd_threshold=cvd_threshold,
        cvd_window_s=settings.cvd_window_s,
        cvd_beyond_s=cvd_beyond,
        cvd_beyond_fraction=cvd_beyond / span_s if span_s > 0 else 0.0,
    )
