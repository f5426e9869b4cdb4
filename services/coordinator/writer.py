"""Stitching shard results into absolute CVD and committing them, in order, resumably.

The coordinator is the only writer. Shards are committed strictly in shard
order, each in one transaction together with its row in ``metrics_shards``, so
after a crash (SIGKILL included) the file holds whole shards only and the
ledger says which. Because the committed shards are always a prefix of the
plan, a resumed run rebuilds the CVD offsets by summing their recorded signed
volumes in the same order an uninterrupted run would, and continues from the
first missing shard with bit-identical results.

The depth heatmap's bucket cut by a shard edge is completed the same way: the
shard's part is added to the row its predecessor committed (``write_heatmap``),
in the shard's transaction. The bin widths are decided when the run starts and
stored with the heatmap; a resumed run reads them back.

OFI needs each instrument's previous snapshot, which for a shard's first row
lies in an earlier shard: workers leave that row's ``ofi``/``mlofi`` NULL and
send the instrument's first and last ``BookTop``; at commit the writer fills
the row from the tail of the shards before, and stores the shard's tails in its
ledger row, so a resumed run has them too.

Rows go in from the result's arrays through ``store.column_writer`` (one
``INSERT ... SELECT`` from the arrays in C when it is built), metrics and heatmap
rows alike, inside the same per-shard transaction.

The plan itself is stored when the run starts, with a fingerprint of the input
scan: a resume reuses exactly that plan (whatever ``--shard-rows`` says now),
and starts over if the recording changed or the output does not add up.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec
from orderflow_services.coordinator.planner import Shard, ShardPlan, input_key
from orderflow_services.protocol import Result

from orderflow.core.heatmap import DEFAULT_BUCKET_MS
from orderflow.core.order_flow import BookTop, ofi_pair
from orderflow.pipeline.range_metrics import DEFAULT_OFI_LEVELS
from orderflow.pipeline.result_columns import VALUE_COLUMNS, ResultColumns
from orderflow.pipeline.storage import report_upgrade
from orderflow.store.column_writer import Column, insert_columns
from orderflow.store.heatmap_store import clear_heatmap, write_grid, write_heatmap
from orderflow.store.heatmap_ticks import report_unbinned
from orderflow.store.input_repository import UNPARSEABLE_REASON, SQLiteOrderflowRepository
from orderflow.store.metrics_repository import METRIC_ROW_COLUMNS, SQLiteMetricsRepository
from orderflow.store.schema import METRICS_TABLE

__all__ = ["ShardWriter"]

log = logging.getLogger("orderflow.coordinator")

_TAILS = msgspec.json.Decoder(dict[str, BookTop])
_ENCODE = msgspec.json.Encoder()

CHECKPOINT_WAIT_MS = 500
"""How long the final checkpoint waits for workers' reads before giving up."""


