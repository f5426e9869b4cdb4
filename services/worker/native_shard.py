"""A worker's shard through the compiled kernel, packed as the ``Result`` the Python path
sends, so the coordinator cannot tell the two apart.

``compute_shard`` asks here first; ``None`` means "use the Python path": the kernel
did not load (or ``ORDERFLOW_NATIVE=0``), the rows were shipped rather than read
from the file, or the coordinator built an order index for a shuffled table.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable

import numpy as np
from orderflow_services.protocol import Result, Task

from orderflow.core.heatmap import NS_PER_MS
from orderflow.native import KERNEL, UNAVAILABLE_REASON
from orderflow.pipeline.result_columns import F64, I32, VALUE_COLUMNS, ResultColumns
from orderflow.store.connections import BUSY_TIMEOUT_S
from orderflow.store.heatmap_store import pack_partials
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
_MAX_NS = 2**63 - 1
log = logging.getLogger("orderflow.worker")
_told: list[bool] = []


def _tell_once(computing: bool) -> None:
    """Say in the worker's log, once, which path computes its shards: that the kernel
    is unavailable at the first task, or that it computes them at the first shard it
    really computes (a task it cannot take says nothing, so the line is evidence)."""
    if _told:
        return
    if KERNEL is None:
        _told.append(True)
        log.info(
            "native kernel unavailable (%s); the Python path computes shards",
            UNAVAILABLE_REASON,
        )
    elif computing:
        _told.append(True)
        log.info("shards are computed by the native kernel (SQLite %s)", KERNEL.sqlite_version())


def native_result(
    task: Task, repo: object, conn: sqlite3.Connection | None, tick: Callable[[], None]
) -> Result | None:
    """The task's Result computed by the kernel, or None when it cannot be used here."""
    _tell_once(computing=False)
    if KERNEL is None or conn is None or not isinstance(repo, TimeOrderedReader):
        return None
    from orderflow.native.shard import KernelRange, supports

    if not supports(task.book_scan, task.trade_scan, task.order_index):
        return None
    if task.heatmap_ticks and task.heatmap_bucket_ms * NS_PER_MS > _MAX_NS:
        return None  # the kernel counts instants in int64 ns
    if task.ofi_levels > KERNEL.MAX_OFI_LEVELS:
        return None  # the kernel keeps that many levels a side; the profile may ask more
    _tell_once(computing=True)
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
        ofi_levels=task.ofi_levels,
        instruments=task.instruments,
        tick=tick,
        heatmap=task.heatmap_ticks or None,
        heatmap_bucket_ms=task.heatmap_bucket_ms,
    ).compute()
    # Instruments numbered by first appearance, as ResultColumns.from_rows numbers them.
    found, first = np.unique(got.codes, return_index=True)
    order = found[np.argsort(first)]
    renumber = np.zeros(max(len(got.names), 1), I32)
    renumber[order] = np.arange(len(order), dtype=I32)
    columns = ResultColumns(
        got.ids,
        got.ns,
        renumber[got.codes],
        [got.names[c] for c in order.tolist()],
        got.timestamps,
        got.timestamp_offsets,
        np.array([got.values[name] for name in VALUE_COLUMNS], F64).reshape(
            len(VALUE_COLUMNS), len(got.ids)
        ),
    )
    heads, tails = got.heads_and_tails()
    return Result(
        task_id=task.task_id,
        **columns.buffers(),
        heads=heads,
        tails=tails,
        rejects=got.rejects,
        signed_volume=got.signed_volume,
        trades=got.trades,
        seconds=time.perf_counter() - started,
        heatmap=pack_partials(got.heatmap) if got.heatmap is not None else None,
    )
