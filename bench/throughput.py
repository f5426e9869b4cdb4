"""End-to-end throughput of every metrics path, in one run.

    python bench/throughput.py [--sizes 200000,1000000] [--repeat 3] [--output bench/RESULTS.md]

For each size it generates (once, cached) a recording with ``orderflow-synth``
(25 levels a side), then times, on a fresh copy each time: the seed-style plain
implementation (``bench/plain_seed.py``), the in-process path
(``orderflow-coord --workers 0``) and the coordinator with 1, 2 and 4 workers.
Each run is a separate process timed from start to exit, so interpreter start,
planning, worker start-up and the final commit all count; the variants take turns
(round robin per repeat), so a shared machine's drifting speed hits them alike. Peak memory is the
kernel's high-water mark (VmHWM) of the coordinator process and of each worker
process, sampled from /proc while they run. Reported: medians over repeats and
each rate as a ratio to the plain implementation.
"""

from __future__ import annotations

import argparse
import os
import platform
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
VARIANTS = ["plain", "in-process", "coord w=1", "coord w=2", "coord w=4"]


@dataclass
class Sample:
    seconds: float
    coord_peak_kib: int
    worker_peak_kib: int


def _command(variant: str, db: Path) -> list[str]:
    if variant == "plain":
        return [sys.executable, str(BENCH_DIR / "plain_seed.py"), str(db)]
    workers = "0" if variant == "in-process" else variant.rsplit("=", 1)[1]
    return [
        sys.executable,
        "-m",
        "orderflow_services.coordinator.cli",
        "--workers",
        workers,
        "--quiet",
        str(db),
    ]


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


def run_once(variant: str, source: Path, work: Path) -> Sample:
    """Time one run on a fresh copy, sampling the high-water marks while it runs."""
    db = work / "bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copy(source, db)
    with db.open("rb+") as copied:  # a user's recording is not 200 MB of unflushed writes;
        os.fsync(copied.fileno())  # the first fsync (WAL setup) must not pay for the copy
    started = time.perf_counter()
    proc = subprocess.Popen(_command(variant, db), stdout=subprocess.DEVNULL)
    coord_peak = 0
    worker_peaks: dict[int, int] = {}
    while proc.poll() is None:
        coord_peak = max(coord_peak, _hwm_kib(proc.pid))
        for child in _children(proc.pid):
            worker_peaks[child] = max(worker_peaks.get(child, 0), _hwm_kib(child))
        time.sleep(SAMPLE_S)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{variant} failed with exit status {proc.returncode}")
    return Sample(seconds, coord_peak, max(worker_peaks.values(), default=0))


def ensure_recording(cache: Path, snapshots: int) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"synth-{snapshots}.db"
    if not path.exists():
        print(f"generating {path} ...", file=sys.stderr, flush=True)
        tmp = path.with_suffix(".tmp.db")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "orderflow.synth.cli",
                str(tmp),
                "--snapshots",
                str(snapshots),
                "--levels",
                "25",
                "--quiet",
            ],
            check=True,
        )
        tmp.rename(path)
    return path


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="200000,1000000", help="snapshot counts, comma-separated")
    p.add_argument("--repeat", type=int, default=3, help="runs per variant (median reported)")
    p.add_argument("--variants", default=",".join(VARIANTS), help="subset of " + ",".join(VARIANTS))
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="generated recordings")
    p.add_argument("--output", type=Path, help="also write the table (markdown) to this file")
    args = p.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",")]
    work = args.cache_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        source = ensure_recording(args.cache_dir, size)
        snapshots = count_snapshots(source)
        samples: dict[str, list[Sample]] = {variant: [] for variant in variants}
        for i in range(args.repeat):
            # Round robin, not variant after variant: a shared machine's speed drifts
            # over minutes, and the ratios must compare runs made under the same load.
            for variant in variants:
                sample = run_once(variant, source, work)
                samples[variant].append(sample)
                print(
                    f"{size:>9,} {variant:<11} run {i + 1}: {sample.seconds:6.2f}s",
                    file=sys.stderr,
                    flush=True,
                )
        medians = {
            variant: (
                statistics.median(s.seconds for s in runs),
                max(s.coord_peak_kib for s in runs),
                max(s.worker_peak_kib for s in runs),
            )
            for variant, runs in samples.items()
        }
        plain_rate = snapshots / medians["plain"][0] if "plain" in medians else None
        one = snapshots / medians["coord w=1"][0] if "coord w=1" in medians else None
        for variant, (seconds, coord_kib, worker_kib) in medians.items():
            rate = snapshots / seconds
            rows.append(
                [
                    f"{snapshots:,}",
                    variant,
                    f"{seconds:.2f}",
                    f"{rate:,.0f}",
                    f"{rate / plain_rate:.1f}x" if plain_rate else "-",
                    f"{rate / one:.2f}x" if one and variant.startswith("coord") else "-",
                    f"{coord_kib / 1024:.0f}",
                    f"{worker_kib / 1024:.0f}" if worker_kib else "-",
                ]
            )
    headers = [
        "snapshots",
        "variant",
        "median s",
        "snapshots/s",
        "vs plain",
        "vs w=1",
        "coord/main peak MiB",
        "worker peak MiB",
    ]
    table = _markdown(headers, rows)
    print(table)
    if args.output:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        args.output.write_text(
            f"# Throughput benchmark\n\nMachine: {machine()}  \nRun: {stamp},"
            f" `python bench/throughput.py --sizes {args.sizes} --repeat {args.repeat}`"
            f" (median of {args.repeat})\n\n{table}\n"
        )
    return 0


def _markdown(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