def metric_columns(columns: ResultColumns) -> list[Column]:
    """A result's arrays as ``insert_columns`` columns, in ``METRIC_ROW_COLUMNS`` order:
    no tuple per row and no Python object per value on the way into SQLite."""
    special: dict[str, Column] = {
        "snapshot_id": ("i", columns.snapshot_ids),
        "timestamp": ("t", columns.timestamps, columns.timestamp_offsets),
        "instrument": ("c", columns.instrument_index, columns.instrument_names),
        "ts_ns": ("i", columns.ts_ns),
    }
    values = columns.values
    return [
        special[name] if name in special else ("f", values[VALUE_COLUMNS.index(name)])
        for name in METRIC_ROW_COLUMNS
    ]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class ShardWriter:
    """Owns one database's output tables for one coordinator run."""

    def __init__(
        self,
        metrics: SQLiteMetricsRepository,
        config_key: str,
        ofi_levels: int = DEFAULT_OFI_LEVELS,
        *,
        heatmap_bucket_ms: int = DEFAULT_BUCKET_MS,
        decide_ticks: Callable[[], dict[str, tuple[float | None, str]]] = dict,
    ) -> None:
        self.metrics = metrics
        self.heatmap_bucket_ms = heatmap_bucket_ms
        self.decide_ticks = decide_ticks
        """Called when the run starts afresh: (tick, source) per instrument."""
        self.heatmap_ticks: dict[str, float] = {}
        """Bin width per instrument for this run's tasks (from the grid table on resume)."""
        self.conn = metrics.conn
        self.config_key = config_key
        self.ofi_levels = ofi_levels
        self.tails: dict[str, BookTop] = {}
        self.shards: list[Shard] = []
        self.next_shard = 0
        self.offsets: dict[str, float] = {}
        self.snapshots = 0
        self.rejects = 0
        self.trades = 0
        self.resumed_shards = 0
        self.instruments_seen: set[str] = set()
        """Instruments of the rows this run committed (told apart from the binned ones)."""
        self._buffer: dict[int, tuple[Result, str]] = {}

    # --- starting: skip, resume or reset

    def is_finished(self) -> bool:
        report_upgrade(self.metrics.path, self.metrics.create_metrics_table())
        return self.metrics.run_status(self.config_key) == "finished"

    def begin(
        self, plan: ShardPlan, repo: SQLiteOrderflowRepository, reader: object, *, force: bool
    ) -> list[Shard]:
        """Resume a matching interrupted run or reset; returns the shards left to do."""
        key = input_key(plan.book_scan, plan.trade_scan)
        stored = self._stored_shards(key)
        if not force and stored and self._resumable(stored, plan):
            self.shards = [Shard(no, s, e) for no, s, e, *_ in stored]
            self._replay(stored)
            self._read_ticks()
            self.rejects += plan.book_scan.unparseable + plan.trade_scan.unparseable
            log.info(
                "%s: resuming, %d of %d shards already committed",
                plan.path,
                self.next_shard,
                len(self.shards),
            )
        else:
            if self.metrics.has_interrupted_run() and not force:
                log.warning(
                    "%s: the interrupted run cannot be resumed (the recording changed or its"
                    " output does not add up); starting over",
                    plan.path,
                )
            self.shards = list(plan.shards)
            self._reset(plan, key, repo, reader)
        return self.shards[self.next_shard :]

    def _stored_shards(self, key: str) -> list[tuple]:
        if self.metrics.run_status(self.config_key) != "running":
            return []
        return self.conn.execute(
            "SELECT shard_no, start_ns, end_ns, committed_at, snapshots, rejects, trades,"
            " signed_volume, tails FROM metrics_shards WHERE config_key = ? AND input_key = ?"
            " ORDER BY shard_no",
            (self.config_key, key),
        ).fetchall()

    def _resumable(self, stored: list[tuple], plan: ShardPlan) -> bool:
        """The ledger is a committed prefix whose counts match the output tables."""
        committed = [row for row in stored if row[3] is not None]
        if [row[0] for row in stored] != list(range(len(stored))):
            return False
        if [row[0] for row in committed] != list(range(len(committed))):
            return False
        unparseable = plan.book_scan.unparseable + plan.trade_scan.unparseable
        metrics_rows = self.conn.execute("SELECT count(*) FROM metrics").fetchone()[0]
        reject_rows = self.metrics.count_rejects()
        return metrics_rows == sum(r[4] for r in committed) and reject_rows == unparseable + sum(
            r[5] for r in committed
        )

    def _replay(self, stored: list[tuple]) -> None:
        for row in stored:
            if row[3] is None:
                break
            self._count(row[4], row[5], row[6], json.loads(row[7]))
            self.tails.update(_TAILS.decode(row[8]))
            self.next_shard += 1
        self.resumed_shards = self.next_shard

    def _reset(
        self, plan: ShardPlan, key: str, repo: SQLiteOrderflowRepository, reader: object
    ) -> None:
        """Drop earlier output and store the plan and the unparseable rows, atomically."""
        ticks = self.decide_ticks()
        with self.metrics.transaction() as conn:
            clear_heatmap(conn)
            write_grid(conn, ticks, self.heatmap_bucket_ms)
            for table in ("metrics", "metrics_rejects", "metrics_runs", "metrics_shards"):
                conn.execute(f"DELETE FROM {table}")  # fixed names, never user input
            conn.execute(
                "INSERT INTO metrics_runs (config_key, status, started_at)"
                " VALUES (?, 'running', ?)",
                (self.config_key, _now()),
            )
            conn.executemany(
                "INSERT INTO metrics_shards (config_key, shard_no, start_ns, end_ns, input_key)"
                " VALUES (?, ?, ?, ?, ?)",
                [(self.config_key, s.shard_no, s.start_ns, s.end_ns, key) for s in self.shards],
            )
            for scan in (plan.book_scan, plan.trade_scan):
                if scan.unparseable:
                    ids = repo.iterate_unparseable(reader, scan.table)  # type: ignore[arg-type]
                    self.metrics.write_in_transaction(
                        (), ((scan.table, i, UNPARSEABLE_REASON) for i in ids)
                    )
        self.rejects = plan.book_scan.unparseable + plan.trade_scan.unparseable
        self._read_ticks()

    def _read_ticks(self) -> None:
        """The stored grid's ticks and bucket width: what every shard of the run bins with."""
        clear = not self.metrics.table_exists("metrics_heatmap_grid")
        rows = (
            []
            if clear
            else self.conn.execute(
                "SELECT instrument, tick, bucket_ms FROM metrics_heatmap_grid WHERE tick > 0"
            ).fetchall()
        )
        self.heatmap_ticks = {name: tick for name, tick, _ in rows}
        if rows:
            self.heatmap_bucket_ms = int(rows[0][2])

    # --- running: buffer out-of-order results, commit the contiguous prefix

    @property
    def done(self) -> bool:
        return self.next_shard >= len(self.shards)

    def accept(self, shard_no: int, result: Result, worker: str) -> int:
        """Buffer one shard's result and commit what became contiguous; returns
        the number of shards committed by this call."""
        if shard_no < self.next_shard or shard_no in self._buffer:
            return 0  # a duplicate from a worker we had given up on
        self._buffer[shard_no] = (result, worker)
        committed = 0
        while self.next_shard in self._buffer:
            self._commit(self.next_shard, *self._buffer.pop(self.next_shard))
            self.next_shard += 1
            committed += 1
        return committed

    def _commit(self, shard_no: int, result: Result, worker: str) -> None:
        columns = result.columns()
        columns.add_cvd_offsets(self.offsets)
        self._stitch(columns, result.heads)
        shard = self.shards[shard_no]
        with self.metrics.transaction() as conn:
            insert_columns(
                conn, METRICS_TABLE, METRIC_ROW_COLUMNS, metric_columns(columns), len(columns)
            )
            self.metrics.write_in_transaction((), result.rejects)
            if result.heatmap is not None:
                write_heatmap(
                    conn,
                    result.heatmap,
                    shard.start_ns,
                    shard.end_ns,
                    self.heatmap_bucket_ms * 1_000_000,
                )
            conn.execute(
                "UPDATE metrics_shards SET committed_at = ?, snapshots = ?, rejects = ?,"
                " trades = ?, signed_volume = ?, worker = ?, tails = ?"
                " WHERE config_key = ? AND shard_no = ?",
                (
                    _now(),
                    result.rows,
                    len(result.rejects),
                    result.trades,
                    json.dumps(result.signed_volume),
                    worker,
                    _ENCODE.encode(result.tails).decode(),
                    self.config_key,
                    shard_no,
                ),
            )
        self._count(result.rows, len(result.rejects), result.trades, result.signed_volume)
        self.tails.update(result.tails)
        self.instruments_seen.update(columns.instrument_names)

    def _stitch(self, columns: ResultColumns, heads: dict[str, BookTop]) -> None:
        """Fill each instrument's first row with OFI against the earlier shards' tail."""
        first_rows = None
        for name, head in heads.items():
            previous = self.tails.get(name)
            if previous is None:
                continue  # the instrument's first snapshot: NULL by definition
            if first_rows is None:
                first_rows = columns.first_rows()
            columns.set_order_flow(first_rows[name], *ofi_pair(previous, head, self.ofi_levels))

    def _count(self, snapshots: int, rejects: int, trades: int, volume: dict[str, float]) -> None:
        self.snapshots += snapshots
        self.rejects += rejects
        self.trades += trades
        for name, value in volume.items():
            self.offsets[name] = self.offsets.get(name, 0.0) + value

    def finish(self) -> None:
        """Mark the run finished and fold the WAL back into the file.

        Workers keep read connections open, so SQLite would leave a full-size
        ``-wal`` beside the user's file; truncating it leaves the file whole on
        its own (a copy of just the ``.db`` then has every row)."""
        self.metrics.finish_run(self.config_key, self.snapshots, self.rejects)
        if self.heatmap_bucket_ms:
            report_unbinned(self.metrics.path, self.instruments_seen, self.heatmap_ticks)
        # A truncating checkpoint waits for readers; a stopped or slow worker must not
        # hold the run up, so wait briefly and otherwise leave the WAL for later.
        timeout_ms = self.conn.execute("PRAGMA busy_timeout").fetchone()[0]
        self.conn.execute(f"PRAGMA busy_timeout = {CHECKPOINT_WAIT_MS}")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        self.conn.execute(f"PRAGMA busy_timeout = {int(timeout_ms)}")
