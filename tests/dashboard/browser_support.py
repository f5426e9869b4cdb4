"""What the browser tests share: Debian's chromium, a free port, the server from the CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "dashboard_process",
    "dashboard_server",
    "free_port",
    "open_stores",
    "server_env",
    "source",
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dashboard_server(paths: list[Path], *flags: str) -> Iterator[str]:
    """``orderflow-dashboard PATH...`` on a free port; yields its URL, and checks at
    exit that the server logged no traceback and no Bokeh warning (such as columns
    of unequal length)."""
    with dashboard_process(paths, *flags) as (url, _):
        yield url


@contextmanager
def dashboard_process(paths: list[Path], *flags: str) -> Iterator[tuple[str, int]]:
    """``dashboard_server``, yielding the URL and the server's process id."""
    log = paths[0].with_suffix(".log")
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "orderflow_services.dashboard.cli", *map(str, paths),
             "--port", str(free_port()), *flags],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=server_env(paths[0].parent),
        )  # fmt: skip
    line = proc.stdout.readline()
    try:
        assert line.startswith("Dashboard: http://localhost:"), line + log.read_text()
        yield line.split(": ", 1)[1].strip(), proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
    text = log.read_text()
    assert "Traceback" not in text and "BokehUserWarning" not in text, text


def server_env(folder: Path) -> dict[str, str]:
    """The environment with the dashboard's stores kept in ``folder``/cache, not ~/.cache."""
    return {**os.environ, "ORDERFLOW_CACHE_DIR": str(folder / "cache")}


def source(page: Page, name: str) -> dict[str, list]:
    """A ColumnDataSource's columns as the browser holds them."""
    return page.evaluate(
        "(n) => { const d = Bokeh.documents[0].get_model_by_name(n).data; const o = {};"
        " for (const k of Object.keys(d)) o[k] = Array.from(d[k]); return o; }",
        name,
    )


def open_stores(pid: int, cache: Path) -> set[str]:
    """The names of the store files (``*.duckdb`` in ``cache``) process ``pid`` holds
    open: a store is open exactly while it is attached."""
    names = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = Path(os.readlink(fd))
        except OSError:  # closed while listed
            continue
        if target.parent == cache and target.suffix == ".duckdb":
            names.add(target.name)
    return names
