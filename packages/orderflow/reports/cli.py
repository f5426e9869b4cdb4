"""``orderflow-report``: Markdown, JSON and HTML summaries of recordings and backtests."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from orderflow.console import configure_logging, run_main
from orderflow.core.errors import OutputFileError
from orderflow.profiles.profile import Profile, load_profile
from orderflow.reports.content import build_database_report
from orderflow.reports.html import render_html
from orderflow.reports.markdown import microprice_lines, render_json, render_markdown

__all__ = ["main"]

PROG = "orderflow-report"
OUT_HINT = "pass --out with a directory you can write"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Write report.md, report.json and report.html for recordings with metrics.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="SQLite files, directories or globs")
    p.add_argument("--profile", help="YAML dataset profile (thresholds, backtest, instruments)")
    p.add_argument("--out", default="report", help="output directory (default: ./report)")
    p.add_argument("--instrument", action="append", help="only this instrument (repeatable)")
    p.add_argument("--no-html", action="store_true", help="skip the HTML report")
    p.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING (default), ERROR")
    return p


def _run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    profile = load_profile(args.profile) if args.profile else Profile(paths=[], name="report")
    if args.paths:
        profile = profile.with_overrides(paths=list(args.paths))
    if args.instrument:
        profile = profile.with_overrides(instruments=args.instrument)
    if not profile.paths:
        build_parser().error("give at least one PATH or a --profile with paths")
    out = Path(args.out)
    try:  # before the work: the default ./report fails where a user reads an archive
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputFileError.refused(out, exc, OUT_HINT) from None
    reports = [build_database_report(path, profile) for path in profile.databases()]
    written = [out / "report.md", out / "report.json"]
    try:
        written[0].write_text(render_markdown(profile.name, reports), encoding="utf-8")
        written[1].write_bytes(render_json(profile.name, reports))
        if not args.no_html:
            written.append(out / "report.html")
            written[-1].write_text(render_html(profile, reports), encoding="utf-8")
    except OSError as exc:
        raise OutputFileError.refused(out, exc, OUT_HINT) from None
    for report in reports:
        for line in microprice_lines(report):
            print(line)
    for path in written:
        print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(PROG, lambda: _run(args))


if __name__ == "__main__":
    sys.exit(main())
