"""``orderflow-coord``: compute OBI/CVD metrics for recordings and store them in place.

``--workers 0`` runs the in-process reference pipeline; a positive count (or a
``--bind`` endpoint for remote workers) runs the sharded coordinator with that
many local ZeroMQ workers. ``orderflow-coord keygen DIR`` writes CURVE keys.
"""

from __future__ import annotations

import argparse
import ipaddress
import shlex
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

import zmq
from orderflow_services.coordinator.coordinator import Coordinator
from orderflow_services.coordinator.curve_keys import generate_keys
from orderflow_services.coordinator.run_lock import RunLock
from orderflow_services.coordinator.run_state import (
    CoordinatorSettings,
    Interrupted,
    ShardFailed,
)
from orderflow_services.coordinator.scratch import SocketPathError

from orderflow import native
from orderflow.console import configure_logging, format_table, run_main
from orderflow.core.errors import InputFileError
from orderflow.pipeline.storage import RunSummary, Storage
from orderflow.profiles.profile import Profile, load_profile
from orderflow.store.connections import leave_wal, open_readonly, sqlite_problem
from orderflow.store.output_tables import check_output_tables

__all__ = ["main"]

PROG = "orderflow-coord"
MAX_COUNT = 2**31 - 1
"""The largest count a flag takes: far beyond any book's levels or file's shards, and
within what every wire message and the kernel carry (2^64 failed every shard)."""


def whole_number(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to MAX_COUNT. Unchecked, ``--depth 0``
    or ``-3`` ran in-process and failed every shard on workers, and ``--workers -1``,
    ``--shards 0`` or ``--batch-size -1`` ran as if not given."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= MAX_COUNT:
            raise argparse.ArgumentTypeError(f"{text} is not within {low}..{MAX_COUNT}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Compute order book imbalance and cumulative volume delta for recordings.",
        epilog=f"Keys for remote workers: '{PROG} keygen DIR --worker NAME' writes CURVE keys"
        f" for --bind/--curve-keys (see '{PROG} keygen --help').",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="SQLite files, directories or globs")
    p.add_argument("--profile", help="YAML dataset profile (configs/*.yaml)")
    p.add_argument("--workers", type=whole_number(0), help="local worker processes; 0 = in-process")
    p.add_argument(
        "--depth", type=whole_number(1), help="OBI over the top N levels per side (default: all)"
    )
    p.add_argument("--instrument", action="append", help="only this instrument (repeatable)")
    p.add_argument("--batch-size", type=whole_number(1), help="metrics rows per write transaction")
    p.add_argument(
        "--bind",
        metavar="ENDPOINT",
        help="also accept remote workers here, e.g. tcp://0.0.0.0:5555 (default: local only)",
    )
    p.add_argument(
        "--curve-keys",
        metavar="DIR",
        help="require CURVE on --bind: DIR from 'orderflow-coord keygen DIR'"
        " (accepts DIR/authorized/*.key)",
    )
    p.add_argument(
        "--insecure",
        action="store_true",
        help="allow --bind on a non-loopback address without --curve-keys"
        " (anyone who can reach the port can read the recording and write results)",
    )
    p.add_argument(
        "--shard-rows", type=whole_number(1), help="snapshots per shard (default: 1k-10k by size)"
    )
    p.add_argument(
        "--shards", type=whole_number(1), help="number of shards per database (overrides rows)"
    )
    p.add_argument("--force", action="store_true", help="recompute databases already finished")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING (default), ERROR")
    return p


def resolve_profile(args: argparse.Namespace) -> Profile:
    """The profile (or defaults) with command-line flags applied on top."""
    base = load_profile(args.profile) if args.profile else Profile(paths=[])
    profile = base.with_overrides(
        workers=args.workers,
        obi_depth=args.depth,
        batch_size=args.batch_size,
        instruments=args.instrument,
    )
    if args.paths:
        profile = profile.with_overrides(paths=list(args.paths))
    return profile


def print_summary(summaries: list[RunSummary]) -> None:
    """The table of computed databases; a skipped one gets a line of its own, since a
    row of zeros there would read as "nothing in it"."""
    for s in summaries:
        if s.skipped:
            print(
                f"{s.path}: already computed ({stored_snapshots(s.path):,} snapshots;"
                " --force to recompute)"
            )
        elif s.resumed:
            print(
                f"{s.path}: resumed; {s.resumed:,} snapshots were already computed by an"
                " earlier run, the figures below are this run's"
            )
    rows = [
        [
            s.path,
            "done",
            s.snapshots,
            s.rejects,
            s.shards,
            s.workers,
            round(s.seconds, 2),
            round(s.rate),
        ]
        for s in summaries
        if not s.skipped
    ]
    if not rows:
        return
    print(
        format_table(
            [
                "database",
                "status",
                "snapshots",
                "rejects",
                "shards",
                "workers",
                "seconds",
                "rate/s",
            ],
            rows,
        )
    )


def command(name: str) -> str:
    """How to run one of our programs from this shell: the bare name when it is on
    PATH, else its path in this interpreter's environment (a venv not activated)."""
    if shutil.which(name):
        return name
    beside = Path(sys.executable).parent / name
    return shlex.quote(str(beside)) if beside.is_file() else name


def stored_snapshots(path: str) -> int:
    """Snapshots the finished run of a skipped database stored (read-only)."""
    conn = open_readonly(path)
    try:
        row = conn.execute(
            "SELECT coalesce(sum(snapshots), 0) FROM metrics_runs WHERE status = 'finished'"
        ).fetchone()
    finally:
        conn.close()
    return row[0]


def build_keygen_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{PROG} keygen",
        description="Create CURVE keys: the coordinator's pair and one pair per worker.",
    )
    p.add_argument("directory", metavar="DIR", help="key directory (created; server pair kept)")
    p.add_argument(
        "--worker",
        action="append",
        default=[],
        metavar="NAME",
        help="also create and authorise a key pair for this worker (repeatable)",
    )
    return p


