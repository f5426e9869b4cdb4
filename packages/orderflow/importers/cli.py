"""``orderflow-import``: rebuild books from an exchange recording into the input schema.

Usage errors (unknown format, missing input) are one line on stderr and exit
status 2, because the command is meant for shell scripts and copy-paste demos
where a traceback hides the one fact the user needs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NoReturn

from orderflow.importers import binance
from orderflow.importers.events import Event
from orderflow.importers.report import ImportReport
from orderflow.importers.sink import write_events
from orderflow.importers.source import InputError
from orderflow.store.input_writer import InputWriter

__all__ = ["FORMATS", "main", "run_import"]

Replay = Callable[[list[Path], ImportReport, set[str] | None], Iterator[Event]]


def _formats() -> dict[str, tuple[Replay, int]]:
    from orderflow.importers import lobster, okx, tardis

    return {
        "binance": (binance.iter_binance, binance.UNIT_NS),
        "okx": (okx.iter_okx, okx.UNIT_NS),
        "tardis": (tardis.iter_tardis, tardis.UNIT_NS),
        "lobster": (lobster.iter_lobster, lobster.UNIT_NS),
    }


FORMATS = ("binance", "okx", "tardis", "lobster")


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="orderflow-import",
        description="Rebuild order books from an exchange feed recording and write "
        "book snapshots and trades in Orderflow's input schema.",
    )
    p.add_argument("format", help=f"one of: {', '.join(FORMATS)}")
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="files (gzip ok)")
    p.add_argument("--out", required=True, type=Path, help="SQLite file to write")
    p.add_argument(
        "--interval-ms",
        type=float,
        default=100.0,
        help="snapshot grid in ms (0: every update; default: %(default)g)",
    )
    p.add_argument(
        "--depth",
        type=int,
        default=25,
        help="levels per side in each snapshot (default: %(default)s)",
    )
    p.add_argument(
        "--instrument",
        action="append",
        default=None,
        help="keep only this one (repeatable; default: every instrument)",
    )
    p.add_argument(
        "--append",
        action="store_true",
        help="add to --out instead of replacing it (default: replace)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def run_import(
    fmt: str,
    inputs: Iterable[Path],
    out: Path,
    *,
    interval_ms: float = 100.0,
    depth: int = 25,
    instruments: set[str] | None = None,
    append: bool = False,
    progress: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Import ``inputs`` of format ``fmt`` into ``out`` and return the report."""
    replay, unit_ns = _formats()[fmt]
    report = ImportReport()
    interval = round(interval_ms * 1_000_000 / unit_ns)
    writer = InputWriter(out, overwrite=not append)
    try:
        write_events(
            replay(list(inputs), report, instruments),
            writer,
            report,
            interval=interval,
            depth=depth,
            unit_ns=unit_ns,
            progress=progress,
        )
    finally:
        writer.close()
    return report


def _print_progress(report: ImportReport) -> None:
    print(
        f"orderflow-import: {report.messages:,} messages, {report.snapshots:,} snapshots, "
        f"{report.trades:,} trades, {report.gaps} gaps, span {report.span_s:,.1f} s",
        file=sys.stderr,
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``orderflow-import``; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
        if args.format not in FORMATS:
            raise _UsageError(
                f"unknown format {args.format!r} (expected one of: {', '.join(FORMATS)})"
            )
        missing = [str(p) for p in args.inputs if not p.is_file()]
        if missing:
            raise _UsageError(f"input file not found: {', '.join(missing)}")
        if args.depth < 1 or args.interval_ms < 0:
            raise _UsageError("--depth must be >= 1 and --interval-ms >= 0")
        if args.format == "lobster":
            from orderflow.importers.lobster import lobster_pairs

            lobster_pairs(args.inputs)  # fail before --out is touched
    except (_UsageError, InputError) as exc:
        print(f"orderflow-import: error: {exc}", file=sys.stderr)
        return 2
    instruments = set(args.instrument) if args.instrument else None
    existed = args.out.exists()
    try:
        report = run_import(
            args.format,
            args.inputs,
            args.out,
            interval_ms=args.interval_ms,
            depth=args.depth,
            instruments=instruments,
            append=args.append,
            progress=None if args.quiet else _print_progress,
        )
    except InputError as exc:
        print(f"orderflow-import: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, EOFError) as exc:
        print(f"orderflow-import: error: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    if report.messages == 0:
        if not existed and not args.append:
            args.out.unlink(missing_ok=True)  # an empty database would pass for an import
        print(
            f"orderflow-import: error: no valid {args.format} message in"
            f" {', '.join(map(str, args.inputs))} ({report.malformed:,} malformed lines);"
            f" is it a {args.format} recording?",
            file=sys.stderr,
        )
        return 1
    print(f"wrote {args.out}")
    return 0
