"""Dashboard query timings on a 1M-snapshot generated recording, against a naive baseline.

    /tmp/probe/bin/python bench/dashboard_queries.py [--snapshots 1000000]

Generates the file once into ~/.cache/orderflow-bench/ (and runs
``orderflow-coord --workers 0`` on it), then reports medians over several runs of:
opening the Dataset (materialising trades and metrics), the initial page's
queries (whole range: candles, OBI, CVD, alerts, equity, overview) and a zoom
re-query (a 1/50 slice in the middle), with the points each panel receives.

A time alone says nothing about whether DuckDB and M4 earn their keep, so the
initial page and the zoom are also timed, in the same run, the way one would
write them without either: plain sqlite3 reads the instrument's metrics rows
of the range through the (instrument, ts_ns) index and scans every trade,
filtering in Python with ``parse_instant_ns``; a Python loop builds 60 s
candles; nothing is reduced, so every metrics row is shipped. Before timing,
the naive candles are checked against DuckDB's 60 s candles over the same
window, so the ratio compares the same answer. The generated file has no
alerts or equity tables, so the naive page omits those (empty) panels.
"""

from __future__ import annotations

import argparse
import math
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from orderflow.charts.panel_data import (
    NS_PER_MS,
    PanelData,
    ViewSettings,
    overview_data,
    panel_data,
)
from orderflow.core.timestamps import parse_instant_ns
from orderflow.query.dataset import Dataset

CACHE = Path.home() / ".cache" / "orderflow-bench"
RUNS = 7
NAIVE_RUNS = 3
NAIVE_WINDOW_NS = 60 * 10**9
TOLERANCE = 1e-9
_SIGNS = {"buy": 1, "sell": -1}

T = TypeVar("T")
Candle = tuple[int, float, float, float, float, float, float, int]
"""(ts_ns, open, high, low, close, buy_volume, sell_volume, trades), as DuckDB's candles."""


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


def median_ms(fn: Callable[[], T], runs: int = RUNS) -> tuple[float, T]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


def _amount(cell: object) -> float | None:
    """A finite number >= 0, as the Dataset's ``valid_amount``; None otherwise."""
    try:
        value = float(cell)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def naive_candles(
    con: sqlite3.Connection, instrument: str, start_ns: int, end_ns: int, window_ns: int
) -> list[Candle]:
    """Candles from a full scan of the trades table, filtered and aggregated in Python.

    Open and close are the first and last trade by (instant, id), like DuckDB's."""
    acc: dict[int, list] = {}
    rows = con.execute("SELECT id, instrument, price, size, side, timestamp FROM trades")
    for trade_id, inst, price_cell, size_cell, side, raw in rows:
        if inst != instrument:
            continue
        ts = parse_instant_ns(raw)
        if ts is None or not start_ns <= ts < end_ns:
            continue
        price, size = _amount(price_cell), _amount(size_cell)
        sign = _SIGNS.get(side.lower()) if isinstance(side, str) else None
        if price is None or size is None or sign is None:
            continue
        key = (ts, trade_id)
        bucket = ts // window_ns * window_ns
        c = acc.get(bucket)
        if c is None:  # [first key, open, high, low, last key, close, buy, sell, trades]
            acc[bucket] = [key, price, price, price, key, price, 0.0, 0.0, 0]
            c = acc[bucket]
        if key < c[0]:
            c[0], c[1] = key, price
        if key > c[4]:
            c[4], c[5] = key, price
        c[2] = max(c[2], price)
        c[3] = min(c[3], price)
        if sign > 0:
            c[6] += size
        else:
            c[7] += size
        c[8] += 1
    return [(b, c[1], c[2], c[3], c[5], c[6], c[7], c[8]) for b, c in sorted(acc.items())]


def naive_page(
    con: sqlite3.Connection,
    instrument: str,
    start_ns: int,
    end_ns: int,
    *,
    overview: bool,
) -> tuple[PanelData, list[Candle]]:
    """Every metrics row of the range (plus the mid overview when ``overview``: the
    initial page's range is the whole recording, so the same rows serve it) and 60 s
    candles, shaped as {t (epoch ms), ...} columns like the DuckDB page."""
    aligned = start_ns // NAIVE_WINDOW_NS * NAIVE_WINDOW_NS
    candles = naive_candles(con, instrument, aligned, end_ns, NAIVE_WINDOW_NS)
    rows = con.execute(
        "SELECT ts_ns, obi, cvd, best_bid, best_ask FROM metrics "
        "WHERE instrument = ? AND ts_ns >= ? AND ts_ns < ? ORDER BY ts_ns",
        (instrument, start_ns, end_ns),
    ).fetchall()
    data: PanelData = {
        "candles": {
            "t": [(c[0] + NAIVE_WINDOW_NS / 2) / NS_PER_MS for c in candles],
            **{
                name: [c[i] for c in candles]
                for i, name in enumerate(("open", "high", "low", "close"), start=1)
            },
            "buy_volume": [c[5] for c in candles],
            "sell_volume": [c[6] for c in candles],
        }
    }
    for name, col in (("obi", 1), ("cvd", 2)):
        kept = [r for r in rows if r[col] is not None]
        data[name] = {"t": [r[0] / NS_PER_MS for r in kept], "value": [r[col] for r in kept]}
    if overview:
        kept = [r for r in rows if r[3] is not None and r[4] is not None]
        data["overview"] = {
            "t": [r[0] / NS_PER_MS for r in kept],
            "value": [(r[3] + r[4]) / 2 for r in kept],
        }
    return data, candles


