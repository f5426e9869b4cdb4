"""The coordinator's state: its settings, its workers, its in-flight table, one database's run.

Plain dataclasses kept apart from the loop so that ``coordinator.py`` reads as
behaviour only; none of these cross a process boundary.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from orderflow_services.coordinator.planner import Shard, ShardPlan
from orderflow_services.coordinator.result_check import ResultCheck
from orderflow_services.coordinator.writer import ShardWriter
from orderflow_services.protocol import Task

from orderflow.pipeline.progress import ProgressReporter
from orderflow.store.order_index import TimeOrderedReader

__all__ = [
    "CoordinatorSettings",
    "DatabaseRun",
    "InFlight",
    "Interrupted",
    "ShardFailed",
    "WorkerState",
]


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; the run stopped at a shard boundary."""


class ShardFailed(Exception):
    """A shard kept failing on workers; the message carries the worker's error."""


@dataclass(frozen=True)
class CoordinatorSettings:
    """What ``orderflow-coord`` passes down from its flags and profile."""

    workers: int = 2
    bind: str | None = None
    curve_keys: str | None = None
    insecure: bool = False
    depth: int | None = None
    instruments: list[str] | None = None
    ofi_levels: int = 5
    heatmap_bucket_ms: int = 1000
    heatmap_ticks: dict[str, float] = field(default_factory=dict)
    shard_rows: int | None = None
    shards: int | None = None
    force: bool = False
    quiet: bool = False
    log_frequency: int = 20
    worker_log_level: str = "WARNING"


@dataclass
class WorkerState:
    label: str
    pid: int
    last_seen: float
    task_id: int | None = None
    bad_results: int = 0


@dataclass
class InFlight:
    shard: Shard
    identity: bytes
    sent_at: float
    task: Task


@dataclass
class DatabaseRun:
    """Per-database state of the loop."""

    plan: ShardPlan
    writer: ShardWriter
    rows: TimeOrderedReader
    reader: sqlite3.Connection
    progress: ProgressReporter
    order_index: str | None
    check: ResultCheck
    queue: list[int] = field(default_factory=list)  # heap of shard numbers
    failures: dict[int, int] = field(default_factory=dict)
    peak_workers: int = 0
