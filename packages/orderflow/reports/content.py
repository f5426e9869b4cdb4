"""What a report says about one recording, gathered once for every output format.

A report covers the metrics summary per instrument, the alerts the profile's
thresholds raise, Stoikov's micro-price adjustment G*(I, S) fitted over the
recording (per instrument, not stored), and a backtest: the latest run stored by
``orderflow-backtest`` when the file has one (so the report shows what the user
ran), otherwise the profile's backtest run here and not stored. The report
never writes to the recording.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np

from orderflow.backtest.runner import BacktestSpec, run_backtest
from orderflow.backtest.store import StoredRun, latest_run
from orderflow.profiles.profile import Profile
from orderflow.query.microprice import microprice
from orderflow.store.connections import open_readonly
from orderflow.strategies.alerts import Alert, detect_alerts
from orderflow.strategies.batch import MetricsBatch, load_metric_batches
from orderflow.strategies.summary import MetricsSummary, summarize_metrics

__all__ = ["DatabaseReport", "EquityCurve", "MicropriceTable", "build_database_report"]


class EquityCurve(msgspec.Struct, frozen=True):
    instrument: str
    ts_ns: list[int]
    equity: list[float | None]


class MicropriceTable(msgspec.Struct, frozen=True):
    """G*(I, S) of one instrument: per state (imbalance_lo, imbalance_hi,
    spread_ticks, g_star in price units or None, samples)."""

    instrument: str
    tick: float
    observations: int
    states: list[tuple[float, float, int, float | None, int]]


class DatabaseReport(msgspec.Struct, frozen=True):
    database: str
    summaries: list[MetricsSummary]
    alerts: list[Alert]
    backtest: StoredRun
    backtest_source: str
    """``stored run N`` or ``profile (not stored)``."""
    equity: list[EquityCurve] = msgspec.field(default_factory=list)
    microprice: list[MicropriceTable] = msgspec.field(default_factory=list)


def _microprice_tables(path: Path, instruments: list[str]) -> list[MicropriceTable]:
    tables = []
    for name in instruments:
        try:
            frame = microprice(path, name, store=False)
        except ValueError:  # too few two-sided snapshots
            continue
        states = [
            (
                float(r.imbalance_lo),
                float(r.imbalance_hi),
                int(r.spread_ticks),
                None if np.isnan(r.g_star) else float(r.g_star),
                int(r.samples),
            )
            for r in frame.itertuples()
        ]
        attrs = frame.attrs
        tables.append(MicropriceTable(name, attrs["tick"], attrs["observations"], states))
    return tables


def _stored_equity(path: Path, run_id: int) -> list[EquityCurve]:
    conn = open_readonly(path)
    try:
        rows = conn.execute(
            "SELECT instrument, ts_ns, equity FROM backtest_equity WHERE run_id = ?"
            " ORDER BY instrument, ts_ns",
            (run_id,),
        ).fetchall()
    finally:
        conn.close()
    curves: dict[str, EquityCurve] = {}
    for instrument, ts, value in rows:
        curve = curves.setdefault(instrument, EquityCurve(instrument, [], []))
        curve.ts_ns.append(ts)
        curve.equity.append(value)
    return list(curves.values())


def _fresh_run(
    batches: dict[str, MetricsBatch], profile: Profile
) -> tuple[StoredRun, list[EquityCurve]]:
    spec = BacktestSpec.from_settings(profile.backtest)
    runs = run_backtest(batches, spec)
    run = StoredRun(
        0,
        "",
        spec.strategy,
        dict(spec.params),
        spec.fee_bps,
        spec.latency_ms,
        spec.position_limit,
        [stats for _, stats in runs],
    )
    curves = [
        EquityCurve(
            sim.instrument,
            sim.ts_ns.tolist(),
            [None if np.isnan(v) else v for v in sim.equity.tolist()],
        )
        for sim, _ in runs
    ]
    return run, curves


def build_database_report(path: Path, profile: Profile) -> DatabaseReport:
    batches = load_metric_batches(path, profile.instruments or None)
    summaries = [summarize_metrics(b, profile.alerts) for _, b in sorted(batches.items()) if len(b)]
    alerts = sorted(
        (a for b in batches.values() for a in detect_alerts(b, profile.alerts)),
        key=lambda a: (a.ts_ns, a.instrument, a.kind),
    )
    conn = open_readonly(path)
    try:
        stored = latest_run(conn)
    finally:
        conn.close()
    if stored is not None:
        run, curves = stored, _stored_equity(path, stored.run_id)
        source = f"stored run {stored.run_id} ({stored.created_at})"
    else:
        run, curves = _fresh_run(batches, profile)
        source = "profile backtest (run for this report, not stored)"
    return DatabaseReport(
        str(path),
        summaries,
        alerts,
        run,
        source,
        curves,
        _microprice_tables(path, sorted(n for n, b in batches.items() if len(b))),
    )
