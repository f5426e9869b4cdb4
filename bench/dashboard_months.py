"""Months of data: the dashboard on a directory of daily files, from its stores.

    .venv/bin/python bench/dashboard_months.py [--days 10] [--snapshots-per-day 500000]

Generates (once, into ~/.cache/orderflow-bench/months/) one file per day, 2
instruments, snapshots spread over the whole day, and runs ``orderflow-coord`` on
each. Then, with the dashboard's stores in a fresh cache directory:

1. builds each file's store once (the copy of trades and metrics plus the
   aggregates), timed;
2. serves the first 2 files (1M snapshots) and then all of them (5M) with the
   real ``orderflow-dashboard`` and opens the page in headless Chromium three
   times: the time until every panel has data (median) and the server's CPU
   seconds meanwhile, the time until the timeline of all files has drawn, and
   the server's resident memory after the page has visited every file and the
   timeline (VmRSS and its peak VmHWM); with ``--page-only`` it stops here;
3. times, in-process, every Dataset query of the initial page (whole day) and of
   zooms to 1/50 of the day, 1 hour and 20 seconds (footprint), each query
   separately, median of 5;
4. the footprint and heatmap queries over 1 hour and over the whole day of one
   file (the heatmap only when the file has ``metrics_heatmap``; the coordinator
   does not write it yet, so the first file's is built with
   ``tests/dashboard/heatmap_data.py``);
5. the timeline page over all days, one day and one hour (whole page, and its
   slowest single query on any file).

Targets (issue 13 item 7): page open < 5 s, memory flat between 1M and 5M and
< 1 GB, every query < 300 ms.
"""

from __future__ import annotations

import argparse
import datetime
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from orderflow.charts.panel_data import AUTO_WINDOW, ViewSettings, overview_data, panel_data
from orderflow.query.dataset import Dataset
from orderflow.query.footprint import nice_bin_width
from orderflow.query.timeline import Timeline

CACHE = Path.home() / ".cache" / "orderflow-bench" / "months"
RUNS = 5
OPENS = 3
"""Fresh tabs opened per server: the first pays for the imports of the first session."""
NS_PER_S = 10**9
DAY_NS = 86_400 * NS_PER_S
TIMED = (
    "candles", "band", "points", "candle_flow", "alerts", "values_at", "equity", "fills",
    "large_trades", "tick", "volume_profile", "footprint", "extent", "heatmap", "instruments",
    "last_metric_ns", "median_interval_ns",
)  # fmt: skip


def day_files(days: int, per_day: int, folder: Path = CACHE) -> list[Path]:
    """The daily recordings (from 2024-03-01 on), generated and processed once."""
    folder.mkdir(parents=True, exist_ok=True)
    bin_dir = Path(sys.executable).parent
    interval_ms = max(1, round(2 * 86_400_000 / per_day))  # 2 instruments over 24 h
    files = []
    for day in range(1, days + 1):
        path = folder / f"day{day:02d}.db"
        done = Path(f"{path}.done")
        start = datetime.date(2024, 3, 1) + datetime.timedelta(days=day - 1)
        if not done.exists():
            subprocess.run(
                [bin_dir / "orderflow-synth", path, "--snapshots", str(per_day),
                 "--interval-ms", str(interval_ms), "--start", f"{start}T00:00:00Z",
                 "--seed", str(day), "--quiet"],
                check=True,
            )  # fmt: skip
            subprocess.run(
                [bin_dir / "orderflow-coord", "--workers", "0", "--quiet", path], check=True
            )
            done.touch()
        files.append(path)
    return files