def _keygen(argv: list[str]) -> int:
    args = build_keygen_parser().parse_args(argv)
    try:
        made = generate_keys(args.directory, args.worker)
    except (OSError, ValueError) as exc:
        print(f"{PROG} keygen: {exc}", file=sys.stderr)
        return 2
    print(f"coordinator keys in {args.directory} (authorised workers: {args.directory}/authorized)")
    for target in made:
        print(f"copy {target} to the worker host; run orderflow-worker --curve-keys {target.name}")
    return 0


def _run_sharded(args: argparse.Namespace, profile: Profile, databases: list) -> list[RunSummary]:
    """Run the coordinator over each database; Ctrl-C leaves whole shards and a hint."""
    settings = CoordinatorSettings(
        workers=profile.workers,
        bind=args.bind,
        curve_keys=args.curve_keys,
        depth=profile.obi_depth,
        instruments=profile.instruments or None,
        ofi_levels=profile.ofi_levels,
        heatmap_bucket_ms=profile.heatmap_bucket_ms,
        heatmap_ticks=dict(profile.heatmap_ticks),
        shard_rows=args.shard_rows,
        shards=args.shards,
        force=args.force,
        quiet=args.quiet,
        log_frequency=profile.log_frequency,
        worker_log_level="ERROR" if args.quiet else args.log_level,
    )
    try:
        coordinator = Coordinator(settings)
    except ValueError as exc:
        raise InputFileError(args.curve_keys, str(exc)) from None
    except zmq.ZMQError as exc:
        print(f"{PROG}: cannot listen on {args.bind}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except SocketPathError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    summaries = []
    try:
        coordinator.start()
        for path in databases:
            summary = _unless_unreadable(path, lambda p=path: coordinator.process(p))
            if summary is not None:
                summaries.append(summary)
    except Interrupted as exc:
        print(
            f"\n{PROG}: interrupted ({exc}); committed shards are kept."
            " Run the same command again to resume.",
            file=sys.stderr,
        )
        raise SystemExit(130) from None
    except ShardFailed as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        coordinator.close()  # workers close the files before ...
    for summary in summaries:  # ... they leave WAL, so read-only archives can read them
        if not summary.skipped:
            leave_wal(summary.path)
    return summaries


def _check_remote_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Keys without an endpoint, or an open endpoint without keys, are usage errors."""
    if args.curve_keys and not args.bind:
        parser.error("--curve-keys secures --bind; give --bind ENDPOINT too")
    if not args.bind or args.curve_keys or is_loopback(args.bind):
        return
    if not args.insecure:
        parser.error(
            f"--bind {args.bind} is reachable from other hosts: give --curve-keys DIR"
            f" (make them with '{PROG} keygen DIR --worker NAME'), or --insecure"
        )
    print(
        f"{PROG}: warning: --bind {args.bind} without --curve-keys: anyone who can reach"
        " this port can read the recording and write results into it",
        file=sys.stderr,
    )


def is_loopback(endpoint: str) -> bool:
    """True for endpoints other hosts cannot reach: tcp on a loopback address, ipc."""
    scheme, _, rest = endpoint.partition("://")
    if scheme == "ipc":
        return True
    host = rest.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # an interface name or '*'


def _run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level, args.quiet)
    profile = resolve_profile(args)
    if not profile.paths:
        build_parser().error("give at least one PATH or a --profile with paths")
    databases = profile.databases()
    started = time.perf_counter()
    if profile.workers > 0 or args.bind:
        if native.KERNEL is None and not args.quiet:
            print(f"native kernel unavailable ({native.UNAVAILABLE_REASON}); using the Python path")
        summaries = _run_sharded(args, profile, databases)
    else:
        summaries = []
        for path in databases:
            storage = Storage(
                path,
                depth=profile.obi_depth,
                instruments=profile.instruments,
                ofi_levels=profile.ofi_levels,
                heatmap_bucket_ms=profile.heatmap_bucket_ms,
                heatmap_ticks=profile.heatmap_ticks,
                batch_size=profile.batch_size,
                log_frequency=profile.log_frequency,
                quiet=args.quiet,
            )
            summary = _unless_unreadable(
                path, lambda s=storage: s.build_booktick_from_db(force=args.force)
            )
            if summary is not None:
                summaries.append(summary)
                if not summary.skipped:
                    leave_wal(path)
    if not args.quiet:
        print_summary(summaries)
    rejected = [s.path for s in summaries if s.rejects]
    if rejected and not args.quiet:
        print(
            f"rejected rows and why: sqlite3 {shlex.quote(rejected[0])}"
            ' "SELECT source_table, row_id, reason FROM metrics_rejects"'
        )
    total = sum(s.snapshots for s in summaries)
    if any(not s.skipped for s in summaries):
        print(f"metrics written: {total:,} snapshots in {time.perf_counter() - started:.2f}s")
    if total and not args.quiet:
        names = " ".join(shlex.quote(s.path) for s in summaries)
        dashboard, backtest, report = (
            command("orderflow-dashboard"),
            command("orderflow-backtest"),
            command("orderflow-report"),
        )
        print(f"next: {dashboard} {names}   (or {backtest}, {report})")
    failed = len(databases) - len(summaries)
    if failed:
        if len(databases) > 1:  # one database: its own line already says it all
            print(
                f"{PROG}: {failed} database(s) could not be processed (see above)", file=sys.stderr
            )
        return 2
    return 0


def _unless_unreadable(path: Path, work: Callable[[], RunSummary]) -> RunSummary | None:
    """Run one database under its run lock; a file that is not a readable recording,
    or that another run is computing, is reported in one line and skipped, so the
    other databases of the run still get their metrics."""
    try:
        with RunLock(path):
            check_output_tables(path)  # before anything, the switch to WAL included, is written
            return work()
    except InputFileError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return None
    except sqlite3.OperationalError as exc:  # locked, full, I/O: name the file and the cause
        print(f"{PROG}: {path}: {sqlite_problem(exc)}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["keygen"]:
        return _keygen(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_remote_flags(parser, args)
    return run_main(PROG, lambda: _run(args))


if __name__ == "__main__":
    sys.exit(main())
