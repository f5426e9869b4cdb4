"""Strategies over stored metrics: the interface, the built-ins, alerts and summaries."""

from orderflow.strategies.alerts import Alert, detect_alerts, write_alerts
from orderflow.strategies.base import Strategy, StrategyError
from orderflow.strategies.batch import MetricsBatch, MissingMetricsError, load_metric_batches
from orderflow.strategies.builtin import BUILTIN_STRATEGIES, CvdMomentum, ObiThreshold
from orderflow.strategies.default import DefaultStrategy
from orderflow.strategies.loader import load_strategy
from orderflow.strategies.summary import MetricsSummary, summarize_metrics

__all__ = [
    "BUILTIN_STRATEGIES",
    "Alert",
    "CvdMomentum",
    "DefaultStrategy",
    "MetricsBatch",
    "MetricsSummary",
    "MissingMetricsError",
    "ObiThreshold",
    "Strategy",
    "StrategyError",
    "detect_alerts",
    "load_metric_batches",
    "load_strategy",
    "summarize_metrics",
    "write_alerts",
]
