"""Backtest benchmark: 1M stored metrics rows, one backtest, and a 10-point grid.

Run: ``python bench/backtest.py [--rows 1000000] [--out bench/BACKTEST.md]``.

The metrics table is synthesised directly with numpy in the real schema
(``orderflow.store.schema.METRICS_DDL``), which is what ``orderflow-coord``
would leave behind, because the pipeline's own speed is another benchmark's
subject. OBI is a mean-reverting AR(1) so targets change in realistic runs
rather than every row; the mid is a random walk with a one-tick spread.

Timed separately, each a median of several repetitions:
- load: ``load_metric_batches`` (DuckDB scan of the SQLite file into arrays);
- backtest: strategy targets + fill simulation + every statistic, after load;
- grid: ``run_grid`` over 10 theta values in worker processes, after load.
Targets (issue 5): backtest < 2 s after load; grid well under 10x a backtest.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from orderflow.backtest.grid import run_grid
from orderflow.backtest.runner import BacktestSpec, run_backtest
from orderflow.store.schema import METRICS_DDL
from orderflow.strategies.batch import load_metric_batches

GRID = [round(0.05 * k, 2) for k in range(1, 11)]


def synthesise(path: Path, rows: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    ts = (1_709_251_200_000 + np.arange(rows, dtype=np.int64) * 100) * 1_000_000
    obi = np.empty(rows)
    shocks = rng.normal(0.0, 0.08, rows)
    level = 0.0
    for i in range(rows):  # AR(1), phi = 0.98: runs of imbalance, like real books
        level = 0.98 * level + shocks[i]
        obi[i] = level
    np.clip(obi, -1.0, 1.0, out=obi)
    cvd = np.cumsum(rng.normal(0.0, 1.0, rows))
    mid = 43_250.0 + np.cumsum(rng.normal(0.0, 2.0, rows))
    conn = sqlite3.connect(path)
    conn.executescript(METRICS_DDL)
    conn.executemany(
        "INSERT INTO metrics (snapshot_id, timestamp, obi, cvd, best_bid, best_ask,"
        " instrument, ts_ns) VALUES (?, ?, ?, ?, ?, ?, 'BTC-USDT', ?)",
        zip(
            range(1, rows + 1),
            (str(t // 1_000_000) for t in ts.tolist()),
            obi.tolist(),
            cvd.tolist(),
            (mid - 0.05).tolist(),
            (mid + 0.05).tolist(),
            ts.tolist(),
            strict=True,
        ),
    )
    conn.commit()
    conn.close()


def median_time(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", default=str(Path(__file__).with_name("BACKTEST.md")))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "metrics.db"
        started = time.perf_counter()
        synthesise(path, args.rows)
        made = time.perf_counter() - started
        load_s, batches = median_time(lambda: load_metric_batches(path), 3)
        spec = BacktestSpec(params={"theta": 0.3}, fee_bps=2.0)
        bt_s, runs = median_time(lambda: run_backtest(batches, spec), args.repeat)
        cvd_spec = BacktestSpec(strategy="cvd-momentum", params={"window_s": 60}, fee_bps=2.0)
        cvd_s, cvd_runs = median_time(lambda: run_backtest(batches, cvd_spec), args.repeat)
        points = [{"theta": t} for t in GRID]
        grid_s, grid = median_time(lambda: run_grid(batches, spec, points), 3)
        serial_s, _ = median_time(lambda: run_grid(batches, spec, points, workers=0), 3)
    stats = runs[0][1]
    lines = [
        "# Backtest benchmark",
        "",
        f"`python bench/backtest.py --rows {args.rows}` on {platform.machine()},"
        f" {os.cpu_count()} CPUs, Python {platform.python_version()}; medians"
        f" ({args.repeat} runs for backtests, 3 for load and grids). Machine shared with"
        " other jobs, so absolute times are noisy; the ratios are the point.",
        "",
        "| step | median | target |",
        "|---|---|---|",
        f"| synthesise {args.rows:,} metrics rows (setup, once) | {made:.2f} s | - |",
        f"| load (DuckDB scan of SQLite into arrays) | {load_s:.3f} s | reported separately |",
        f"| backtest obi-threshold theta=0.3, after load | {bt_s:.3f} s | < 2 s |",
        f"| backtest cvd-momentum window 60 s, after load | {cvd_s:.3f} s | < 2 s |",
        f"| grid of 10 theta values, worker processes | {grid_s:.3f} s"
        f" ({grid_s / bt_s:.1f}x one measured backtest, {grid_s / 2.0:.2f}x the 2 s budget)"
        " | well under 10 x 2 s |",
        f"| same grid in one process | {serial_s:.3f} s ({serial_s / bt_s:.1f}x) | - |",
        "",
        "A single backtest takes about a tenth of a second, so a grid point costs less than"
        " starting a worker process and shipping it the columns; on a machine with idle"
        " cores the process pool pays off for slower user strategies, and the grid stays"
        " far inside its budget either way. Load average during the run:"
        f" {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs.",
        "",
        f"obi-threshold run: {stats.n_trades:,} fills, {stats.n_orders:,} orders,"
        f" PnL {stats.pnl:,.2f}, fees {stats.fees:,.2f};"
        f" cvd-momentum: {cvd_runs[0][1].n_trades:,} fills.",
        f"Grid fills per theta: {', '.join(str(p.results[0].n_trades) for p in grid)}.",
        "",
    ]
    text = "\n".join(lines)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