def check_candles(
    dataset: Dataset, instrument: str, start_ns: int, end_ns: int, naive: list[Candle]
) -> None:
    """Fail unless the naive candles equal DuckDB's for the same 60 s window."""
    aligned = start_ns // NAIVE_WINDOW_NS * NAIVE_WINDOW_NS
    table = dataset.candles(instrument, aligned, end_ns, NAIVE_WINDOW_NS)
    duck = [tuple(row.values()) for row in table.to_pylist()]
    if len(duck) != len(naive):
        raise SystemExit(f"candle count differs: DuckDB {len(duck)}, naive {len(naive)}")
    for d, n in zip(duck, naive, strict=True):
        same = (
            d[0] == n[0]
            and d[7] == n[7]
            and all(
                math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
                for a, b in zip(d[1:7], n[1:7], strict=True)
            )
        )
        if not same:
            raise SystemExit(f"candle differs: DuckDB {d}, naive {n}")


def total_points(data: PanelData) -> int:
    """Points sent to the browser over all panels."""
    return sum(len(next(iter(cols.values()), [])) for cols in data.values())


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

    def initial() -> PanelData:
        data, _ = panel_data(dataset, instrument, lo, hi + 1, window, ViewSettings(max_bars=bars))
        data["overview"] = overview_data(dataset, instrument, bars)
        return data

    span = (hi - lo) // 50
    zoom_lo = lo + (hi - lo) // 2

    def zoom() -> PanelData:
        settings = ViewSettings(max_bars=bars)
        return panel_data(dataset, instrument, zoom_lo, zoom_lo + span, window, settings)[0]

    initial_ms, first = median_ms(initial)
    zoom_ms, zoomed = median_ms(zoom)
    refresh_ms, _ = median_ms(dataset.refresh)

    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    steps = (
        ("initial page", lo, hi + 1, True, initial_ms, first),
        ("zoom (1/50)", zoom_lo, zoom_lo + span, False, zoom_ms, zoomed),
    )
    table = []
    for label, start, end, with_overview, duck_ms, duck_data in steps:
        naive_ms, (naive_data, candles) = median_ms(
            lambda s=start, e=end, o=with_overview: naive_page(con, instrument, s, e, overview=o),
            runs=NAIVE_RUNS,
        )
        check_candles(dataset, instrument, start, end, candles)
        table.append((label, duck_ms, naive_ms, total_points(duck_data), total_points(naive_data)))
    con.close()
    print(f"file: {path} ({args.snapshots:,} snapshots), instrument {instrument}, max_bars {bars}")
    print(f"open Dataset (materialise trades + metrics, once per server): {open_ms:.0f} ms")
    print(f"initial page queries, median of {RUNS}: {initial_ms:.1f} ms (target < 300)")
    print(f"zoom re-query (1/50 of the range), median of {RUNS}: {zoom_ms:.1f} ms (target < 150)")
    print(f"live refresh check with no new rows, median: {refresh_ms:.2f} ms")
    for label, data in (("initial", first), ("zoom", zoomed)):
        points = {name: len(next(iter(cols.values()), [])) for name, cols in data.items()}
        print(f"points per panel ({label}): {points}  (limit 4 x {bars} = {4 * bars})")
    print(
        f"\nnaive baseline: sqlite3 + Python loop, 60 s candles checked equal to DuckDB's "
        f"(tolerance {TOLERANCE:g}), no reduction; DuckDB median of {RUNS}, naive of {NAIVE_RUNS}"
    )
    print(
        f"{'step':<14} | {'DuckDB ms':>10} | {'naive ms':>10} | {'speed-up':>8} | "
        "points shipped (DuckDB vs naive)"
    )
    for label, duck_ms, naive_ms, duck_points, naive_points in table:
        print(
            f"{label:<14} | {duck_ms:>10.1f} | {naive_ms:>10.1f} | {naive_ms / duck_ms:>7.1f}x | "
            f"{duck_points:,} vs {naive_points:,}"
        )
    dataset.close()


if __name__ == "__main__":
    main()
