"""One shard's metrics, from the file itself or from rows the coordinator shipped.

Both sources run through ``RangeMetrics``, the code the in-process path uses;
that single computation is what makes every worker count and shard count agree
with ``--workers 0``. Shipped rows come in through ``ShippedRows``
(``orderflow_services.shipped_rows``), already in (instant, id) order.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from orderflow_services.protocol import Result, Task
from orderflow_services.shipped_rows import ShippedRows
from orderflow_services.worker.native_shard import native_result

from orderflow.core.errors import InputFileError
from orderflow.core.heatmap import HeatmapAccumulator
from orderflow.pipeline.range_metrics import RangeMetrics
from orderflow.pipeline.result_columns import ResultColumns
from orderflow.store.heatmap_store import pack_partials
from orderflow.store.input_repository import SQLiteOrderflowRepository
from orderflow.store.order_index import TimeOrderedReader

__all__ = ["PathMap", "ReaderCache", "compute_shard", "open_problem"]


class PathMap:
    """Rewrites the coordinator's path prefixes to this host's (``/data=/mnt/data``).

    Remote hosts often mount the shared recordings elsewhere; a worker whose
    mapped path does not open asks the coordinator for the rows instead.
    """

    def __init__(self, pairs: Sequence[str] = ()) -> None:
        self.pairs: list[tuple[str, str]] = []
        for pair in pairs:
            source, sep, target = pair.partition("=")
            if not sep or not source:
                raise ValueError(f"--path-map wants FROM=TO, got {pair!r}")
            self.pairs.append((source.rstrip("/"), target.rstrip("/")))

    def local(self, path: str) -> str:
        for source, target in self.pairs:
            if path == source or path.startswith(source + "/"):
                return target + path[len(source) :]
        return path


class ReaderCache:
    """Keeps the read-only connection (and order index) the last task named."""

    def __init__(self) -> None:
        self._key: tuple[str, str | None] | None = None
        self._reader: TimeOrderedReader | None = None
        self._conn: sqlite3.Connection | None = None

    def open(
        self, path: str, order_index: str | None = None
    ) -> tuple[TimeOrderedReader, sqlite3.Connection]:
        """The row reader and connection for ``path``; raises InputFileError or
        sqlite3.Error when the file or its order index cannot be opened here."""
        if (path, order_index) != self._key or self._conn is None:
            self.close()
            repo = SQLiteOrderflowRepository(Path(path))
            conn = repo.connect()
            try:
                reader = TimeOrderedReader(repo, conn, order_index)
            except sqlite3.Error:
                conn.close()
                raise
            self._conn, self._reader, self._key = conn, reader, (path, order_index)
        assert self._reader is not None
        return self._reader, self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._key = self._reader = self._conn = None


def compute_shard(
    task: Task,
    repo: TimeOrderedReader | ShippedRows,
    conn: sqlite3.Connection | None,
    tick: Callable[[], None] = lambda: None,
    *,
    use_native: bool = True,
) -> Result:
    """Run ``RangeMetrics`` over the task's range and pack its output as columns (the
    compiled kernel computes the same when it can and ``use_native``: ``native_result``)."""
    native = native_result(task, repo, conn, tick) if use_native else None
    if native is not None:
        return native
    started = time.perf_counter()
    heatmap = (
        HeatmapAccumulator(task.heatmap_ticks, task.heatmap_bucket_ms)
        if task.heatmap_ticks
        else None
    )
    work = RangeMetrics(
        repo,
        conn,
        task.book_scan,
        task.trade_scan,
        task.start_ns,
        task.end_ns,  # type: ignore[arg-type]
        depth=task.depth,
        instruments=task.instruments,
        ofi_levels=task.ofi_levels,
        heatmap=heatmap,
    )
    batches = []
    for batch in work.batches():  # a fetch of book rows each: the worker heartbeats here
        batches.append(batch)
        tick()
    return Result(
        task_id=task.task_id,
        **ResultColumns.from_batches(batches, work.instrument_names).buffers(),
        heads=work.heads,
        tails=work.tails,
        rejects=list(work.rejects),
        signed_volume=dict(work.signed_volume),
        trades=work.trades,
        seconds=time.perf_counter() - started,
        heatmap=pack_partials(heatmap.partials()) if heatmap is not None else None,
    )


def open_problem(cache: ReaderCache, path: str, order_index: str | None) -> str | None:
    """None when ``path`` opens here, else why not (sent with the RowsRequest)."""
    try:
        cache.open(path, order_index)
    except InputFileError as exc:
        return exc.problem
    except sqlite3.Error as exc:
        return str(exc)
    return None
