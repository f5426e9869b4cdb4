"""Instructions per snapshot of the metrics paths, counted by callgrind: noise-free ratios.

    python bench/instructions.py [--snapshots 10000]

Wall-clock benchmarks on a shared VM drift by tens of percent within minutes;
an instruction count does not (same binary, same input, same count). This runs,
under ``valgrind --tool=callgrind``, on one generated recording (25 levels a
side): the seed-style plain implementation, the in-process path
(``orderflow-coord --workers 0``) and what the workers of a sharded run execute
(``compute_shard`` over the whole file, packed into its result message). It prints a table of
instructions per snapshot and each as a ratio to plain; each path's own start-up
(the same command on an empty recording) is subtracted. Instructions are not
seconds (the plain code runs fewer per cycle than msgspec or SQLite do), so use it
to compare versions of the hot path, and ``throughput.py`` for the targets.
"""

from __future__ import annotations

import argparse
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
COORD = "orderflow_services.coordinator.cli"
WORKER_SHARE = """
import sys
from orderflow_services.protocol import MessageCodec, Task
from orderflow_services.worker.shard_compute import compute_shard
from orderflow.store.input_repository import SQLiteOrderflowRepository
from orderflow.store.order_index import TimeOrderedReader
path = sys.argv[1]
repo = SQLiteOrderflowRepository(path)
conn = repo.connect()
book, trades = repo.probe_order(conn, "book"), repo.probe_order(conn, "trades")
task = Task(1, path, 0, None, None, book, trades, None, None)
MessageCodec().encode(compute_shard(task, TimeOrderedReader(repo, conn, None), conn))
"""


def _instructions(command: list[str], work: Path) -> int:
    """Total instructions the command executes (callgrind's Ir), start to exit."""
    out = work / "callgrind.out"
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"{command[2:]} failed under valgrind:\n{done.stderr[-2000:]}")
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit("callgrind printed no instruction count")
    return int(found.group(1))


def _empty(work: Path) -> Path:
    """A recording with the input tables and no rows: what start-up alone costs."""
    db = work / "empty.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(INPUT_DDL)
    conn.close()
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
    args = p.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="orderflow-instr-") as tmp:
        work = Path(tmp)
        source = work / "source.db"
        synth = ["-m", "orderflow.synth.cli", str(source), "--levels", "25", "--quiet"]
        subprocess.run([py, *synth, "--snapshots", str(args.snapshots)], check=True)
        runs = {
            "plain": [py, str(BENCH_DIR / "plain_seed.py")],
            "in-process": [py, "-m", COORD, "--quiet", "--workers", "0"],
            "workers' share": [py, "-c", WORKER_SHARE],
        }
        per_snapshot = {}
        for name, command in runs.items():
            startup = _instructions([*command, str(_empty(work))], work)
            total = _instructions([*command, str(_fresh(source, work))], work)
            per_snapshot[name] = (total - startup) / args.snapshots
    plain = per_snapshot["plain"]
    print(f"{args.snapshots:,} snapshots, 25 levels a side, start-up subtracted\n")
    print("| path | instructions per snapshot | vs plain |")
    print("|---|---|---|")
    for name, count in per_snapshot.items():
        print(f"| {name} | {count:,.0f} | {plain / count:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
