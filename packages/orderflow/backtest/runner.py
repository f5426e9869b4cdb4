"""One backtest run: a strategy and costs over every instrument of one recording.

The unit the CLI, the grid's worker processes and the report share, so a grid
point and a single run can only differ by their parameters.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from orderflow.backtest.engine import CostModel, Simulation, simulate
from orderflow.backtest.results import BacktestStats, compute_stats
from orderflow.profiles.profile import BacktestSettings
from orderflow.strategies.base import StrategyError
from orderflow.strategies.batch import MetricsBatch
from orderflow.strategies.loader import load_strategy

__all__ = ["BacktestSpec", "run_backtest"]


class BacktestSpec(msgspec.Struct, frozen=True):
    """Everything that decides a run's numbers (shipped to grid workers)."""

    strategy: str = "obi-threshold"
    params: dict[str, float | int | str] = msgspec.field(default_factory=dict)
    fee_bps: float = 0.0
    latency_ms: float = 0.0
    position_limit: float = 1.0
    sharpe_interval_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: BacktestSettings, **overrides: object) -> BacktestSpec:
        """The profile's backtest section, with non-None overrides applied."""
        spec = cls(
            strategy=settings.strategy,
            params=dict(settings.params),
            fee_bps=settings.fee_bps,
            latency_ms=settings.latency_ms,
            position_limit=settings.position_limit,
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        return msgspec.structs.replace(spec, **given) if given else spec

    @property
    def costs(self) -> CostModel:
        return CostModel(self.fee_bps, self.latency_ms, self.position_limit)

    def with_params(self, params: Mapping[str, object]) -> BacktestSpec:
        return msgspec.structs.replace(self, params={**self.params, **params})


def run_backtest(
    batches: Mapping[str, MetricsBatch], spec: BacktestSpec
) -> list[tuple[Simulation, BacktestStats]]:
    """Simulate every instrument (sorted by name) with a fresh strategy instance each."""
    out = []
    for name in sorted(batches):
        batch = batches[name]
        if not len(batch):
            continue
        strategy = load_strategy(spec.strategy, spec.params)
        try:
            targets = strategy.on_metrics(batch)
        except Exception as exc:
            raise StrategyError(f"{spec.strategy} failed on {name}: {exc}") from exc
        sim = simulate(batch, targets, spec.costs)
        out.append((sim, compute_stats(sim, spec.sharpe_interval_s)))
    return out
