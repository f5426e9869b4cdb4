"""``orderflow-dashboard``: serve the live dashboard, or export it as one HTML file.

The server is Bokeh's own (``bokeh.server.server.Server`` running the directory
app in ``app/``), started in-process so the recordings are opened, and their
errors reported as one line, before any URL is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import msgspec
from orderflow_services.dashboard.config import CONFIG_ENV, DashboardConfig

from orderflow.console import configure_logging, run_main
from orderflow.core.errors import OrderflowError
from orderflow.profiles.profile import Profile, load_profile
from orderflow.query.api import to_instant_ns
from orderflow.query.candles import parse_window

__all__ = ["main"]

PROG = "orderflow-dashboard"
APP_DIR = Path(__file__).parent / "app"
APP_PATH = "/app"


class UsageError(OrderflowError, ValueError):
    """A flag value the dashboard cannot use."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Candles, volume, OBI and CVD in a browser.")
    p.add_argument("paths", nargs="*", metavar="PATH", help="SQLite files, directories or globs")
    p.add_argument("--profile", help="YAML dataset profile (configs/*.yaml)")
    p.add_argument("--port", type=int, default=5006, help="HTTP port (default 5006)")
    p.add_argument("--address", default="localhost", help="interface to listen on")
    p.add_argument("--max-bars", type=int, help="points budget per panel (profile: max_bars)")
    p.add_argument("--window", help="fixed candle window, e.g. 60s, 5m (default: follows the zoom)")
    p.add_argument("--export", metavar="OUT.html", help="write a standalone HTML file and exit")
    p.add_argument("--instrument", help="instrument to export (default: the first)")
    p.add_argument("--start", help="export from this instant (ISO-8601 or epoch)")
    p.add_argument("--end", help="export up to this instant, exclusive")
    p.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING (default), ERROR")
    return p


def resolve_config(args: argparse.Namespace) -> DashboardConfig:
    profile = load_profile(args.profile) if args.profile else Profile(paths=[])
    if args.paths:
        profile = profile.with_overrides(paths=list(args.paths))
    if not profile.paths:
        build_parser().error("give at least one PATH or a --profile with paths")
    try:
        window_s = parse_window(args.window) / 1e9 if args.window else None
    except ValueError as exc:
        raise UsageError(f"--window: {exc}") from None
    profile = profile.with_overrides(max_bars=args.max_bars, candle_window_s=window_s)
    databases = [str(p) for p in profile.databases()]
    config = DashboardConfig.from_profile(profile, databases)
    return msgspec.structs.replace(config, auto_window=window_s is None)


def _instant(flag: str, value: str | None) -> int | None:
    try:
        return to_instant_ns(value)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def export(args: argparse.Namespace, config: DashboardConfig) -> int:
    from orderflow_services.dashboard.export import export_html

    try:
        instrument = export_html(
            config.databases[0],
            args.export,
            instrument=args.instrument,
            start_ns=_instant("--start", args.start),
            end_ns=_instant("--end", args.end),
            window_ns=int(config.candle_window_s * 1e9),
            max_bars=config.max_bars,
            obi_threshold=config.obi_threshold,
            title=config.title,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {args.export} ({instrument}, {config.databases[0]})")
    return 0


def serve(args: argparse.Namespace, config: DashboardConfig) -> int:
    from bokeh.application import Application
    from bokeh.application.handlers.directory import DirectoryHandler
    from bokeh.server.server import Server
    from orderflow_services.dashboard.registry import registry

    os.environ[CONFIG_ENV] = msgspec.json.encode(config).decode()
    registry.open(config)  # fail here, with one line, not inside the server
    # The first page shows the first file: open it (or copy it into its store) now,
    # before the URL is printed, so opening the page does not wait for it.
    registry.get(config.databases[0])
    app = Application(DirectoryHandler(filename=str(APP_DIR)))
    host = args.address
    server = Server(
        {APP_PATH: app},
        port=args.port,
        address=host,
        allow_websocket_origin=[f"{name}:{args.port}" for name in ("localhost", "127.0.0.1", host)],
    )
    server.start()
    shown = "localhost" if host in ("localhost", "127.0.0.1", "0.0.0.0") else host
    print(f"Dashboard: http://{shown}:{server.port}{APP_PATH}", flush=True)
    try:
        server.io_loop.start()
    finally:
        registry.close()
    return 0


def _run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    config = resolve_config(args)
    return export(args, config) if args.export else serve(args, config)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(PROG, lambda: _run(args))


if __name__ == "__main__":
    sys.exit(main())
