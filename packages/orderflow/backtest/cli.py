"""``orderflow-backtest``: run a strategy over stored metrics, with fills, fees and latency.

Reads the ``metrics`` table ``orderflow-coord`` wrote (never the input
tables), prints a results table per instrument and the alerts, and stores the
run (``backtest_*`` tables) and the alerts (``alerts``) in the same file.
``--grid`` sweeps parameters across processes instead and stores nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import msgspec

from orderflow.backtest.grid import GridPoint, parse_grid, run_grid
from orderflow.backtest.results import BacktestStats
from orderflow.backtest.runner import BacktestSpec, run_backtest
from orderflow.backtest.store import write_run
from orderflow.console import configure_logging, format_table, run_main
from orderflow.core.errors import InputFileError, OutputFileError
from orderflow.core.timestamps import format_instant_ns
from orderflow.profiles.profile import Profile, load_profile
from orderflow.strategies.alerts import Alert, detect_alerts, write_alerts
from orderflow.strategies.base import StrategyError
from orderflow.strategies.batch import load_metric_batches
from orderflow.strategies.loader import load_strategy, parse_param

__all__ = ["main", "stats_rows"]

PROG = "orderflow-backtest"
ALERTS_SHOWN = 20


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description="Backtest a strategy over stored OBI/CVD metrics."
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="SQLite files, directories or globs")
    p.add_argument("--profile", help="YAML dataset profile (configs/*.yaml)")
    p.add_argument("--strategy", help="obi-threshold, cvd-momentum or module:Class")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="strategy parameter (repeatable), e.g. theta=0.3",
    )
    p.add_argument("--fee-bps", type=float, help="fee in basis points of notional per fill")
    p.add_argument("--latency-ms", type=float, help="order-to-fill delay in ms (0: next snapshot)")
    p.add_argument("--position-limit", type=float, help="largest absolute position")
    p.add_argument("--instrument", action="append", help="only this instrument (repeatable)")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=V1,V2,...",
        help="sweep a parameter (repeatable: the product of all axes), in parallel",
    )
    p.add_argument("--jobs", type=int, help="grid worker processes (default: CPU count)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--no-store", action="store_true", help="do not write backtest or alert tables")
    p.add_argument("--quiet", action="store_true", help="only the results table")
    p.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING (default), ERROR")
    return p


def resolve(args: argparse.Namespace) -> tuple[Profile, BacktestSpec]:
    profile = load_profile(args.profile) if args.profile else Profile(paths=[])
    if args.paths:
        profile = profile.with_overrides(paths=list(args.paths))
    if args.instrument:
        profile = profile.with_overrides(instruments=args.instrument)
    settings = profile.backtest
    strategy = args.strategy or settings.strategy
    # profile params belong to the profile's strategy; a different --strategy starts clean
    params = dict(settings.params) if strategy == settings.strategy else {}
    params.update(parse_param(text) for text in args.param)
    spec = BacktestSpec.from_settings(
        settings,
        strategy=strategy,
        params=params,
        fee_bps=args.fee_bps,
        latency_ms=args.latency_ms,
        position_limit=args.position_limit,
    )
    if spec.position_limit <= 0 or spec.fee_bps < 0 or spec.latency_ms < 0:
        raise StrategyError("--position-limit must be > 0, --fee-bps and --latency-ms >= 0")
    return profile, spec


def stats_rows(results: list[BacktestStats]) -> list[list[object]]:
    return [
        [
            s.instrument,
            _num(s.pnl),
            round(s.fees, 4),
            s.n_trades,
            s.final_position,
            "-" if s.hit_rate is None else f"{s.hit_rate:.1%}",
            "-" if s.sharpe_per_day is None else round(s.sharpe_per_day, 2),
            round(s.max_drawdown, 4),
            round(s.turnover, 2),
            f"{s.exposure:.1%}",
        ]
        for s in results
    ]


STATS_HEADERS = [
    "instrument",
    "pnl",
    "fees",
    "trades",
    "final_pos",
    "hit_rate",
    "sharpe/day",
    "max_dd",
    "turnover",
    "exposure",
]


def _num(value: float | None) -> object:
    return "-" if value is None else round(value, 4)


def print_alerts(alerts: list[Alert]) -> None:
    kinds = {k: sum(1 for a in alerts if a.kind == k) for k in ("obi", "cvd", "ofi")}
    ofi = f", {kinds['ofi']} ofi" if kinds["ofi"] else ""
    print(f"alerts: {len(alerts)} ({kinds['obi']} obi, {kinds['cvd']} cvd{ofi})")
    for alert in alerts[:ALERTS_SHOWN]:
        print(f"  {format_instant_ns(alert.ts_ns)}  {alert.kind}  {alert.message}")
    if len(alerts) > ALERTS_SHOWN:
        print(f"  ... and {len(alerts) - ALERTS_SHOWN} more (table `alerts`)")


def _run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level, args.quiet)
    profile, spec = resolve(args)
    if not profile.paths:
        build_parser().error("give at least one PATH or a --profile with paths")
    load_strategy(spec.strategy, spec.params)  # a bad strategy fails before any loading
    points = parse_grid(args.grid) if args.grid else None
    report: dict[str, object] = {
        "strategy": spec.strategy,
        "fee_bps": spec.fee_bps,
        "latency_ms": spec.latency_ms,
        "position_limit": spec.position_limit,
        "runs": [],
    }
    for path in profile.databases():
        started = time.perf_counter()
        batches = load_metric_batches(path, profile.instruments or None)
        loaded = time.perf_counter() - started
        if not batches:
            print(f"{path}: no metrics rows for the selected instruments")
            continue
        if points is not None:
            grid = run_grid(batches, spec, points, args.jobs)
            _print_grid(path, grid, loaded, time.perf_counter() - started - loaded)
            report["runs"].extend(_grid_json(path, grid))
            continue
        runs = run_backtest(batches, spec)
        elapsed = time.perf_counter() - started - loaded
        alerts = [a for b in batches.values() for a in detect_alerts(b, profile.alerts)]
        alerts.sort(key=lambda a: (a.ts_ns, a.instrument, a.kind))
        run_id = None
        if not args.no_store:
            try:
                run_id = write_run(path, spec.strategy, dict(spec.params), spec.costs, runs)
                write_alerts(path, alerts, list(batches))
            except InputFileError as exc:
                raise InputFileError(
                    path, f"{exc.problem}; pass --no-store to backtest without storing results"
                ) from None
        stats = [s for _, s in runs]
        params = ", ".join(f"{k}={v}" for k, v in spec.params.items()) or "defaults"
        print(
            f"{path}: {spec.strategy} ({params}), fee {spec.fee_bps:g} bps, latency"
            f" {spec.latency_ms:g} ms, limit {spec.position_limit:g}"
            + (f", run {run_id}" if run_id is not None else "")
        )
        print(format_table(STATS_HEADERS, stats_rows(stats)))
        if not args.quiet:
            print(
                f"loaded {sum(map(len, batches.values())):,} rows in {loaded:.2f}s,"
                f" backtest {elapsed:.2f}s"
            )
            print_alerts(alerts)
        report["runs"].append(
            {
                "database": str(path),
                "params": dict(spec.params),
                "run_id": run_id,
                "alerts": len(alerts),
                "instruments": {s.instrument: msgspec.to_builtins(s) for s in stats},
            }
        )
    if args.json:
        try:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_bytes(msgspec.json.format(msgspec.json.encode(report), indent=2))
        except OSError as exc:
            hint = "pass --json a path you can write"
            raise OutputFileError.refused(args.json, exc, hint) from None
    return 0


def _print_grid(path: Path, grid: list[GridPoint], loaded: float, elapsed: float) -> None:
    rows = [
        [", ".join(f"{k}={v}" for k, v in point.params.items()), *row]
        for point in grid
        for row in stats_rows(point.results)
    ]
    print(f"{path}: grid of {len(grid)} points")
    print(format_table(["params", *STATS_HEADERS], rows))
    print(f"loaded in {loaded:.2f}s, grid {elapsed:.2f}s")


def _grid_json(path: Path, grid: list[GridPoint]) -> list[dict[str, object]]:
    return [
        {
            "database": str(path),
            "params": point.params,
            "run_id": None,
            "instruments": {s.instrument: msgspec.to_builtins(s) for s in point.results},
        }
        for point in grid
    ]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(PROG, lambda: _run(args))


if __name__ == "__main__":
    sys.exit(main())
