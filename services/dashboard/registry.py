"""The recordings of one dashboard server, shared by every browser session.

Every file is checked when the server starts (one line naming a bad file, before
any URL is printed), but a file's Dataset is opened only when a page first shows
it: a directory of daily files costs the server what the files on screen cost.
Datasets keep their copy in a store (``orderflow.query.store``), so the first
showing of a file copies it once and later server starts reuse the copy. At
most ``MAX_OPEN`` stay open (each holds a DuckDB buffer pool): the least
recently shown is closed, to be reopened from its store in milliseconds.
Sessions ask ``get`` for every use and Bokeh runs their callbacks on one
thread, so no query is ever running on a Dataset being closed.
"""

from __future__ import annotations

import logging
import time

from orderflow_services.dashboard.config import DashboardConfig, config_from_env

from orderflow.query.dataset import Dataset

__all__ = ["Registry", "registry"]

log = logging.getLogger(__name__)

MAX_OPEN = 3


class Registry:
    def __init__(self) -> None:
        self.config: DashboardConfig | None = None
        self.datasets: dict[str, Dataset] = {}

    def open(self, config: DashboardConfig | None = None) -> None:
        """Take the configuration and check every file (its tables), opening none."""
        self.config = config or config_from_env()
        for path in self.config.databases:
            Dataset(path, materialize=False).close()

    def get(self, path: str) -> Dataset:
        """The Dataset of ``path``, opened (or its store reused) on first use."""
        if path in self.datasets:
            self.datasets[path] = self.datasets.pop(path)  # most recently used last
            return self.datasets[path]
        while len(self.datasets) >= MAX_OPEN:
            oldest = next(iter(self.datasets))
            self.datasets.pop(oldest).close()
        started = time.perf_counter()
        dataset = Dataset(path, store=True)
        self.datasets[path] = dataset
        how = "reused its store" if dataset.reused else "copied into its store"
        log.info("%s: %s in %.2f s", path, how, time.perf_counter() - started)
        return dataset

    def close(self) -> None:
        for dataset in self.datasets.values():
            dataset.close()
        self.datasets.clear()


registry = Registry()
