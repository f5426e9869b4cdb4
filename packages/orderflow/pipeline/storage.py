"""The in-process pipeline (seed "Storage"): one database in, metrics rows out.

It is the reference implementation every other path must match
(``orderflow-coord --workers 0``). Memory is bounded by the batch size: rows
stream from SQLite in (instant, id) order, each snapshot is reduced to its metric
row at once, and rows are written ``batch_size`` at a time, each batch in its
own transaction.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import msgspec

from orderflow.core.heatmap import DEFAULT_BUCKET_MS, HeatmapAccumulator
from orderflow.pipeline.progress import ProgressReporter
from orderflow.pipeline.range_metrics import DEFAULT_OFI_LEVELS, RangeMetrics
from orderflow.store.heatmap_store import clear_heatmap, write_grid, write_heatmap
from orderflow.store.heatmap_ticks import decide_ticks, report_unbinned
from orderflow.store.input_repository import (
    UNPARSEABLE_REASON,
    OrderScan,
    SQLiteOrderflowRepository,
)
from orderflow.store.metrics_repository import MetricRow, SQLiteMetricsRepository

__all__ = ["SCHEMA_VERSION", "RunSummary", "Storage", "config_key", "report_upgrade"]

log = logging.getLogger("orderflow.store")

SCHEMA_VERSION = 2
"""Version of the ``metrics`` columns, part of the config key: a run finished by an
earlier version (1: without the order-flow columns) has another key, so it is
recomputed rather than skipped, and never mixed with new rows."""


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
    resumed: int = 0
    """Snapshots an earlier, interrupted run had committed (not counted in ``snapshots``)."""

    @property
    def rate(self) -> float:
        return self.snapshots / self.seconds if self.seconds > 0 else 0.0


def config_key(
    depth: int | None,
    instruments: Sequence[str] | None,
    input_fingerprint: str,
    ofi_levels: int = DEFAULT_OFI_LEVELS,
    heatmap_bucket_ms: int = DEFAULT_BUCKET_MS,
    heatmap_ticks: Mapping[str, float] | None = None,
) -> str:
    """Identifies what the metric values depend on: the schema version, the settings
    and the input rows (``SQLiteOrderflowRepository.input_fingerprint``). A finished
    run with the same key is skipped; a different key (other settings, a recording
    that grew, or output of an earlier version) recomputes the table. The heatmap's
    settings are part of it: a file finished before the heatmap existed, or with
    another bucket width or tick, is computed again rather than left without one."""
    ticks = ",".join(f"{k}={v!r}" for k, v in sorted((heatmap_ticks or {}).items()))
    # A depth cut counts a price's levels as one level since this version (metrics.md,
    # "top-N levels by price"); a file finished with a depth before then is recomputed.
    cut = f"{depth}:prices" if depth is not None else "None"
    text = (
        f"depth={cut};instruments={','.join(sorted(instruments or []))};"
        f"ofi_levels={ofi_levels};input={input_fingerprint};"
        f"heatmap={heatmap_bucket_ms}:{ticks}"
    )
    return f"v{SCHEMA_VERSION}:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def report_upgrade(path: Path, added: Sequence[str]) -> None:
    """Tell the user, in one line, that an earlier version's table was upgraded."""
    if added:
        log.warning(
            "%s: metrics table from an earlier version upgraded in place (added %s);"
            " its rows are recomputed",
            path,
            ", ".join(added),
        )


class Storage:
    """Computes and stores the metrics of one recording file."""

    def __init__(
        self,
        path: str | Path,
        *,
        depth: int | None = None,
        instruments: Sequence[str] | None = None,
        ofi_levels: int = DEFAULT_OFI_LEVELS,
        heatmap_bucket_ms: int = DEFAULT_BUCKET_MS,
        heatmap_ticks: Mapping[str, float] | None = None,
        batch_size: int = 1000,
        log_frequency: int = 20,
        quiet: bool = False,
    ) -> None:
        self.path = Path(path)
        self.depth = depth
        self.instruments = list(instruments) if instruments else None
        self.ofi_levels = ofi_levels
        self.heatmap_bucket_ms = heatmap_bucket_ms
        self.heatmap_ticks = dict(heatmap_ticks or {})
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
                report_upgrade(self.path, metrics.create_metrics_table())
                key = config_key(
                    self.depth,
                    self.instruments,
                    self.repo.input_fingerprint(conn),
                    self.ofi_levels,
                    self.heatmap_bucket_ms,
                    self.heatmap_ticks,
                )
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
        ticks = (
            decide_ticks(conn, self.heatmap_ticks, self.instruments)  # type: ignore[arg-type]
            if self.heatmap_bucket_ms
            else {}
        )
        with metrics.transaction() as out:
            clear_heatmap(out)
            write_grid(out, ticks, self.heatmap_bucket_ms)
        usable = {name: tick for name, (tick, _) in ticks.items() if tick}
        heatmap = HeatmapAccumulator(usable, self.heatmap_bucket_ms) if usable else None

        def write(batch: list[MetricRow], rejects: list) -> None:
            """One batch of rows, its rejects and the heatmap cells accumulated so far
            (the range reads ahead of the rows it yields), in one transaction. Buckets
            at the first and last instant accumulated may continue in the neighbouring
            flushes (ties included), so they are added to, not inserted."""
            with metrics.transaction() as out:
                metrics.write_in_transaction(batch, rejects)
                span = None if heatmap is None else heatmap.pending_span()
                if span is not None:
                    first, last = span
                    write_heatmap(out, heatmap.partials(), first + 1, last, heatmap.bucket_ns)

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
            ofi_levels=self.ofi_levels,
            heatmap=heatmap,
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
                write(batch, work.rejects)
                seen += len(batch) + len(work.rejects)
                rejects += len(work.rejects)
                batch.clear()
                work.rejects.clear()
                progress.update(seen)
        write(batch, work.rejects)
        rejects += len(work.rejects) + spilled
        progress.update(book_scan.rows)
        progress.finish()
        if self.heatmap_bucket_ms:
            report_unbinned(self.path, work.instrument_names, usable)
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
