"""The seed's ``DefaultStrategy``: analysis of stored metrics, with a live fallback.

It trades nothing (its target is always flat); it is the object a notebook or
the report uses to read a recording's metrics, summarise them and raise
alerts. ``on_booktick`` follows the seed: for the latest snapshot it prefers
the stored OBI (by snapshot id) and computes it live only when the recording
has not been processed, and it checks the live OBI-run alert as it goes.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from orderflow.core.calculator import MetricCalculator
from orderflow.core.models import Book, BookSnapshot
from orderflow.profiles.profile import AlertSettings
from orderflow.strategies.alerts import Alert, detect_alerts, write_alerts
from orderflow.strategies.base import Strategy, StrategyError
from orderflow.strategies.batch import MetricsBatch, load_metric_batches
from orderflow.strategies.summary import MetricsSummary, summarize_metrics

__all__ = ["DefaultStrategy"]


class DefaultStrategy(Strategy):
    """Stored-metrics analysis: summaries and alerts; always flat when backtested."""

    name = "default"
    params: ClassVar[dict[str, object]] = {}

    def __init__(
        self,
        alert_settings: AlertSettings | None = None,
        depth: int | None = None,
    ) -> None:
        super().__init__()
        self.alert_settings = alert_settings or AlertSettings()
        self.depth = depth
        self.db_path: Path | None = None
        self._stored_obi: dict[int, float] | None = None
        self.run_length = 0
        """Consecutive live snapshots beyond the OBI threshold on one side (signed)."""
        self.live_alerts: list[str] = []

    def set_db_path(self, path: str | Path) -> None:
        self.db_path = Path(path)
        self._stored_obi = None

    def compute_OBI(self, snapshot: BookSnapshot) -> float | None:
        """OBI of one snapshot by the pipeline's formula (the live fallback)."""
        return MetricCalculator.calculate_obi(snapshot, self.depth)

    def load_stored_metrics(
        self,
        start_ns: int | None = None,
        end_ns: int | None = None,
        instruments: list[str] | None = None,
    ) -> dict[str, MetricsBatch]:
        """Columns per instrument for start_ns <= ts_ns < end_ns."""
        return load_metric_batches(self._require_path(), instruments, start_ns, end_ns)

    def get_metrics_summary(
        self, batches: dict[str, MetricsBatch] | None = None
    ) -> dict[str, MetricsSummary]:
        batches = batches if batches is not None else self.load_stored_metrics()
        return {
            name: summarize_metrics(batch, self.alert_settings)
            for name, batch in batches.items()
            if len(batch)
        }

    def detect_alerts(self, batches: dict[str, MetricsBatch] | None = None) -> list[Alert]:
        batches = batches if batches is not None else self.load_stored_metrics()
        alerts = [
            a for batch in batches.values() for a in detect_alerts(batch, self.alert_settings)
        ]
        alerts.sort(key=lambda a: (a.ts_ns, a.instrument, a.kind))
        return alerts

    def store_alerts(self, alerts: list[Alert], instruments: list[str]) -> None:
        """Replace the stored alerts of these instruments in the recording's ``alerts`` table."""
        write_alerts(self._require_path(), alerts, instruments)

    def on_metrics(self, batch: MetricsBatch) -> np.ndarray:
        return np.zeros(len(batch))

    def on_booktick(self, book: Book) -> float:
        """Track the latest snapshot's OBI (stored if available, else live) for alerts."""
        snapshot = book.last
        if snapshot is None:
            return 0.0
        obi = self._stored_value(snapshot.id)
        if obi is None:
            obi = self.compute_OBI(snapshot)
        threshold = self.alert_settings.obi_threshold
        side = 0 if obi is None or abs(obi) <= threshold else (1 if obi > 0 else -1)
        same_side = side != 0 and np.sign(self.run_length) == side
        self.run_length = self.run_length + side if same_side else side
        if abs(self.run_length) == self.alert_settings.obi_min_snapshots:
            self.live_alerts.append(
                f"{book.instrument}: OBI beyond ±{threshold:.3f} for"
                f" {abs(self.run_length)} snapshots (now {obi:+.3f})"
            )
        return 0.0

    def _stored_value(self, snapshot_id: int) -> float | None:
        if self.db_path is None:
            return None
        if self._stored_obi is None:
            try:
                batches = self.load_stored_metrics()
            except OSError:
                self._stored_obi = {}
            else:
                self._stored_obi = {
                    int(s): float(o)
                    for b in batches.values()
                    if b.snapshot_id is not None
                    for s, o in zip(b.snapshot_id, b.obi, strict=True)
                    if not np.isnan(o)
                }
        return self._stored_obi.get(snapshot_id)

    def _require_path(self) -> Path:
        if self.db_path is None:
            raise StrategyError("DefaultStrategy: call set_db_path(path) first")
        return self.db_path
