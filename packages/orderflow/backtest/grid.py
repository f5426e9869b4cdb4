"""Parameter sweeps: every combination of ``--grid NAME=V1,V2,...`` in worker processes.

The recording is loaded once, in the parent; the worker processes inherit the
columns through their initializer (with ``fork`` that is a copy-on-write
mapping, not a pickle), and each task ships only a parameter set in and the
small ``BacktestStats`` list out.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor

import msgspec

from orderflow.backtest.results import BacktestStats
from orderflow.backtest.runner import BacktestSpec, run_backtest
from orderflow.strategies.base import StrategyError
from orderflow.strategies.batch import MetricsBatch
from orderflow.strategies.loader import load_strategy, parse_param

__all__ = ["GridPoint", "parse_grid", "run_grid"]


class GridPoint(msgspec.Struct, frozen=True):
    params: dict[str, float | int | str]
    results: list[BacktestStats]


def parse_grid(texts: Sequence[str]) -> list[dict[str, object]]:
    """``["theta=0.1,0.2", "x=1,2"]`` -> the 4 combinations, in the order given."""
    axes: dict[str, list[object]] = {}
    for text in texts:
        name, eq, values = text.partition("=")
        if not eq or not name.strip() or not values.strip():
            raise StrategyError(f"--grid {text!r}: expected NAME=V1,V2,...")
        axes[name.strip()] = [parse_param(f"{name}={v}")[1] for v in values.split(",")]
    names = list(axes)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())]


_BATCHES: Mapping[str, MetricsBatch] = {}


def _init_worker(batches: Mapping[str, MetricsBatch]) -> None:
    global _BATCHES
    _BATCHES = batches


def _run_point(spec: BacktestSpec) -> list[BacktestStats]:
    return [stats for _, stats in run_backtest(_BATCHES, spec)]


def run_grid(
    batches: Mapping[str, MetricsBatch],
    spec: BacktestSpec,
    points: Sequence[Mapping[str, object]],
    workers: int | None = None,
) -> list[GridPoint]:
    """Results per grid point, in the order of ``points``. ``workers=0`` runs in-process."""
    specs = [spec.with_params(p) for p in points]
    for s in specs:  # fail fast, in the parent, on a bad strategy or parameter name
        load_strategy(s.strategy, s.params)
    count = min(len(specs), workers if workers is not None else (os.cpu_count() or 1))
    if count <= 1:
        results = [[stats for _, stats in run_backtest(batches, s)] for s in specs]
    else:
        context = (
            multiprocessing.get_context("fork")
            if "fork" in multiprocessing.get_all_start_methods()
            else None
        )
        with ProcessPoolExecutor(
            max_workers=count, mp_context=context, initializer=_init_worker, initargs=(batches,)
        ) as pool:
            results = list(pool.map(_run_point, specs))
    return [GridPoint(dict(s.params), r) for s, r in zip(specs, results, strict=True)]
