"""``orderflow-synth``: write a generated recording for demos, tests and benchmarks."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from orderflow.pipeline.progress import ProgressReporter
from orderflow.synth.generator import INSTRUMENTS, SynthConfig, generate

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="orderflow-synth",
        description="Generate a realistic order book + trades recording in the input schema.",
    )
    p.add_argument("out", help="SQLite file to write (replaced if it exists)")
    p.add_argument(
        "--snapshots", type=int, default=100_000, help="total snapshots (default 100000)"
    )
    p.add_argument(
        "--instruments",
        type=int,
        default=2,
        help=f"number of instruments, 1-{len(INSTRUMENTS)} (default 2)",
    )
    p.add_argument("--levels", type=int, default=25, help="levels per side (default 25)")
    p.add_argument(
        "--interval-ms", type=int, default=100, help="ms between snapshots (default 100)"
    )
    p.add_argument("--trades-per-step", type=float, default=1.5, help="mean trades per snapshot")
    p.add_argument("--start", default="2024-03-01T00:00:00Z", help="first instant (ISO-8601)")
    p.add_argument("--seed", type=int, default=7, help="random seed (same seed, same file)")
    p.add_argument(
        "--invalid-every",
        type=int,
        default=0,
        help="make every Nth snapshot invalid, to demonstrate rejects (default 0: none)",
    )
    p.add_argument(
        "--jitter-ms",
        type=int,
        default=0,
        help="give rows ids in order of timestamp + a uniform 0..N ms delay, as merged feeds"
        " do, so ids are only nearly in time order (default 0: ids in time order)",
    )
    p.add_argument(
        "--jitter-tables",
        choices=("book", "trades", "both"),
        default="both",
        help="which tables --jitter-ms applies to (default both)",
    )
    p.add_argument(
        "--integer-timestamps",
        action="store_true",
        help="store epoch ms in INTEGER timestamp columns, as many recorders do (default: TEXT)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.snapshots <= 0 or args.levels <= 0 or args.interval_ms <= 0:
        print(
            "orderflow-synth: --snapshots, --levels and --interval-ms must be > 0", file=sys.stderr
        )
        return 2
    if args.jitter_ms < 0:
        print("orderflow-synth: --jitter-ms must be >= 0", file=sys.stderr)
        return 2
    config = SynthConfig(
        snapshots=args.snapshots,
        instruments=args.instruments,
        levels=args.levels,
        interval_ms=args.interval_ms,
        trades_per_step=args.trades_per_step,
        start=args.start,
        seed=args.seed,
        invalid_every=args.invalid_every,
        jitter_ms=args.jitter_ms,
        jitter_book=args.jitter_tables in ("book", "both"),
        jitter_trades=args.jitter_tables in ("trades", "both"),
        integer_timestamps=args.integer_timestamps,
    )
    if Path(args.out).is_dir():
        print(
            f"orderflow-synth: {args.out} is a directory; give a file to write,"
            f" e.g. {Path(args.out) / 'synth.db'}",
            file=sys.stderr,
        )
        return 2
    started = time.perf_counter()
    progress = ProgressReporter(Path(args.out).name, config.snapshots, quiet=args.quiet, updates=10)
    try:
        snapshots, trades = generate(args.out, config, lambda done, _total: progress.update(done))
    except (OSError, ValueError) as exc:
        print(f"orderflow-synth: {exc}", file=sys.stderr)
        return 2
    progress.finish()
    print(
        f"wrote {args.out}: {snapshots:,} snapshots, {trades:,} trades, "
        f"{config.instruments} instrument(s), {time.perf_counter() - started:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
