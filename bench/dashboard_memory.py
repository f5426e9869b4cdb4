"""The dashboard server's memory, in-process: one page visits every file, then the timeline.

    .venv/bin/python bench/dashboard_memory.py --files 2
    .venv/bin/python bench/dashboard_memory.py --files 10

Reads the daily files and kept stores of ``bench/dashboard_months.py`` (run it
first) and does, in one process, what a page does through the server's registry:
draw each file over its whole day (then say it shows that file alone), then the
timeline of all of them three times over their whole span (a view of more files
than the server keeps open). Prints the time of each step, the cost of a poll for
new rows, the resident memory after the visits and at the end, its peak (VmRSS,
VmHWM), the most store files held open at once while the timeline drew, and the
Datasets left open. Run once per file count, each in a fresh process: the peak is
per process. No browser and no Bokeh document, so it isolates what the registry
and the queries hold, and takes seconds.

More files than the ten of the months benchmark, smaller ones, in a directory of
your own (generated and their stores built once, in a process of their own):

    .venv/bin/python bench/dashboard_memory.py --prepare --files 30 \\
        --snapshots-per-day 20000 --dir /tmp/days --cache /tmp/days/stores
    .venv/bin/python bench/dashboard_memory.py --files 30 --dir /tmp/days --cache /tmp/days/stores
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from orderflow_services.dashboard.config import DashboardConfig
from orderflow_services.dashboard.registry import Registry

from dashboard_months import build_stores, day_files
from orderflow.charts.panel_data import AUTO_WINDOW, ViewSettings, overview_data, panel_data
from orderflow.query.dataset import Dataset
from orderflow.query.timeline import Timeline

FILES = Path.home() / ".cache" / "orderflow-bench" / "months"
STORES = Path.home() / ".cache" / "orderflow-bench" / "months-stores"
VIEW = ViewSettings(target_bars=177)
"""The candle budget of a 1,600 px page."""


def memory_mib() -> tuple[int, int]:
    """(VmRSS, VmHWM) of this process in MiB."""
    text = Path("/proc/self/status").read_text()
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) // 1024, int(fields["VmHWM"].split()[0]) // 1024


def open_stores(cache: Path) -> int:
    """How many store files (``*.duckdb`` in ``cache``) this process holds open: a store
    is open exactly while it is attached."""
    held = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = Path(os.readlink(fd))
        except OSError:  # closed while listed
            continue
        held += target.parent == cache.resolve() and target.suffix == ".duckdb"
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--dir", type=Path, default=FILES, help="the daily files")
    parser.add_argument("--cache", type=Path, default=STORES, help="the kept stores")
    parser.add_argument(
        "--prepare", action="store_true", help="generate the files and build their stores, only"
    )
    parser.add_argument("--snapshots-per-day", type=int, default=500_000)
    args = parser.parse_args()
    os.environ["ORDERFLOW_CACHE_DIR"] = str(args.cache)
    if args.prepare:
        files = day_files(args.files, args.snapshots_per_day, args.dir)
        seconds = sum(s for s, _ in build_stores(files))
        print(f"{len(files)} files in {args.dir}, stores in {args.cache} ({seconds:.1f} s)")
        return
    files = sorted(str(p) for p in args.dir.glob("day*.db"))[: args.files]
    registry = Registry()
    registry.open(DashboardConfig(databases=files))
    t0 = time.perf_counter()
    for path in files:
        shown = registry.get(path)
        instrument = shown.instruments()[0]
        lo, hi = shown.extent(instrument)
        overview_data(shown, instrument, VIEW.max_bars)
        panel_data(shown, instrument, lo, hi + 1, AUTO_WINDOW, VIEW)
        registry.show("page", [path])
    visits = time.perf_counter() - t0
    after_visits = memory_mib()[0]
    most = 0

    def get(path: str) -> Dataset:
        nonlocal most
        dataset = registry.get(path)
        most = max(most, open_stores(args.cache))
        return dataset

    timeline = Timeline(files, get, registry.opened, registry.release)
    instrument = timeline.instruments()[0]
    pages = []
    for _ in range(3):
        t0 = time.perf_counter()
        lo, hi = timeline.extent(instrument)
        overview_data(timeline, instrument, VIEW.max_bars)
        panel_data(timeline, instrument, lo, hi + 1, AUTO_WINDOW, VIEW)
        registry.show("page", [])
        pages.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    timeline.refresh()
    poll = time.perf_counter() - t0
    rss, peak = memory_mib()
    print(
        f"{len(files)} files (load average {os.getloadavg()[0]:.1f}): every file shown "
        f"{visits:.2f} s, RSS {after_visits} MiB; timeline page "
        f"{', '.join(f'{p:.2f}' for p in pages)} s, at most {most} stores open at once; "
        f"poll {poll * 1000:.1f} ms; RSS {rss} MiB, peak {peak} MiB; "
        f"{len(registry.datasets)} Datasets open"
    )
    registry.close()


if __name__ == "__main__":
    main()
