"""What the order-flow family and the depth heatmap cost the Python path, in
instructions per snapshot (callgrind): the issue's "less than 15% slower" target.

    python bench/python_path_cost.py [--snapshots 4000] [--levels 25] [--base 5159dfa]

Counts, with ``ORDERFLOW_NATIVE=0``, on one generated recording:

- the in-process path (``Storage.build_booktick_from_db``, what ``orderflow-coord
  --workers 0`` runs: compute and write);
- a worker's share (``compute_shard`` over the whole file, its result encoded;
  the scans come in the task, as from the coordinator, so its probe of the file
  is not counted here);
- the coordinator's probe (``probe_order`` of both tables), a fixed cost per file,

for three versions of the work:

- **seed**: the commit before the family landed (``--base``, default 5159dfa, the
  parent of 5b86772 "Order-flow columns ..."), exported with ``git archive`` into a
  scratch directory and imported from there: OBI, CVD, best bid/ask only. It is the
  "run before" of issue 12; other work has landed since (hardening, new readers),
  so it is not only the family that differs;
- **family**: this tree with the heatmap off (profile ``heatmap_bucket_ms: 0``; a
  task without ``heatmap_ticks``);
- **family + heatmap**: this tree as a default run does it. In process the ticks
  are inferred from a sample of 300 book rows first, a fixed cost of about 100M
  instructions (``decide_ticks``: 25k a snapshot on the default 4,000, under 1k
  on 200k); a worker gets them in its task.

Measured 2026-12-01 (4,000 snapshots, 25 levels a side), per snapshot. "Before":
the family and the heatmap per snapshot in Python; "morning": per-batch numpy
(``orderflow.core.flow_batch``, ``packed_levels``); "now": after the changes below.

| path | seed | family | family + heatmap |
|---|---|---|---|
| in-process, before | 229,264 | 278,417 (1.214x) | 381,826 (1.665x) |
| in-process, morning | 229,307 | 254,753 (1.111x) | 313,178 (1.366x) |
| in-process, now | 229,392 | 244,802 (1.067x) | 289,074 (1.260x; 1.15x without the sampling) |
| worker's share with the probe, before | 193,611 | 262,398 (1.355x) | 318,711 (1.646x) |
| worker's share with the probe, morning | 193,561 | 227,313 (1.174x) | 249,824 (1.291x) |
| worker's share with the probe, now | 193,450 | 215,135 (1.112x) | - |
| worker's share, morning | 193,305 | 208,100 (1.077x) | - |
| worker's share, now | 193,198 | 200,620 (1.038x) | 211,830 (1.096x) |
| coordinator's probe, now | 148 | 15,580 (62M a file) | - |

Where the morning's worker extra over the seed went (callgrind, the same file):

- the probe (about 19k of 227k): until then this bench probed in the process it
  counted, and ``probe_order`` reads 16 windows of 256 rows a table, here the
  whole book; a worker never probes. Its windows in time order now skip the
  Python loop over their instants (``near_order.inversion_margin``): 20.8k -> 15.6k;
- ``numpy.ma``: ``np.unique`` without ``return_index`` imports it at its first call
  in a process (84M instructions: 21k a snapshot here, with the heatmap and in
  ``decide_ticks``); the heatmap no longer calls it that way;
- the readers' ``text_of`` (INTEGER/REAL cells as text) built a ``typeof()``
  string per cell: 1k a book row, now a comparison;
- packing the levels (``pack_levels``) reallocated its buffer about eight times a
  row (1.7k): now over a scratch buffer (``pack_into``); unpacking copied the
  batch's joined bytes once more and zero-padded full rows (2k), and the order
  check reduced each row on its own when one pass over the batch says (1k).

What the family still adds to a worker (7k a snapshot): packing 100 floats a
snapshot (about 6k) and the batch's numpy work, less the seed's per-level OBI
loop it replaced.

Each count has its own start-up subtracted (the same command on an empty
recording); the ratios are to the seed. Wall clock is useless on the shared VM;
instruction counts of the same command on the same file repeat within 0.1%.
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

__all__ = ["main"]

REPO = Path(__file__).resolve().parent.parent
BASE = "5159dfa"
"""The last commit before the order-flow family (5b86772)."""

# argv: path, "heatmap" or "plain". Same text runs on the seed commit and on this tree.
IN_PROCESS = """
import sys
from orderflow.pipeline.storage import Storage
mode = sys.argv[2]
kwargs = {} if mode == "seed" else {"heatmap_bucket_ms": 1000 if mode == "heatmap" else 0}
Storage(sys.argv[1], quiet=True, **kwargs).build_booktick_from_db()
"""
# argv: path, mode, file of the pickled scans. The coordinator probes the file and
# ships the scans in the task; the worker never probes, so neither does its share.
WORKER_SHARE = """
import pickle, sys
from orderflow_services.protocol import MessageCodec, Task
from orderflow_services.worker.shard_compute import compute_shard
from orderflow.store.input_repository import SQLiteOrderflowRepository
from orderflow.store.order_index import TimeOrderedReader
path, mode, scans = sys.argv[1:4]
with open(scans, "rb") as f:
    book, trades = pickle.load(f)
