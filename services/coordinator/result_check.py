"""Checking a worker's ``Result`` against the task it answers, before anything is written.

A peer that says Ready gets tasks, and what it sends back is committed into the
user's file and then trusted as "finished". So every result is checked against
its task first: columns of one length, snapshot ids inside the shard's id range
in (instant, id) order without duplicates, instants inside the shard's range,
rejects naming only ``book``/``trades`` ids of the shard, instruments and CVD
offsets only for instruments the shard really holds (one primary-key lookup per
instrument in the recording, so a made-up name or a row moved to another
instrument is caught without re-reading the shard), finite numbers, heatmap
arrays that cut each other as their rows say (the blobs the worker packed go
into the file as they are, cut by their ends). A result
that fails is refused with the first problem found; the coordinator logs it,
drops it and re-queues the shard.

The checks see a result only through ``_columns``, the one place that knows the
wire shape, so a change of the message's layout touches that function alone.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass

import numpy as np
from orderflow_services.protocol import Result, Task

from orderflow.core.heatmap import HeatmapPartials
from orderflow.core.timestamps import parse_instant_ns
from orderflow.pipeline.result_columns import VALUE_COLUMNS
from orderflow.store.input_repository import OrderScan

__all__ = ["BadResult", "ResultCheck", "max_result_bytes"]

FIXED_RESULT_BYTES = 4 << 20
"""Room of every result for its fixed fields and reject reasons, bytes."""
BYTES_PER_ROW = 512
"""Generous bytes per shard row in a result (a metric row is about 80, plus its
timestamp text); a result larger than the shard could produce is refused unread."""
MAX_REASON_CHARS = 4096
_NOT_NEGATIVE = {
    "best_bid",
    "best_ask",
    "mid",
    "weighted_mid",
    "bid_size_1",
    "ask_size_1",
}
"""Value columns that metrics.md never makes negative (NaN, i.e. NULL, passes)."""
_MAY_OVERFLOW = {"cvd", "mid", "weighted_mid", "ofi", "mlofi"}
"""Value columns whose float sums valid input can take past the largest double
(trades of 1e308; best prices whose sum is past it): the reference stores the
infinity, so an honest worker sends it. The other columns stay finite."""
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class BadResult(ValueError):
    """A result that does not fit its task; the message says the first misfit."""


def max_result_bytes(task: Task) -> int:
    """The largest frame an honest worker can send for ``task``, from its id ranges."""
    rows = 0
    for scan in (task.book_scan, task.trade_scan):
        lo, hi = _id_range(scan, task)
        rows += max(0, hi - lo + 1)
    return FIXED_RESULT_BYTES + rows * BYTES_PER_ROW


@dataclass(frozen=True)
class _Columns:
    """The rows of a result as arrays, whatever the wire layout."""

    ids: np.ndarray  # int64
    ts_ns: np.ndarray  # int64
    index: np.ndarray  # per row, into names
    names: list[str]
    values: dict[str, np.ndarray]  # float64 columns by name, NaN for NULL


def _columns(result: Result) -> _Columns:
    """Raises BadResult when the columns are not of one length, the timestamp texts
    do not fit their offsets, or a name is given twice."""
    try:
        cols = result.columns()
        offsets = cols.timestamp_offsets
        if len(offsets) and (
            offsets[0] != 0 or offsets[-1] != len(cols.timestamps) or (np.diff(offsets) < 0).any()
        ):
            raise ValueError("timestamp offsets do not cut the timestamp blob")
        cols.timestamps.decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadResult(str(exc)) from None
    names = cols.instrument_names
    if len(set(names)) != len(names):
        raise BadResult("an instrument name given twice")
    values = dict(zip(VALUE_COLUMNS, cols.values, strict=True))
    return _Columns(cols.snapshot_ids, cols.ts_ns, cols.instrument_index, names, values)


def _id_range(scan: OrderScan, task: Task) -> tuple[int, int]:
    """Ids a shard may name in this table: its id bounds when the table is in time
    order, else the whole table's (an order-index plan has no per-shard ids)."""
    if scan.min_id is None or scan.max_id is None:
        return 0, -1
    if scan.time_ordered:
        return scan.id_bounds(task.start_ns, task.end_ns)
    return scan.min_id, scan.max_id


