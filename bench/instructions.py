"""Instructions per snapshot of the metrics paths, counted by callgrind: noise-free ratios.

    python bench/instructions.py [--snapshots 10000] [--no-runs] [--paths kernel,w2]

Wall-clock benchmarks on a shared VM drift by tens of percent within minutes;
an instruction count does not (same binary, same input, same count). This runs,
under ``valgrind --tool=callgrind``, on one generated recording (25 levels a
side): the seed-style plain implementation, the in-process path
(``orderflow-coord --workers 0``), what the workers of a sharded run execute
(``compute_shard`` over the whole file, packed into its result message) with the
native kernel, with the depth heatmap off and on (ticks decided as a run decides
them), and with ``ORDERFLOW_NATIVE=0``, the coordinator's write of those rows (C
column writer and Python), and whole ``--workers 2`` runs (default profile: the
heatmap on), every process counted (``--trace-children``), with and without the
kernel, and the coordinator process of such a run alone (workers not traced: the
serial part, which sets the pace when the workers wait for its commits). It
prints a table of instructions per snapshot and each as a ratio to plain; each
path's own start-up (the same command on an empty recording) is subtracted, and
for the ``--workers 2`` runs also shown included (three Python processes start:
that share shrinks as the file grows). Instructions are not
seconds (the plain code runs fewer per cycle than msgspec or SQLite do), so use it
to compare versions of the hot path, and ``throughput.py`` for the targets.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from orderflow.store.schema import INPUT_DDL

__all__ = ["main"]

BENCH_DIR = Path(__file__).resolve().parent
PATHS = (
    "plain",
    "in-process",
    "kernel",
    "kernel-heatmap",
    "python-share",
    "w2",
    "w2-python",
    "w2-coordinator",
    "writer",
)
"""What ``--paths`` can pick; ``w2*`` are the whole runs."""
COORD = "orderflow_services.coordinator.cli"
WORKER_SHARE = """
import sys
from orderflow_services.protocol import MessageCodec, Task
from orderflow_services.worker.shard_compute import compute_shard
from orderflow.store.input_repository import SQLiteOrderflowRepository
from orderflow.store.order_index import TimeOrderedReader
from orderflow.store.heatmap_ticks import decide_ticks
path, heatmap = sys.argv[1], sys.argv[2] == "heatmap"
repo = SQLiteOrderflowRepository(path)
conn = repo.connect()
book, trades = repo.probe_order(conn, "book"), repo.probe_order(conn, "trades")
ticks = {n: t for n, (t, _) in decide_ticks(conn, {}).items() if t} if heatmap else {}
task = Task(1, path, 0, None, None, book, trades, None, None, heatmap_ticks=ticks)
MessageCodec().encode(compute_shard(task, TimeOrderedReader(repo, conn, None), conn))
"""
COORD_WRITE = """
import sys, sqlite3
from orderflow_services.coordinator.writer import metric_columns
from orderflow_services.protocol import MessageCodec, Task
from orderflow_services.worker.shard_compute import compute_shard
from orderflow.store.column_writer import insert_columns
from orderflow.store.input_repository import SQLiteOrderflowRepository
from orderflow.store.metrics_repository import METRIC_ROW_COLUMNS, SQLiteMetricsRepository
from orderflow.store.order_index import TimeOrderedReader
path, native = sys.argv[1], sys.argv[2] == "c"
repo = SQLiteOrderflowRepository(path)
conn = repo.connect()
book, trades = repo.probe_order(conn, "book"), repo.probe_order(conn, "trades")
task = Task(1, path, 0, None, None, book, trades, None, None)
codec = MessageCodec()
result = codec.decode(codec.encode(compute_shard(task, TimeOrderedReader(repo, conn, None), conn)))
metrics = SQLiteMetricsRepository(path)
metrics.create_metrics_table()
if sys.argv[3] == "write":
    columns = result.columns()
    with metrics.transaction() as out:
        insert_columns(
            out, "metrics", METRIC_ROW_COLUMNS, metric_columns(columns), len(columns),
            native=native,
        )
"""


DUMP_EVERY_BB = 20_000_000
"""Basic blocks between callgrind's dumps of a traced child (about 90M instructions)."""
KILLED: list[str] = []
"""Processes whose last part was lost (the coordinator kills a worker that is slow to
exit, and a valgrind-slowed one often is): their counts miss at most one part."""


def _instructions(
    command: list[str], work: Path, env: dict[str, str] | None = None, *, children: bool = False
) -> int:
    """Total instructions the command executes (callgrind's Ir), start to exit; with
    ``children``, summed over every process it starts (local workers). Children dump
    their counts every ``DUMP_EVERY_BB`` basic blocks, and every part is summed: a
    worker killed on its way out keeps all but its last part. Forked children (the
    coordinator forks its local workers) are traced whatever ``children`` says, and
    start with their parent's counts: those are zeroed in them, and without
    ``children`` only the command's own process is counted."""
    for old in work.glob("callgrind.out.*"):
        old.unlink()
    out = work / "callgrind.out.%p"
    trace = [f"--trace-children={'yes' if children else 'no'}"]
    trace.append("--zero-before=PyOS_AfterFork_Child")
    if children:
        trace.append(f"--dump-every-bb={DUMP_EVERY_BB}")
    proc = subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            "--dump-instr=no",
            *trace,
            f"--callgrind-out-file={out}",
            *command,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    _, stderr = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{command[2:]} failed under valgrind:\n{stderr[-2000:]}")
    total = 0
    finished = set(re.findall(r"==(\d+)== Collected : \d+", stderr))
    for part in work.glob("callgrind.out.*"):
        pid = part.name.split(".")[2]
        if not children and pid != str(proc.pid):
            continue
        found = re.search(r"^totals: (\d+)", part.read_text(errors="replace"), re.M)
        total += int(found[1]) if found else 0
        if children and pid not in finished and not found:
            KILLED.append(f"pid {pid}, a process of `{' '.join(command[1:4])}`")
    if total == 0:
        raise SystemExit("callgrind wrote no instruction count")
    return total


