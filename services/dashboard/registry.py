"""The open Datasets of one dashboard server, shared by every browser session.

Opening a Dataset materialises its trades and metrics, so it happens once per
server (``app_hooks.on_server_loaded``), never per page load.
"""

from __future__ import annotations

from orderflow_services.dashboard.config import DashboardConfig, config_from_env

from orderflow.query.dataset import Dataset

__all__ = ["Registry", "registry"]


class Registry:
    def __init__(self) -> None:
        self.config: DashboardConfig | None = None
        self.datasets: dict[str, Dataset] = {}

    def open(self, config: DashboardConfig | None = None) -> None:
        self.config = config or config_from_env()
        for path in self.config.databases:
            if path not in self.datasets:
                self.datasets[path] = Dataset(path)

    def close(self) -> None:
        for dataset in self.datasets.values():
            dataset.close()
        self.datasets.clear()


registry = Registry()
