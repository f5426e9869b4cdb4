"""The recordings of one dashboard server, shared by every browser session.

Every file is checked when the server starts (one line naming a bad file, before
any URL is printed; the check reads the schema, not the rows: a full read of ten
daily files took 15-24 s of start-up), but a file's Dataset is opened only when a page first shows
it (or a timeline of all files asks it; ``orderflow-dashboard`` opens the first
file, which every page starts on, before printing the URL): a directory of daily
files costs the server what the files on screen cost. Datasets keep their copy in a store
(``orderflow.query.store``), so the first showing of a file copies it once and
later server starts reuse the copy; an open Dataset holds only the blocks of its
store that its queries touched.

Only the files on some page's screen stay open: each browser session says which
files it shows (``show``, after every redraw; ``forget`` when it ends), and every
other Dataset is closed, its store detached and its cached blocks freed. Left
open, each file once shown kept about 7 MiB of DuckDB's cached column data, so a
server that had shown ten daily files held 75 MiB more than one that had shown two
(reopening a kept store with nothing new costs about 0.01 s).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from orderflow_services.dashboard.config import DashboardConfig, config_from_env

from orderflow.core.errors import InputFileError
from orderflow.query.dataset import Dataset
from orderflow.store.connections import open_readonly, sqlite_problem

__all__ = ["Registry", "check_recording", "registry"]

log = logging.getLogger(__name__)


class Registry:
    def __init__(self) -> None:
        self.config: DashboardConfig | None = None
        self.datasets: dict[str, Dataset] = {}
        """The open Datasets, by path."""
        self.shown: dict[str, set[str]] = {}
        """The paths each viewer (a browser session's id) has on screen."""

    def open(self, config: DashboardConfig | None = None) -> None:
        """Take the configuration and check every file (its tables), opening none."""
        self.config = config or config_from_env()
        for path in self.config.databases:
            check_recording(Path(path))

    def get(self, path: str) -> Dataset:
        """The Dataset of ``path``, opened (or its store reused) on first use."""
        if path not in self.datasets:
            started = time.perf_counter()
            dataset = Dataset(path, store=True)
            self.datasets[path] = dataset
            how = "reused its store" if dataset.reused else "copied into its store"
            log.info("%s: %s in %.2f s", path, how, time.perf_counter() - started)
        return self.datasets[path]

    def opened(self, path: str) -> Dataset | None:
        """The Dataset of ``path`` if it is open now; never opens one."""
        return self.datasets.get(path)

    def show(self, viewer: str, paths: Iterable[str]) -> None:
        """``viewer`` now has ``paths`` on screen: close every Dataset no viewer shows."""
        self.shown[viewer] = set(paths)
        self._close_unshown()

    def release(self, path: str) -> None:
        """Close ``path``'s Dataset unless some viewer shows it (a question asked of a
        file off screen, such as a timeline's first look at each of its files)."""
        if path in self.datasets and not any(path in shown for shown in self.shown.values()):
            self.datasets.pop(path).close()

    def forget(self, viewer: str) -> None:
        """``viewer`` is gone (its session ended): close what only it showed."""
        self.shown.pop(viewer, None)
        self._close_unshown()

    def _close_unshown(self) -> None:
        wanted = set().union(*self.shown.values())
        for path in [p for p in self.datasets if p not in wanted]:
            self.datasets.pop(path).close()

    def close(self) -> None:
        for dataset in self.datasets.values():
            dataset.close()
        self.datasets.clear()


def check_recording(path: Path) -> None:
    """Raise InputFileError unless ``path`` is a readable SQLite file with a ``trades``
    table, what a Dataset requires before it reads a row."""
    conn = open_readonly(path)
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    except sqlite3.DatabaseError as exc:
        raise InputFileError(path, sqlite_problem(exc)) from None
    finally:
        conn.close()
    if "trades" not in {r[0] for r in rows}:
        raise InputFileError(path, "has no 'trades' table")


registry = Registry()
