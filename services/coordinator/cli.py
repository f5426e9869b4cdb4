"""``orderflow-coord``: compute OBI/CVD metrics for recordings and store them in place.

``--workers 0`` runs the in-process reference pipeline; a positive count runs the
sharded coordinator with that many local ZeroMQ workers.
"""

from __future__ import annotations

import argparse
import sys
import time

from orderflow.console import configure_logging, format_table, run_main
from orderflow.pipeline.storage import RunSummary, Storage
from orderflow.profiles.profile import Profile, load_profile
from orderflow.store.discovery import discover_databases

__all__ = ["main"]

PROG = "orderflow-coord"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Compute order book imbalance and cumulative volume delta for recordings.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="SQLite files, directories or globs")
    p.add_argument("--profile", help="YAML dataset profile (configs/*.yaml)")
    p.add_argument("--workers", type=int, help="local worker processes; 0 = in-process")
    p.add_argument("--depth", type=int, help="OBI over the top N levels per side (default: all)")
    p.add_argument("--instrument", action="append", help="only this instrument (repeatable)")
    p.add_argument("--batch-size", type=int, help="metrics rows per write transaction")
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
    rows = [
        [
            s.path,
            "skipped" if s.skipped else "done",
            s.snapshots,
            s.rejects,
            s.shards,
            s.workers,
            round(s.seconds, 2),
            round(s.rate),
        ]
        for s in summaries
    ]
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


def _run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level, args.quiet)
    profile = resolve_profile(args)
    if not profile.paths:
        build_parser().error("give at least one PATH or a --profile with paths")
    databases = discover_databases(profile.paths)
    started = time.perf_counter()
    summaries = []
    for path in databases:
        storage = Storage(
            path,
            depth=profile.obi_depth,
            instruments=profile.instruments,
            batch_size=profile.batch_size,
            log_frequency=profile.log_frequency,
            quiet=args.quiet,
        )
        summaries.append(storage.build_booktick_from_db(force=args.force))
    if not args.quiet:
        print_summary(summaries)
    skipped = [s.path for s in summaries if s.skipped]
    if skipped and not args.quiet:
        print(f"{len(skipped)} database(s) already finished; pass --force to recompute.")
    total = sum(s.snapshots for s in summaries)
    print(f"metrics written: {total:,} snapshots in {time.perf_counter() - started:.2f}s")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(PROG, lambda: _run(args))


if __name__ == "__main__":
    sys.exit(main())