def _empty(work: Path) -> Path:
    """A recording with the input tables and no rows: what start-up alone costs."""
    db = work / "empty.db"
    db.unlink(missing_ok=True)
    with sqlite3.connect(db) as conn:
        conn.executescript(INPUT_DDL)
    conn.close()
    return db


def _tiny(work: Path, py: str) -> Path:
    """Two snapshots: start-up of a path that needs a heatmap tick to decide (an empty
    file has no prices to infer one from)."""
    db = work / "tiny.db"
    synth = ["-m", "orderflow.synth.cli", str(db), "--levels", "25", "--quiet"]
    subprocess.run([py, *synth, "--snapshots", "2"], check=True)
    return db


def _fresh(source: Path, work: Path) -> Path:
    db = work / "bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copy(source, db)
    return db


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--snapshots", type=int, default=10_000, help="size of the recording")
    p.add_argument(
        "--no-runs", action="store_true", help="skip the whole --workers 2 runs (slowest part)"
    )
    p.add_argument(
        "--paths",
        help=f"only these, comma-separated, of: {','.join(PATHS)} (default: all)",
    )
    args = p.parse_args(argv)
    chosen = args.paths.split(",") if args.paths else list(PATHS)
    if unknown := set(chosen) - set(PATHS):
        raise SystemExit(f"unknown paths {sorted(unknown)}; choose from {list(PATHS)}")
    if args.no_runs:
        chosen = [k for k in chosen if not k.startswith("w2")]
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="orderflow-instr-") as tmp:
        work = Path(tmp)
        source = work / "source.db"
        synth = ["-m", "orderflow.synth.cli", str(source), "--levels", "25", "--quiet"]
        subprocess.run([py, *synth, "--snapshots", str(args.snapshots)], check=True)
        python = {"ORDERFLOW_NATIVE": "0"}
        w2 = [py, "-m", COORD, "--quiet", "--workers", "2"]
        share = [py, "-c", WORKER_SHARE]
        # key: (label, command, its arguments after the file, environment, count children)
        runs: dict[str, tuple[str, list[str], list[str], dict[str, str], bool]] = {
            "plain": ("plain", [py, str(BENCH_DIR / "plain_seed.py")], [], {}, False),
            "in-process": (
                "in-process",
                [py, "-m", COORD, "--quiet", "--workers", "0"],
                [],
                {},
                False,
            ),
            "kernel": ("workers' share, kernel, heatmap off", share, ["off"], {}, False),
            "kernel-heatmap": ("workers' share, kernel, heatmap on", share, ["heatmap"], {}, False),
            "python-share": ("workers' share, Python, heatmap off", share, ["off"], python, False),
            "w2": ("--workers 2, all processes, kernel", w2, [], {}, True),
            "w2-python": ("--workers 2, all processes, Python", w2, [], python, True),
            "w2-coordinator": ("--workers 2, coordinator process only", w2, [], {}, False),
        }
        per_snapshot: dict[str, float] = {}
        whole: dict[str, float] = {}
        for key in chosen:
            if key == "writer":
                continue
            name, command, extra, env, children = runs[key]
            start_file = _tiny(work, py) if "heatmap" in extra else _empty(work)
            empty = [*command, str(start_file), *extra]
            startup = _instructions(empty, work, env, children=children)
            full = [*command, str(_fresh(source, work)), *extra]
            total = _instructions(full, work, env, children=children)
            per_snapshot[name] = (total - startup) / args.snapshots
            if key.startswith("w2"):
                whole[f"{name}, start-up included"] = total / args.snapshots
        # The coordinator's write alone: the same script with and without the insert.
        for kind in ("c", "py") if "writer" in chosen else ():
            write = [py, "-c", COORD_WRITE]
            without = _instructions([*write, str(_fresh(source, work)), kind, "skip"], work)
            with_rows = _instructions([*write, str(_fresh(source, work)), kind, "write"], work)
            label = "C column writer" if kind == "c" else "Python executemany"
            per_snapshot[f"coordinator's insert, {label}"] = (with_rows - without) / args.snapshots
    plain = per_snapshot.get("plain")
    print(f"{args.snapshots:,} snapshots, 25 levels a side, start-up subtracted unless said\n")
    print("| path | instructions per snapshot | vs plain |")
    print("|---|---|---|")
    for name, count in {**per_snapshot, **whole}.items():
        ratio = f"{plain / count:.2f}x" if plain else "-"
        print(f"| {name} | {count:,.0f} | {ratio} |")
    if KILLED:
        lost = DUMP_EVERY_BB * 5 / args.snapshots
        print(f"\nKilled before their last dump (each misses under about {lost:,.0f} a snapshot):")
        print("\n".join(f"- {k}" for k in KILLED))
    return 0


if __name__ == "__main__":
    sys.exit(main())
