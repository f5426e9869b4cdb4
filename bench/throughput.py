"""End-to-end throughput of every metrics path, in one run (issue 10 item 7).

    python bench/throughput.py [--sizes 200000,1000000] [--repeat 3] [--repeat-large 1]
                               [--orderings ordered,jittered] [--output bench/RESULTS.md]

For each size and ordering it generates (once, cached) a recording with
``orderflow-synth`` (25 levels a side; ``jittered`` adds ``--jitter-ms 100``, ids
in order of timestamp plus up to 100 ms, as merged feeds). Then it times, on a
fresh copy each time and in the same run:

- ``plain``: the seed-style json + dataclass script (``bench/plain_seed.py``);
- ``in-process``: ``orderflow-coord --workers 0``;
- ``w=1/2/4``: the coordinator with 1, 2 and 4 local workers, and the same with
  ``ORDERFLOW_NATIVE=0`` (``py w=N``: the Python path, no kernel, no C writer);
- ``w=2 no heatmap``: ``--workers 2`` with a profile of ``heatmap_bucket_ms: 0``, the
  job nearest the DuckDB script's (which computes no heatmap, writes no index and only
  OBI and CVD; the family's columns cannot be turned off);
- ``duckdb``: the same job as one DuckDB SQL script (``bench/duckdb_script.py``);
- ``scan floor``: a C program that only steps the book table (``bench/scan_floor.c``).

Each run is a separate process timed from start to exit (interpreter start,
planning, worker start-up and the final commit count); variants take turns per
repeat, so a shared machine's drifting speed hits them alike. CPU-seconds are
the run's whole process tree (``RUSAGE_CHILDREN``: the coordinator reaps its
workers). Peak memory is the high-water mark (VmHWM) of the main process and of
the largest worker, sampled from /proc while they run. Reported: medians, every
rate as a ratio to plain, to the DuckDB script and to ``w=1`` of the same kind,
CPU-s / wall-s, and snapshots per CPU-second with its ratio to plain's (on a
shared, overloaded machine the wall-clock rates say more about the neighbours
than about the code; CPU-seconds much less so).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["main"]

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_CACHE = Path(os.environ.get("ORDERFLOW_BENCH_CACHE", "/tmp/orderflow-bench"))
SAMPLE_S = 0.05
JITTER_MS = 100
VARIANTS = [
    "plain",
    "in-process",
    "w=1",
    "w=2",
    "w=4",
    "w=2 no heatmap",
    "py w=1",
    "py w=2",
    "py w=4",
    "duckdb",
    "scan floor",
]
LARGE = 1_000_000
NO_HEATMAP_PROFILE = "name: no-heatmap\npaths: []\nheatmap_bucket_ms: 0\n"


@dataclass
class Sample:
    seconds: float
    cpu_seconds: float
    main_peak_kib: int
    worker_peak_kib: int


def _command(variant: str, db: Path, floor: Path) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    # A user's interpreter caches compiled bytecode; a sandbox that sets this makes
    # every process of every variant recompile its imports (~0.04 s each) instead.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if variant == "plain":
        return [sys.executable, str(BENCH_DIR / "plain_seed.py"), str(db)], env
    if variant == "duckdb":
        return [sys.executable, str(BENCH_DIR / "duckdb_script.py"), str(db)], env
    if variant == "scan floor":
        return [str(floor), str(db)], env
    if variant.startswith("py "):
        env["ORDERFLOW_NATIVE"] = "0"
    command = [sys.executable, "-m", "orderflow_services.coordinator.cli", "--quiet"]
    if variant == "w=2 no heatmap":
        profile = db.with_name("no-heatmap.yaml")
        profile.write_text(NO_HEATMAP_PROFILE)
        return [*command, "--profile", str(profile), "--workers", "2", str(db)], env
    workers = "0" if variant == "in-process" else variant.rsplit("=", 1)[1]
    return [*command, "--workers", workers, str(db)], env


def _hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(variant: str, source: Path, work: Path, floor: Path) -> Sample:
    """Time one run on a fresh copy, sampling the high-water marks while it runs."""
    db = work / "bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copy(source, db)
    with db.open("rb+") as copied:  # a user's recording is not 200 MB of unflushed writes;
        os.fsync(copied.fileno())  # the first fsync (WAL setup) must not pay for the copy
    command, env = _command(variant, db, floor)
    cpu_before = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, env=env)
    main_peak = 0
    worker_peaks: dict[int, int] = {}
    while proc.poll() is None:
        main_peak = max(main_peak, _hwm_kib(proc.pid))
        for child in _children(proc.pid):
            worker_peaks[child] = max(worker_peaks.get(child, 0), _hwm_kib(child))
        time.sleep(SAMPLE_S)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{variant} failed with exit status {proc.returncode}")
    return Sample(
        seconds, _children_cpu() - cpu_before, main_peak, max(worker_peaks.values(), default=0)
    )


def ensure_recording(cache: Path, snapshots: int, ordering: str) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    jitter = ["--jitter-ms", str(JITTER_MS)] if ordering == "jittered" else []
    path = cache / f"synth-{snapshots}-{ordering}.db"
    if not path.exists():
        print(f"generating {path} ...", file=sys.stderr, flush=True)
        tmp = path.with_suffix(".tmp.db")
        tmp.unlink(missing_ok=True)
        command = [sys.executable, "-m", "orderflow.synth.cli", str(tmp)]
        options = ["--snapshots", str(snapshots), "--levels", "25", "--quiet", *jitter]
        subprocess.run([*command, *options], check=True)
        tmp.rename(path)
    return path


def build_floor(cache: Path) -> Path:
    """Compile the scan-floor program (once per source change)."""
    source = BENCH_DIR / "scan_floor.c"
    binary = cache / "scan_floor"
    if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
        cache.mkdir(parents=True, exist_ok=True)
        compiler = os.environ.get("CC", "cc")
        subprocess.run([compiler, "-O2", "-o", str(binary), str(source), "-lsqlite3"], check=True)
    return binary


def count_snapshots(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM book").fetchone()[0]


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()},"
        f" Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def _ratio(rate: float, base: float | None) -> str:
    return f"{rate / base:.2f}x" if base else "-"


def measure(
    size: int, ordering: str, variants: list[str], repeat: int, cache: Path, floor: Path
) -> tuple[list[list[str]], list[str]]:
    """Table rows and summary lines for one recording."""
    source = ensure_recording(cache, size, ordering)
    snapshots = count_snapshots(source)
    work = cache / "work"
    work.mkdir(parents=True, exist_ok=True)
    samples: dict[str, list[Sample]] = {variant: [] for variant in variants}
    for i in range(repeat):
        # Round robin, not variant after variant: a shared machine's speed drifts
        # over minutes, and the ratios must compare runs made under the same load.
        for variant in variants:
            sample = run_once(variant, source, work, floor)
            samples[variant].append(sample)
            print(
                f"{size:>9,} {ordering:<8} {variant:<10} run {i + 1}:"
                f" {sample.seconds:6.2f}s {sample.cpu_seconds:6.2f} CPU-s",
                file=sys.stderr,
                flush=True,
            )
    median = {v: statistics.median(s.seconds for s in runs) for v, runs in samples.items()}
    cpu = {v: statistics.median(s.cpu_seconds for s in runs) for v, runs in samples.items()}
    rate = {v: snapshots / seconds for v, seconds in median.items()}
    rows = []
    for variant, runs in samples.items():
        own_w1 = "py w=1" if variant.startswith("py ") else "w=1"
        is_coord = variant.startswith(("w=", "py w="))
        rows.append(
            [
                f"{snapshots:,}",
                ordering,
                variant,
                f"{median[variant]:.2f}",
                f"{rate[variant]:,.0f}",
                _ratio(rate[variant], rate.get("plain")),
                _ratio(rate[variant], rate.get("duckdb")),
                _ratio(rate[variant], rate.get(own_w1)) if is_coord else "-",
                f"{cpu[variant]:.2f}",
                f"{cpu[variant] / median[variant]:.2f}",
                f"{snapshots / cpu[variant]:,.0f}" if cpu[variant] else "-",
                _ratio(cpu["plain"], cpu[variant]) if "plain" in cpu and cpu[variant] else "-",
                f"{max(s.main_peak_kib for s in runs) / 1024:.0f}",
                f"{max(s.worker_peak_kib for s in runs) / 1024:.0f}" if is_coord else "-",
            ]
        )
    notes = []
    for kind in ("", "py "):
        one, two = f"{kind}w=1", f"{kind}w=2"
        if one in cpu and two in cpu:
            notes.append(
                f"{snapshots:,} {ordering}: total CPU-s {two} / {one} ="
                f" {cpu[two]:.2f} / {cpu[one]:.2f} = {cpu[two] / cpu[one]:.2f}"
            )
    return rows, notes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="200000,1000000", help="snapshot counts, comma-separated")
    p.add_argument("--repeat", type=int, default=3, help="runs per variant (median reported)")
    p.add_argument(
        "--repeat-large",
        type=int,
        default=1,
        help=f"runs per variant for sizes of {LARGE:,} snapshots and more (default 1)",
    )
    p.add_argument("--orderings", default="ordered,jittered", help="ordered, jittered or both")
    p.add_argument("--variants", default=",".join(VARIANTS), help="subset of " + ",".join(VARIANTS))
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="generated recordings")
    p.add_argument("--output", type=Path, help="also write the table (markdown) to this file")
    args = p.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",")]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        p.error(f"unknown variant(s): {', '.join(sorted(unknown))}")
    floor = build_floor(args.cache_dir)
    started = time.perf_counter()
    rows: list[list[str]] = []
    notes: list[str] = []
    for size in (int(s) for s in args.sizes.split(",")):
        repeat = args.repeat_large if size >= LARGE else args.repeat
        for ordering in (o.strip() for o in args.orderings.split(",")):
            more_rows, more_notes = measure(size, ordering, variants, repeat, args.cache_dir, floor)
            rows += more_rows
            notes += more_notes
    headers = [
        "snapshots",
        "ids",
        "variant",
        "median s",
        "snapshots/s",
        "vs plain",
        "vs duckdb",
        "vs w=1",
        "CPU-s",
        "CPU-s / s",
        "snapshots / CPU-s",
        "vs plain, CPU",
        "main peak MiB",
        "worker peak MiB",
    ]
    table = _markdown(headers, rows)
    lines = "\n".join(f"- {note}" for note in notes)
    print(table)
    print(lines)
    minutes = (time.perf_counter() - started) / 60
    if args.output:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        args.output.write_text(
            f"# Throughput benchmark\n\nMachine: {machine()}  \nRun: {stamp},"
            f" `python bench/throughput.py --sizes {args.sizes} --repeat {args.repeat}"
            f" --repeat-large {args.repeat_large} --orderings {args.orderings}"
            f" --variants {args.variants!r}`"
            f" (medians; {minutes:.0f} minutes in all)\n\n{table}\n\n{lines}\n"
        )
    return 0


def _markdown(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