repo = SQLiteOrderflowRepository(path)
conn = repo.connect()
task = Task(1, path, 0, None, None, book, trades, None, None)
if mode != "seed":  # the generator's ticks, as the coordinator would decide them
    ticks = {"BTC-USDT": 0.1, "ETH-USDT": 0.01} if mode == "heatmap" else {}
    task = Task(1, path, 0, None, None, book, trades, None, None, heatmap_ticks=ticks)
kwargs = {} if mode == "seed" else {"use_native": False}
MessageCodec().encode(compute_shard(task, TimeOrderedReader(repo, conn, None), conn, **kwargs))
"""
# argv: path, mode, where to pickle the scans. The coordinator's probe of a file.
PROBE = """
import pickle, sys
from orderflow.store.input_repository import SQLiteOrderflowRepository
repo = SQLiteOrderflowRepository(sys.argv[1])
conn = repo.connect()
scans = repo.probe_order(conn, "book"), repo.probe_order(conn, "trades")
with open(sys.argv[3], "wb") as out:
    pickle.dump(scans, out)
"""


def instructions(command: list[str], env: dict[str, str], work: Path) -> int:
    """Total instructions (callgrind's Ir) the command executes, start to exit."""
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={work / 'callgrind.out'}",
            *command,
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        raise SystemExit(f"{command[1:3]} failed under valgrind:\n{done.stderr[-2000:]}")
    found = re.findall(r"Collected : (\d+)", done.stderr)
    if not found:
        raise SystemExit("callgrind printed no instruction count")
    return int(found[-1])


def seed_tree(work: Path, commit: str) -> Path:
    """An import root holding ``orderflow`` and ``orderflow_services`` of ``commit``."""
    tree = work / "seed-tree"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, "packages", "services"],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    root = work / "seed-root"
    root.mkdir()
    (root / "orderflow").symlink_to(tree / "packages" / "orderflow")
    (root / "orderflow_services").symlink_to(tree / "services")
    return root


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--snapshots", type=int, default=4000, help="size of the recording")
    p.add_argument("--levels", type=int, default=25, help="levels per side")
    p.add_argument("--base", default=BASE, help="commit of the seed-only version")
    p.add_argument("--only", choices=("in-process", "worker", "probe"), help="one path only")
    args = p.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="orderflow-pycost-") as tmp:
        work = Path(tmp)
        source = work / "source.db"
        shape = ["--quiet", "--levels", str(args.levels), "--snapshots", str(args.snapshots)]
        subprocess.run([py, "-m", "orderflow.synth.cli", str(source), *shape], check=True)
        empty = work / "empty.db"
        with sqlite3.connect(source) as src, sqlite3.connect(empty) as dst:
            for (ddl,) in src.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name IN ('book', 'trades')"
            ):
                dst.execute(ddl)
        src.close()
        dst.close()
        root = seed_tree(work, args.base)
        # OpenBLAS starts threads that spin while idle; callgrind counts what they
        # execute, which depends on scheduling rather than on the work (up to 6k
        # instructions a snapshot, varying from run to run). One thread: none.
        clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        clean |= {"ORDERFLOW_NATIVE": "0", "OPENBLAS_NUM_THREADS": "1"}
        envs = {"seed": {**clean, "PYTHONPATH": str(root)}, "plain": clean, "heatmap": clean}
        labels = {"seed": "seed", "plain": "family", "heatmap": "family + heatmap"}
        paths = {"in-process": IN_PROCESS, "worker": WORKER_SHARE, "probe": PROBE}
        if args.only:
            paths = {args.only: paths[args.only]}
        print(f"{args.snapshots} snapshots, {args.levels} levels a side; instructions per snapshot")
        for path_name, code in paths.items():
            counts: dict[str, float] = {}
            for mode, env in envs.items():
                if path_name == "probe" and mode == "heatmap":
                    continue  # the probe reads no profile: the family's count again
                runs = []
                for db in (empty, source):
                    target = work / "run.db"
                    for suffix in ("", "-wal", "-shm", "-journal"):
                        Path(f"{target}{suffix}").unlink(missing_ok=True)
                    shutil.copy(db, target)
                    scans = work / "scans.pickle"
                    if code is WORKER_SHARE:  # probed outside the count, as the coordinator does
                        command = [py, "-c", PROBE, str(target), mode, str(scans)]
                        subprocess.run(command, env=env, check=True)
                    command = [py, "-c", code, str(target), mode, str(scans)]
                    runs.append(instructions(command, env, work))
                counts[mode] = (runs[1] - runs[0]) / args.snapshots
            seed = counts["seed"]
            for mode, count in counts.items():
                if path_name == "probe":  # a fixed cost per file, not a ratio
                    total = f"({count * args.snapshots / 1e6:,.0f}M a file)"
                    print(f"{path_name:11s} {labels[mode]:17s} {count:10,.0f}  {total}")
                    continue
                print(f"{path_name:11s} {labels[mode]:17s} {count:10,.0f}  {count / seed:5.3f}x")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
