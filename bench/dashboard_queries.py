"""Dashboard query timings on a 1M-snapshot generated recording (DuckDB time only).

    /tmp/probe/bin/python bench/dashboard_queries.py [--snapshots 1000000]

Generates the file once into ~/.cache/orderflow-bench/ (and runs
``orderflow-coord --workers 0`` on it), then reports medians over several runs of:
opening the Dataset (materialising trades and metrics), the initial page's
queries (whole range: candles, OBI, CVD, alerts, equity, overview) and a zoom
re-query (a 1/50 slice in the middle), with the points each panel receives.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from orderflow.charts.panel_data import overview_data, panel_data
from orderflow.query.dataset import Dataset

CACHE = Path.home() / ".cache" / "orderflow-bench"
RUNS = 7


def recording(snapshots: int) -> Path:
    path = CACHE / ("dash1m.db" if snapshots == 1_000_000 else f"dash{snapshots}.db")
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        bin_dir = Path(sys.executable).parent
        subprocess.run(
            [
                bin_dir / "orderflow-synth",
                path,
                "--snapshots",
                str(snapshots),
                "--instruments",
                "2",
                "--seed",
                "7",
            ],
            check=True,
        )
        subprocess.run([bin_dir / "orderflow-coord", "--workers", "0", "--quiet", path], check=True)
    return path


def median_ms(fn, runs: int = RUNS) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--snapshots", type=int, default=1_000_000)
    parser.add_argument("--max-bars", type=int, default=500)
    args = parser.parse_args()
    path = recording(args.snapshots)
    open_ms, dataset = median_ms(lambda: Dataset(path), runs=1)
    instrument = dataset.instruments()[0]
    lo, hi = dataset.extent(instrument)
    bars, window = args.max_bars, 60 * 10**9

    def initial():
        data, _ = panel_data(dataset, instrument, lo, hi + 1, window, bars)
        data["overview"] = overview_data(dataset, instrument, bars)
        return data

    span = (hi - lo) // 50
    zoom_lo = lo + (hi - lo) // 2

    def zoom():
        return panel_data(dataset, instrument, zoom_lo, zoom_lo + span, window, bars)[0]

    initial_ms, first = median_ms(initial)
    zoom_ms, zoomed = median_ms(zoom)
    refresh_ms, _ = median_ms(dataset.refresh)
    print(f"file: {path} ({args.snapshots:,} snapshots), instrument {instrument}, max_bars {bars}")
    print(f"open Dataset (materialise trades + metrics, once per server): {open_ms:.0f} ms")
    print(f"initial page queries, median of {RUNS}: {initial_ms:.1f} ms (target < 300)")
    print(f"zoom re-query (1/50 of the range), median of {RUNS}: {zoom_ms:.1f} ms (target < 150)")
    print(f"live refresh check with no new rows, median: {refresh_ms:.2f} ms")
    for label, data in (("initial", first), ("zoom", zoomed)):
        points = {name: len(cols["t"]) for name, cols in data.items()}
        print(f"points per panel ({label}): {points}  (limit 4 x {bars} = {4 * bars})")
    dataset.close()


if __name__ == "__main__":
    main()
