"""The audit a run passes before it may call a file "finished".

A finished run is skipped by every later run, so a wrong "finished" loses rows
for good (two runs on one file once did exactly that). Before marking it, the
coordinator checks that the ledger's committed shards account for every output
row, and that the snapshots plus the book's rejects account for every book row
the plan counted. Counting the output tables reads their smallest index, which
is cheap next to the run that wrote them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from orderflow_services.coordinator.planner import ShardPlan

from orderflow.core.errors import InputFileError

__all__ = ["IncompleteRun", "check_complete"]


class IncompleteRun(InputFileError):
    """The output does not add up; the run stays unfinished, so the next one redoes it."""


def check_complete(
    conn: sqlite3.Connection,
    config_key: str,
    plan: ShardPlan,
    *,
    filtered: bool,
    count_book: Callable[[], int],
) -> None:
    """Raise IncompleteRun unless the committed shards account for every row.

    ``filtered``: an instrument filter leaves other instruments' snapshots out on
    purpose, so the book's row count is then not expected to be met.
    ``count_book`` is called only when the plan's count cannot settle it (probes
    count the id span, which equals the rows only when ids have no gaps)."""
    open_shards, snapshots, rejects = conn.execute(
        "SELECT count(*) - count(committed_at), coalesce(sum(snapshots), 0),"
        " coalesce(sum(rejects), 0) FROM metrics_shards WHERE config_key = ?",
        (config_key,),
    ).fetchone()
    metrics_rows = conn.execute("SELECT count(*) FROM metrics").fetchone()[0]
    reject_rows = conn.execute("SELECT count(*) FROM metrics_rejects").fetchone()[0]
    book_rejects = conn.execute(
        "SELECT count(*) FROM metrics_rejects WHERE source_table = 'book'"
    ).fetchone()[0]
    unparseable = plan.book_scan.unparseable + plan.trade_scan.unparseable
    problems = []
    if open_shards:
        problems.append(f"{open_shards} shard(s) never committed")
    if metrics_rows != snapshots:
        problems.append(f"metrics holds {metrics_rows:,} rows, the shards committed {snapshots:,}")
    if reject_rows != rejects + unparseable:
        problems.append(
            f"metrics_rejects holds {reject_rows:,} rows, expected {rejects + unparseable:,}"
        )
    accounted = metrics_rows + book_rejects
    if not filtered and accounted != plan.book_scan.rows:
        rows = plan.book_scan.rows if plan.book_scan.verified else count_book()
        if accounted != rows:
            problems.append(f"{accounted:,} of {rows:,} book rows are accounted for")
    if problems:
        raise IncompleteRun(
            plan.path,
            "; ".join(problems) + " -- another program changed the output tables during the"
            " run; the run is not marked finished, run again to recompute",
        )
