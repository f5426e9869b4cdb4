"""The backtester: exact fill simulation over stored metrics, statistics and sweeps."""

from orderflow.backtest.engine import CostModel, Simulation, simulate
from orderflow.backtest.grid import GridPoint, parse_grid, run_grid
from orderflow.backtest.results import BacktestStats, Trade, compute_stats, trades_of
from orderflow.backtest.runner import BacktestSpec, run_backtest

__all__ = [
    "BacktestSpec",
    "BacktestStats",
    "CostModel",
    "GridPoint",
    "Simulation",
    "Trade",
    "compute_stats",
    "parse_grid",
    "run_backtest",
    "run_grid",
    "simulate",
    "trades_of",
]
