"""``orderflow-worker``: join a running coordinator and compute shards for it.

Local workers are started by ``orderflow-coord --workers N``; this command is
for other hosts (``--connect tcp://HOST:PORT``), with ``--curve-keys`` when the
coordinator requires CURVE authentication.
"""

from __future__ import annotations

import argparse
import signal
import sys

from orderflow_services.worker.shard_compute import PathMap
from orderflow_services.worker.worker import NotAccepted, Worker, load_client_keys

from orderflow.console import configure_logging

__all__ = ["main", "serve_local"]

PROG = "orderflow-worker"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Compute metric shards for orderflow-coord.")
    p.add_argument(
        "--connect",
        required=True,
        metavar="ENDPOINT",
        help="coordinator endpoint, e.g. tcp://10.0.0.5:5555",
    )
    p.add_argument(
        "--curve-keys",
        metavar="DIR",
        help="directory with server.key and this worker's *.key_secret (orderflow-coord keygen)",
    )
    p.add_argument(
        "--path-map",
        action="append",
        default=[],
        metavar="FROM=TO",
        help="read the coordinator's path FROM/... as TO/... here (repeatable)",
    )
    p.add_argument(
        "--give-up-after",
        type=float,
        metavar="SECONDS",
        help="exit when the coordinator has been silent this long (default: keep trying)",
    )
    # Set by the coordinator for its local workers: exit once that process is gone.
    p.add_argument("--exit-with-parent", type=int, metavar="PID", help=argparse.SUPPRESS)
    p.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING (default), ERROR")
    p.add_argument("--quiet", action="store_true", help="errors only")
    return p


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve_local(endpoint: str, parent_pid: int, log_level: str) -> int:
    """The loop of a local worker the coordinator forked (``forked_worker``): what
    ``orderflow-worker --connect ENDPOINT --exit-with-parent PID`` runs, with logging
    set anew (the coordinator's configuration came along with the fork)."""
    configure_logging(log_level, force=True)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return Worker(endpoint, parent_pid=parent_pid).run()
    except NotAccepted as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level, args.quiet)
    try:
        path_map = PathMap(args.path_map)
        curve = load_client_keys(args.curve_keys) if args.curve_keys else None
    except (ValueError, OSError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _raise_interrupt)
    worker = Worker(
        args.connect,
        path_map=path_map,
        curve=curve,
        parent_pid=args.exit_with_parent,
        give_up_after_s=args.give_up_after,
    )
    try:
        return worker.run()
    except NotAccepted as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