class TimedDataset(Dataset):
    """A Dataset that records how long each question took, by method name."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.times: dict[str, list[float]] = {}

    def __getattribute__(self, name: str):
        attr = super().__getattribute__(name)
        if name not in TIMED:
            return attr
        times = super().__getattribute__("times")

        def timed(*args: object, **kwargs: object):
            t0 = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                times.setdefault(name, []).append((time.perf_counter() - t0) * 1000)

        return timed


def build_stores(files: list[Path]) -> list[tuple[float, bool]]:
    """(seconds, reused) per file: the copy and aggregates built, or a kept store checked."""
    out = []
    for path in files:
        t0 = time.perf_counter()
        with Dataset(path, store=True) as dataset:
            assert dataset.persistent
            reused = dataset.reused
        out.append((time.perf_counter() - t0, reused))
    return out


def page_queries(
    dataset: TimedDataset, instrument: str, start: int, end: int, *, initial: bool
) -> dict:
    """Median over runs of the slowest call of each query method the page makes: the
    initial page also lists instruments, the extent, the last row, the zoom limit and
    the overview strip."""
    medians: dict[str, list[float]] = {}
    for _ in range(RUNS):
        dataset.times.clear()
        if initial:
            dataset.instruments()
            dataset.extent(instrument)
            dataset.last_metric_ns(instrument)
            dataset.median_interval_ns(instrument)
            overview_data(dataset, instrument, ViewSettings().max_bars)
        panel_data(dataset, instrument, start, end, AUTO_WINDOW, ViewSettings())
        for name, times in dataset.times.items():
            medians.setdefault(name, []).append(max(times))
    return {name: statistics.median(v) for name, v in medians.items()}


def _load() -> str:
    return ", ".join(f"{v:.1f}" for v in os.getloadavg())


def median_ms(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _server_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (every thread: DuckDB's too)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _open_stores(pid: int, cache: Path) -> int:
    """How many store files (``*.duckdb`` in ``cache``) process ``pid`` holds open."""
    targets = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            targets.append(Path(os.readlink(fd)))
        except OSError:  # closed while listed
            continue
    return sum(t.parent == cache.resolve() and t.suffix == ".duckdb" for t in targets)


def serve_and_open(files: list[Path], cache: Path) -> dict[str, object]:
    """Seconds until the server prints its URL (it opens the first file first); for
    OPENS fresh tabs, seconds from navigation until every panel has data and the
    server's CPU seconds meanwhile; seconds until the timeline of all files has drawn;
    then the server's VmRSS and VmHWM (MiB) and its open stores after the page has
    shown every file and the timeline."""
    from playwright.sync_api import sync_playwright

    env = {**os.environ, "ORDERFLOW_CACHE_DIR": str(cache)}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.perf_counter()
    proc = subprocess.Popen(
        [Path(sys.executable).parent / "orderflow-dashboard", *map(str, files), "--port",
         str(port)],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    url = proc.stdout.readline().split(": ", 1)[1].strip()
    out: dict[str, object] = {"start": time.perf_counter() - started, "opens": [], "cpu": []}
    model = "Bokeh.documents[0].get_model_by_name"
    ready = (
        f"() => window.Bokeh && Bokeh.documents.length > 0 && "
        f"['candles', 'obi', 'cvd', 'profile', 'overview'].every("
        f"(n) => {model}(n).data[n === 'profile' ? 'y' : 't'].length > 0)"
    )
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--no-sandbox", "--headless=new"]
            )
            for _ in range(OPENS):
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                cpu = _server_cpu_s(proc.pid)
                t0 = time.perf_counter()
                page.goto(url)
                page.wait_for_function(ready, timeout=240_000)
                out["opens"].append(time.perf_counter() - t0)
                out["cpu"].append(_server_cpu_s(proc.pid) - cpu)
                page.close()
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(url)
            page.wait_for_function(ready, timeout=240_000)
            first = page.evaluate(f"() => {model}('x_range').start")
            start = first
            for path in files[1:]:  # each file is another day: the view moves on
                page.evaluate(f"(v) => {{ {model}('database').value = v; }}", str(path))
                # the range, not only the overview: the server sends them one after the
                # other, and a range read between the two was the previous file's
                page.wait_for_function(
                    f"(s) => {model}('x_range').start > s && {ready[6:]}",
                    arg=start,
                    timeout=240_000,
                )
                start = page.evaluate(f"() => {model}('x_range').start")
            out["timeline"] = 0.0
            if len(files) > 1:
                t0 = time.perf_counter()
                page.evaluate(f"() => {{ {model}('database').value = '*timeline*'; }}")
                page.wait_for_function(  # the view now reaches back to the first day
                    f"(s) => {model}('x_range').start <= s && {ready[6:]}",
                    arg=first,
                    timeout=240_000,
                )
                out["timeline"] = time.perf_counter() - t0
            browser.close()
        status = Path(f"/proc/{proc.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        out["rss"] = int(fields["VmRSS"].split()[0]) // 1024
        out["hwm"] = int(fields["VmHWM"].split()[0]) // 1024
        out["stores"] = _open_stores(proc.pid, cache)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


def timeline_queries(files: list[Path]) -> None:
    """Every query of the timeline page over all days, a day and an hour, in-process."""
    opened = {str(p): TimedDataset(p, store=True) for p in files}
    try:
        timeline = Timeline(list(opened), opened.__getitem__)
        instrument = timeline.instruments()[0]
        lo, hi = timeline.extent(instrument)
        middle = (lo + hi) // 2
        for label, (start, end) in {
            f"timeline, all {len(files)} days": (lo, hi + 1),
            "timeline, one day": (middle, middle + DAY_NS),
            "timeline, one hour": (middle, middle + 3600 * NS_PER_S),
        }.items():
            worst: dict[str, list[float]] = {}
            pages = []
            for _ in range(RUNS):
                for dataset in opened.values():
                    dataset.times.clear()
                t0 = time.perf_counter()
                panel_data(timeline, instrument, start, end, AUTO_WINDOW, ViewSettings())
                pages.append((time.perf_counter() - t0) * 1000)
                for dataset in opened.values():
                    for name, times in dataset.times.items():
                        worst.setdefault(name, []).append(max(times))
            slowest = max(((k, max(v)) for k, v in worst.items()), key=lambda kv: kv[1])
            print(
                f"{label}: whole page {statistics.median(pages):.0f} ms; slowest single "
                f"query {slowest[0]} {slowest[1]:.1f} ms"
            )
    finally:
        for dataset in opened.values():
            dataset.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--snapshots-per-day", type=int, default=500_000)
    parser.add_argument("--cache", type=Path, help="store directory to build or reuse")
    parser.add_argument(
        "--page-only", action="store_true", help="only the served page, not the query timings"
    )
    args = parser.parse_args()
    files = day_files(args.days, args.snapshots_per_day)
    total = args.days * args.snapshots_per_day
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp)
        os.environ["ORDERFLOW_CACHE_DIR"] = str(cache)
        stores = build_stores(files)
        print(f"files: {len(files)} x {args.snapshots_per_day:,} snapshots = {total:,}")
        built = [s for s, reused in stores if not reused]
        kept = [s for s, reused in stores if reused]
        if built:
            print(f"store build, once per file: median {statistics.median(built):.1f} s")
        if kept:
            print(f"kept store checked and reused: median {statistics.median(kept):.2f} s")
        few = files[: max(1, len(files) // 5)]
        for label, subset in ((f"{len(few)} files", few), (f"{len(files)} files", files)):
            got = serve_and_open(subset, cache)
            opens = ", ".join(f"{s:.2f}" for s in got["opens"])
            print(
                f"server on {label} (load average {_load()}): URL after {got['start']:.1f} s; "
                f"page open median {statistics.median(got['opens']):.2f} s of {opens} "
                f"(target < 5), server CPU per open median {statistics.median(got['cpu']):.2f} s;"
                f" timeline of all {got['timeline']:.2f} s; after visiting every file and the "
                f"timeline RSS {got['rss']} MiB, peak {got['hwm']} MiB (target < 1024, flat), "
                f"{got['stores']} stores open"
            )
        if args.page_only:
            return
        timeline_queries(files)
        with TimedDataset(files[0], store=True) as dataset:
            instrument = dataset.instruments()[0]
            lo, hi = dataset.extent(instrument)
            middle = (lo + hi) // 2
            views = {
                "initial page (whole day)": (lo, hi + 1),
                "zoom 1/50 of the day": (middle, middle + (hi - lo) // 50),
                "zoom 1 hour": (middle, middle + 3600 * NS_PER_S),
                "zoom 20 s (footprint)": (middle, middle + 20 * NS_PER_S),
            }
            for label, (start, end) in views.items():
                times = page_queries(dataset, instrument, start, end, initial="initial" in label)
                worst = max(times.items(), key=lambda kv: kv[1])
                shown = ", ".join(f"{k} {v:.1f}" for k, v in sorted(times.items()))
                print(f"{label}: slowest {worst[0]} {worst[1]:.1f} ms (target < 300); {shown}")
            tick = dataset.tick(instrument)
            for label, (start, end) in (
                ("1 hour", (middle, middle + 3600 * NS_PER_S)),
                ("whole day", (lo, hi + 1)),
            ):
                window = 60 * NS_PER_S if label == "1 hour" else 900 * NS_PER_S
                candles = dataset.candles(instrument, start // window * window, end, window)
                span = max(candles["high"].to_pylist()) - min(candles["low"].to_pylist())
                width = nice_bin_width(tick, span, 28)
                ms = median_ms(
                    lambda s=start, e=end, w=window, b=width: dataset.footprint(
                        instrument, s // w * w, e, w, b
                    )
                )
                print(f"footprint {label} ({window // NS_PER_S} s candles): {ms:.1f} ms")
                ms = median_ms(lambda s=start, e=end: dataset.heatmap(instrument, s, e, 600, 130))
                grid = dataset.heatmap(instrument, start, end, 600, 130)
                shape = "no heatmap table" if grid is None else f"{grid.bids.shape} cells"
                print(f"heatmap {label} (600 x 130 cells at most): {ms:.1f} ms, {shape}")


if __name__ == "__main__":
    main()