class ResultCheck:
    """Checks results against their tasks, with the recording open for lookups."""

    def __init__(self, conn: sqlite3.Connection, instruments: list[str] | None) -> None:
        self.conn = conn
        self.instruments = set(instruments) if instruments else None

    def check(self, task: Task, result: Result) -> None:
        """Raise BadResult naming the first problem; return when the result fits."""
        if result.task_id != task.task_id:
            raise BadResult(f"answers task {result.task_id}, not {task.task_id}")
        cols = _columns(result)
        self._check_rows(task, cols)
        self._check_instruments(task, result, cols)
        self._check_rejects(task, result, cols)
        if result.heatmap is not None:
            _check_heatmap(result.heatmap)
        if not (isinstance(result.trades, int) and 0 <= result.trades <= _INT64_MAX):
            raise BadResult(f"trade count {result.trades!r}")

    def _check_rows(self, task: Task, cols: _Columns) -> None:
        ids, ts = cols.ids, cols.ts_ns
        if not len(ids):
            return
        lo, hi = _id_range(task.book_scan, task)
        if ids.min() < lo or ids.max() > hi:
            raise BadResult(f"snapshot ids outside the shard's ids {lo}..{hi}")
        start = task.start_ns if task.start_ns is not None else _INT64_MIN
        end = task.end_ns if task.end_ns is not None else _INT64_MAX
        if ts.min() < start or (ts.max() >= end and task.end_ns is not None):
            raise BadResult("instants outside the shard's time range")
        dts, dids = np.diff(ts), np.diff(ids)
        if (dts < 0).any() or ((dts == 0) & (dids <= 0)).any():
            raise BadResult("rows not in (instant, id) order, or a snapshot id twice")
        values = cols.values
        if np.isnan(values["cvd"]).any():
            raise BadResult("a CVD that is not a number")
        for name, column in values.items():
            if name not in _MAY_OVERFLOW and np.isinf(column).any():
                raise BadResult(f"an infinite {name}")
            if name.startswith("obi") and (np.abs(column) > 1).any():
                raise BadResult(f"{name} outside [-1, 1]")
            if name in _NOT_NEGATIVE and (column < 0).any():
                raise BadResult(f"a negative {name}")

    def _check_instruments(self, task: Task, result: Result, cols: _Columns) -> None:
        """Every instrument named is the recorded one of its first row; CVD offsets
        only for instruments the shard's snapshots or trades hold."""
        wanted = self.instruments
        for i, name in enumerate(cols.names):
            if wanted is not None and name not in wanted:
                raise BadResult(f"instrument {name!r} was not asked for")
            row = int(np.argmax(cols.index == i))
            snapshot_id = int(cols.ids[row])
            found = self.conn.execute(
                "SELECT instrument, timestamp FROM book WHERE id = ?", (snapshot_id,)
            ).fetchone()
            if found is None or found[0] != name:
                raise BadResult(f"snapshot {snapshot_id} is not of instrument {name!r}")
            if parse_instant_ns(found[1]) != int(cols.ts_ns[row]):
                raise BadResult(f"snapshot {snapshot_id} is not at the instant sent")
        present = set(cols.names)
        for field, tops in (("heads", result.heads), ("tails", result.tails)):
            if set(tops) - present:
                raise BadResult(f"{field} for instruments without rows in the result")
            for top in tops.values():
                if not all(math.isfinite(x) and x >= 0 for side in top for x in side):
                    raise BadResult(f"{field} with a level that is negative or not finite")
        for name, volume in result.signed_volume.items():
            if not (isinstance(volume, float | int) and not math.isnan(volume)):
                raise BadResult(f"CVD offset {volume!r} of {name!r}")  # inf: see _MAY_OVERFLOW
            if name in present:
                continue
            if wanted is not None and name not in wanted:
                raise BadResult(f"CVD offset for {name!r}, which was not asked for")
            lo, hi = _id_range(task.trade_scan, task)
            traded = self.conn.execute(
                "SELECT 1 FROM trades WHERE id BETWEEN ? AND ? AND instrument = ? LIMIT 1",
                (lo, hi, name),
            ).fetchone()
            if traded is None:
                raise BadResult(f"CVD offset for {name!r}, which the shard does not trade")

    def _check_rejects(self, task: Task, result: Result, cols: _Columns) -> None:
        ranges = {
            "book": _id_range(task.book_scan, task),
            "trades": _id_range(task.trade_scan, task),
        }
        seen: set[tuple[str, int]] = set()
        snapshot_ids = set(cols.ids.tolist()) if result.rejects else set()
        for table, row_id, reason in result.rejects:
            bounds = ranges.get(table)
            if bounds is None:
                raise BadResult(f"a reject names table {table!r}")
            if not bounds[0] <= row_id <= bounds[1]:
                raise BadResult(f"a reject names {table} id {row_id}, outside the shard")
            if (table, row_id) in seen or (table == "book" and row_id in snapshot_ids):
                raise BadResult(f"{table} id {row_id} is rejected twice or also a snapshot")
            if len(reason) > MAX_REASON_CHARS:
                raise BadResult(f"a reject reason of {len(reason)} characters")
            seen.add((table, row_id))


def _cuts(ends: np.ndarray, rows: int, blob: int, what: str) -> None:
    """``ends`` (rows + 1 of them, from 0) cuts a blob of ``blob`` items in order."""
    if len(ends) != rows + 1 or ends[0] != 0 or ends[-1] != blob or (np.diff(ends) < 0).any():
        raise BadResult(f"heatmap {what} do not cut their blob")


def _check_heatmap(heatmap: HeatmapPartials) -> None:
    """Raise BadResult unless the heatmap's arrays are of one row count and its ends
    cut its cells (and, when packed by the worker, its blobs) in order."""
    try:
        instr, bucket, side, snaps, ends, bins, sums = heatmap.columns()
    except ValueError as exc:  # a blob that is not a whole number of items
        raise BadResult(f"heatmap: {exc}") from None
    rows = len(bucket)
    if {len(instr), len(side), len(snaps), len(ends)} != {rows} or len(bins) != len(sums):
        raise BadResult("heatmap columns of different lengths")
    _cuts(np.concatenate([[0], ends]), rows, len(bins), "row ends")
    if rows and (instr.min() < 0 or instr.max() >= len(heatmap.instruments)):
        raise BadResult("a heatmap row of an instrument not named")
    packed = heatmap.packed
    if packed is None:
        return
    try:
        first_bin = np.frombuffer(packed.first_bin, "<i8")
        offset_ends = np.frombuffer(packed.offset_ends, "<i8")
        sum_ends = np.frombuffer(packed.sum_ends, "<i8")
    except ValueError as exc:
        raise BadResult(f"packed heatmap: {exc}") from None
    if {len(first_bin), len(packed.empty), len(packed.no_offsets)} != {rows}:
        raise BadResult("packed heatmap columns of different lengths")
    _cuts(offset_ends, rows, len(packed.offsets), "offset ends")
    _cuts(sum_ends, rows, len(packed.sums), "sum ends")
