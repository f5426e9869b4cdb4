"""Backtest output tables in the recording file, for the dashboard and reports.

``backtest_runs`` (one row per run: strategy, parameters, costs),
``backtest_results`` (per run and instrument: the headline numbers plus every
statistic as JSON), ``backtest_trades`` (the fills) and
``backtest_equity(run_id, instrument, ts_ns, equity)``, the shape the
dashboard's equity panel reads. Equity is a step function: a row is written
only where the value changes (a flat strategy writes one row), which keeps the
table small without losing a point of the curve.

Runs are appended, never replaced: the latest ``run_id`` is the current one.
Input tables are never touched; all writes of a run share one transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import numpy as np

from orderflow.backtest.engine import CostModel, Simulation
from orderflow.backtest.results import BacktestStats, trades_of
from orderflow.store.connections import open_writer

__all__ = ["BACKTEST_DDL", "StoredRun", "latest_run", "write_run"]

BACKTEST_DDL = """
CREATE TABLE IF NOT EXISTS backtest_runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    strategy TEXT NOT NULL,
    params TEXT NOT NULL,
    fee_bps REAL NOT NULL,
    latency_ms REAL NOT NULL,
    position_limit REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS backtest_results (
    run_id INTEGER NOT NULL REFERENCES backtest_runs(run_id),
    instrument TEXT NOT NULL,
    pnl REAL,
    fees REAL NOT NULL,
    n_trades INTEGER NOT NULL,
    final_position REAL NOT NULL,
    stats TEXT NOT NULL,
    PRIMARY KEY (run_id, instrument)
);
CREATE TABLE IF NOT EXISTS backtest_trades (
    run_id INTEGER NOT NULL REFERENCES backtest_runs(run_id),
    instrument TEXT NOT NULL,
    order_ts_ns INTEGER NOT NULL,
    ts_ns INTEGER NOT NULL,
    side TEXT NOT NULL,
    quantity REAL NOT NULL,
    price REAL NOT NULL,
    fee REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS backtest_equity (
    run_id INTEGER NOT NULL REFERENCES backtest_runs(run_id),
    instrument TEXT NOT NULL,
    ts_ns INTEGER NOT NULL,
    equity REAL
);
CREATE INDEX IF NOT EXISTS idx_backtest_equity_run ON backtest_equity(run_id, instrument, ts_ns);
"""


class StoredRun(msgspec.Struct, frozen=True):
    run_id: int
    created_at: str
    strategy: str
    params: dict[str, object]
    fee_bps: float
    latency_ms: float
    position_limit: float
    results: list[BacktestStats]


def _equity_steps(sim: Simulation) -> list[tuple[str, int, float | None]]:
    eq = sim.equity
    if not len(eq):
        return []
    same = np.r_[False, (eq[1:] == eq[:-1]) | (np.isnan(eq[1:]) & np.isnan(eq[:-1]))]
    keep = np.flatnonzero(~same)
    return [
        (sim.instrument, int(t), None if np.isnan(v) else float(v))
        for t, v in zip(sim.ts_ns[keep].tolist(), eq[keep].tolist(), strict=True)
    ]


def write_run(
    path: str | Path,
    strategy: str,
    params: dict[str, object],
    costs: CostModel,
    runs: Sequence[tuple[Simulation, BacktestStats]],
) -> int:
    """Append one run (all instruments) in a single transaction; returns its run_id."""
    conn = open_writer(path)
    try:
        conn.executescript(BACKTEST_DDL)
        conn.execute("BEGIN IMMEDIATE")
        try:
            run_id = _insert(conn, strategy, params, costs, runs)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.close()
    return run_id


def _insert(
    conn: sqlite3.Connection,
    strategy: str,
    params: dict[str, object],
    costs: CostModel,
    runs: Sequence[tuple[Simulation, BacktestStats]],
) -> int:
    cur = conn.execute(
        "INSERT INTO backtest_runs (created_at, strategy, params, fee_bps, latency_ms,"
        " position_limit) VALUES (?, ?, ?, ?, ?, ?)",
        (
            datetime.now(UTC).isoformat(timespec="seconds"),
            strategy,
            msgspec.json.encode(params).decode(),
            costs.fee_bps,
            costs.latency_ms,
            costs.position_limit,
        ),
    )
    run_id = int(cur.lastrowid)
    for sim, stats in runs:
        conn.execute(
            "INSERT INTO backtest_results (run_id, instrument, pnl, fees, n_trades,"
            " final_position, stats) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                stats.instrument,
                stats.pnl,
                stats.fees,
                stats.n_trades,
                stats.final_position,
                msgspec.json.encode(stats).decode(),
            ),
        )
        conn.executemany(
            "INSERT INTO backtest_trades (run_id, instrument, order_ts_ns, ts_ns, side, quantity,"
            " price, fee) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(run_id, *msgspec.structs.astuple(t)) for t in trades_of(sim)],
        )
        conn.executemany(
            "INSERT INTO backtest_equity (run_id, instrument, ts_ns, equity) VALUES (?, ?, ?, ?)",
            [(run_id, *row) for row in _equity_steps(sim)],
        )
    return run_id


def latest_run(conn: sqlite3.Connection) -> StoredRun | None:
    """The most recent stored run, or None when the file has none."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'backtest_runs'"
    ).fetchone()
    if not exists:
        return None
    row = conn.execute(
        "SELECT run_id, created_at, strategy, params, fee_bps, latency_ms, position_limit"
        " FROM backtest_runs ORDER BY run_id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    stats = [
        msgspec.json.decode(text, type=BacktestStats)
        for (text,) in conn.execute(
            "SELECT stats FROM backtest_results WHERE run_id = ? ORDER BY instrument", (row[0],)
        )
    ]
    return StoredRun(
        row[0], row[1], row[2], msgspec.json.decode(row[3]), row[4], row[5], row[6], stats
    )
