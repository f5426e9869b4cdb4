"""The recordings of one dashboard server, shared by every browser session.

Every file is checked when the server starts (one line naming a bad file, before
any URL is printed), but a file's Dataset is opened only when a page first shows
it (or a timeline of all files asks it; ``orderflow-dashboard`` opens the first
file, which every page starts on, before printing the URL): a directory of daily
files costs the server what the files on screen cost. Datasets keep their copy in a store
(``orderflow.query.store``), so the first showing of a file copies it once and
later server starts reuse the copy; an open Dataset holds only the blocks of its
store that its queries touched.
"""

from __future__ import annotations

import logging
import time

from orderflow_services.dashboard.config import DashboardConfig, config_from_env

from orderflow.query.dataset import Dataset

__all__ = ["Registry", "registry"]

log = logging.getLogger(__name__)


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
        if path not in self.datasets:
            started = time.perf_counter()
            dataset = Dataset(path, store=True)
            self.datasets[path] = dataset
            how = "reused its store" if dataset.reused else "copied into its store"
            log.info("%s: %s in %.2f s", path, how, time.perf_counter() - started)
        return self.datasets[path]

    def close(self) -> None:
        for dataset in self.datasets.values():
            dataset.close()
        self.datasets.clear()


registry = Registry()
