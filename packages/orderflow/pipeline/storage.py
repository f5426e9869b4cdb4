"""The in-process pipeline (seed "Storage"): one database in, metrics rows out.

It is the reference implementation every other path must match
(``orderflow-coord --workers 0``). Memory is bounded by the batch size: rows
stream from SQLite in (instant, id) order, each snapshot is reduced to its metric
row at once, and rows are written ``batch_size`` at a time, each batch in its
own transaction.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec

from orderflow.pipeline.progress import ProgressReporter
from orderflow.pipeline.range_metrics import RangeMetrics
from orderflow.store.input_repository import (
    UNPARSEABLE_REASON,
    OrderScan,
    SQLiteOrderflowRepository,
)
from orderflow.store.metrics_repository import MetricRow, SQLiteMetricsRepository

__all__ = ["RunSummary", "Storage", "config_key"]


class RunSummary(msgspec.Struct, frozen=True):
    """What one database's run did, for the CLI's summary table."""

    path: str
    snapshots: int
    rejects: int
    trades: int
    seconds: float
    skipped: bool = False
    shards: int = 1
    workers: int = 0

    @property
    def rate(self) -> float:
        return self.snapshots / self.seconds if self.seconds > 0 else 0.0


def config_key(depth: int | None, instruments: Sequence[str] | None, input_fingerprint: str) -> str:
    """Identifies what the metric values depend on: the settings and the input rows
    (``SQLiteOrderflowRepository.input_fingerprint``). A finished run with the same
    key is skipped; a different key (other settings, or a recording that grew)
    recomputes the table."""
    text = (
        f"depth={depth};instruments={','.join(sorted(instruments or []))};input={input_fingerprint}"
    )
    return "v1:" + hashlib.sha256(text.encode()).hexdigest()[:16]


class Storage:
    """Computes and stores the metrics of one recording file."""

    def __init__(
        self,
        path: str | Path,
        *,
        depth: int | None = None,
        instruments: Sequence[str] | None = None,
        batch_size: int = 1000,
        log_frequency: int = 20,
        quiet: bool = False,
    ) -> None:
        self.path = Path(path)
        self.depth = depth
        self.instruments = list(instruments) if instruments else None
        self.batch_size = batch_size
        self.log_frequency = log_frequency
        self.quiet = quiet
        self.repo = SQLiteOrderflowRepository(self.path)

    def build_booktick_from_db(self, *, force: bool = False) -> RunSummary:
        """Run the whole pipeline; skip a database already finished with these settings."""
        started = time.perf_counter()
        conn = self.repo.connect()  # validates before anything is written
        try:
            book_scan = self.repo.scan_order(conn, "book")
            trade_scan = self.repo.scan_order(conn, "trades")
            metrics = SQLiteMetricsRepository(self.path)
            try:
                metrics.create_metrics_table()
                key = config_key(self.depth, self.instruments, self.repo.input_fingerprint(conn))
                if not force and metrics.run_status(key) == "finished":
                    return RunSummary(str(self.path), 0, 0, 0, 0.0, skipped=True)
                metrics.start_run(key, reset=True)
                summary = self._create_snapshots_and_metrics(conn, metrics, book_scan, trade_scan)
                metrics.finish_run(key, summary.snapshots, summary.rejects)
            finally:
                metrics.close()
        finally:
            conn.close()
        return msgspec.structs.replace(summary, seconds=time.perf_counter() - started)

    def _create_snapshots_and_metrics(
        self,
        conn: object,
        metrics: SQLiteMetricsRepository,
        book_scan: OrderScan,
        trade_scan: OrderScan,
    ) -> RunSummary:
        rejects = self._reject_unparseable(conn, metrics, book_scan, trade_scan)
        spilled = 0

        def spill(pending: list) -> None:
            nonlocal spilled
            metrics.insert_metrics_batch((), pending)
            spilled += len(pending)

        work = RangeMetrics(
            self.repo,
            conn,
            book_scan,
            trade_scan,
            depth=self.depth,
            instruments=self.instruments,
            spill_rejects=spill,
            spill_every=self.batch_size,
        )
        progress = ProgressReporter(
            self.path.name, book_scan.rows, quiet=self.quiet, updates=self.log_frequency
        )
        batch: list[MetricRow] = []
        seen = 0
        for row in work.rows():
            batch.append(row)
            if len(batch) >= self.batch_size:
                metrics.insert_metrics_batch(batch, work.rejects)
                seen += len(batch) + len(work.rejects)
                rejects += len(work.rejects)
                batch.clear()
                work.rejects.clear()
                progress.update(seen)
        metrics.insert_metrics_batch(batch, work.rejects)
        rejects += len(work.rejects) + spilled
        progress.update(book_scan.rows)
        progress.finish()
        return RunSummary(
            str(self.path), work.snapshots, rejects, work.trades, 0.0, shards=1, workers=0
        )

    def _reject_unparseable(
        self,
        conn: object,
        metrics: SQLiteMetricsRepository,
        book_scan: OrderScan,
        trade_scan: OrderScan,
    ) -> int:
        count = 0
        for scan in (book_scan, trade_scan):
            if not scan.unparseable:
                continue
            batch = []
            for row_id in self.repo.iterate_unparseable(conn, scan.table):
                batch.append((scan.table, row_id, UNPARSEABLE_REASON))
                if len(batch) >= self.batch_size:
                    metrics.insert_metrics_batch((), batch)
                    count += len(batch)
                    batch = []
            metrics.insert_metrics_batch((), batch)
            count += len(batch)
        return count
