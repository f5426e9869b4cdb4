"""A worker's shard through the compiled kernel, packed as the ``Result`` the Python path
sends, so the coordinator cannot tell the two apart.

``compute_shard`` asks here first; ``None`` means "use the Python path": the kernel
did not load (or ``ORDERFLOW_NATIVE=0``), the rows were shipped rather than read
from the file, or the coordinator built an order index for a shuffled table.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

import numpy as np
from orderflow_services.protocol import Result, Task

from orderflow.native import KERNEL
from orderflow.store.connections import BUSY_TIMEOUT_S
from orderflow.store.order_index import TimeOrderedReader

__all__ = ["native_result"]


class _ReaderCache:
    """The kernel's read-only connection to the file the last task named."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.reader: object | None = None

    def open(self, path: str) -> object:
        if path != self.path or self.reader is None:
            assert KERNEL is not None
            self.reader = KERNEL.Reader(path, int(BUSY_TIMEOUT_S * 1000))
            self.path = path
        return self.reader


_READERS = _ReaderCache()


def _nullable(values: np.ndarray) -> list[float | None]:
    """Floats with NaN as None (SQL NULL), without a Python loop per value."""
    return np.where(np.isnan(values), None, values).tolist()


def native_result(
    task: Task, repo: object, conn: sqlite3.Connection | None, tick: Callable[[], None]
) -> Result | None:
    """The task's Result computed by the kernel, or None when it cannot be used here."""
    if KERNEL is None or conn is None or not isinstance(repo, TimeOrderedReader):
        return None
    from orderflow.native.shard import KernelRange, supports

    if not supports(task.book_scan, task.trade_scan, task.order_index):
        return None
    started = time.perf_counter()
    reader = _READERS.open(str(repo.repo.path))
    got = KernelRange(
        reader,
        conn,
        task.book_scan,
        task.trade_scan,
        task.start_ns,
        task.end_ns,
        depth=task.depth,
        instruments=task.instruments,
        tick=tick,
    ).compute()
    names = got.names
    return Result(
        task_id=task.task_id,
        snapshot_ids=got.ids.tolist(),
        timestamps=got.timestamps,  # type: ignore[arg-type]
        obi=_nullable(got.values["obi"]),
        cvd=got.values["cvd"].tolist(),
        best_bid=_nullable(got.values["best_bid"]),
        best_ask=_nullable(got.values["best_ask"]),
        instruments=[names[c] for c in got.codes.tolist()],
        ts_ns=got.ns.tolist(),
        rejects=got.rejects,
        signed_volume=got.signed_volume,
        trades=got.trades,
        seconds=time.perf_counter() - started,
    )
