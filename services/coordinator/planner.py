"""Shard planning: cut a recording into instant ranges balanced by row count.

A shard is ``[start_ns, end_ns)`` over *instants*, never over ids or rows: every
row with a given instant falls in exactly one shard, so ties at a shard edge can
be neither dropped nor counted twice, and trades join the snapshot ranges they
belong to by the same rule. The first shard is open below (trades before the
first snapshot land in it) and the last open above.

For the common time-ordered table the boundaries are read off the sparse index
of the table's scan; the coordinator probes (``probe_order``) at a spacing that
divides the shard size, so every shard edge is a sample and planning reads a few
hundred rows however big the file (a full scan with a stride the index does not
divide costs one more pass over ``(id, timestamp)``).
A table whose ids are only nearly in time order (merged feeds: ids lag instants
by up to a margin) is planned the same way from the running maximum of its
samples, and read by id ranges widened by the margin (``orderflow.store.near_order``).
A book whose ids are shuffled is cut from its sorted order index
(``orderflow.store.order_index``), which the coordinator builds anyway so that
workers can read such tables by range.
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
from collections.abc import Iterable

import msgspec

from orderflow.core.timestamps import parse_instant_ns
from orderflow.store.input_repository import SAMPLE_EVERY, OrderScan
from orderflow.store.order_index import indexed_instants

__all__ = [
    "MAX_DEFAULT_SHARD_ROWS",
    "Shard",
    "ShardPlan",
    "default_shard_rows",
    "input_key",
    "plan_shards",
    "probe_every",
    "shard_stride",
    "trim_scan",
]

MAX_DEFAULT_SHARD_ROWS = 10_000
"""Default snapshots per shard: bounds a worker's result message (~1 MB) and memory."""
MIN_DEFAULT_SHARD_ROWS = 1_000
TARGET_SHARDS = 16
"""Default shard count for small files, so several workers share even 20k snapshots."""
MAX_PROBES = 20_000
"""More probes than this (a shard size prime to 1000 on a big file) cost more than a scan."""


class Shard(msgspec.Struct, frozen=True):
    """One unit of work: the rows with ``start_ns <= instant < end_ns`` (None = open)."""

    shard_no: int
    start_ns: int | None
    end_ns: int | None


class ShardPlan(msgspec.Struct, frozen=True):
    """The shards of one database and the scans workers need to read them."""

    path: str
    shards: list[Shard]
    book_scan: OrderScan
    trade_scan: OrderScan


def default_shard_rows(parseable_rows: int) -> int:
    """Depends on the file only, so a resumed run plans the same shards; a multiple of
    ``SAMPLE_EVERY``, so shard edges are samples the scan already has."""
    rows = min(MAX_DEFAULT_SHARD_ROWS, parseable_rows // TARGET_SHARDS)
    return max(MIN_DEFAULT_SHARD_ROWS, rows - rows % SAMPLE_EVERY)


def shard_stride(rows: int, shard_rows: int | None, shards: int | None) -> int:
    """Rows per shard for a table of ``rows`` rows."""
    if shards is not None:
        count = max(1, shards)
    else:
        size = shard_rows if shard_rows is not None else default_shard_rows(rows)
        count = max(1, math.ceil(rows / max(1, size)))
    return math.ceil(rows / count) if rows else 1


def probe_every(rows: int, shard_rows: int | None, shards: int | None) -> int | None:
    """Ids between probes such that every shard edge is a probe; None when that would
    take more probes than a full scan is worth."""
    every = math.gcd(shard_stride(rows, shard_rows, shards), SAMPLE_EVERY)
    return every if rows // every <= MAX_PROBES else None


def input_key(book_scan: OrderScan, trade_scan: OrderScan) -> str:
    """Fingerprint of the input a plan was made from; a resume requires it unchanged."""
    fields = [
        (
            s.rows,
            s.unparseable,
            s.time_ordered,
            s.min_id,
            s.max_id,
            s.first_ns,
            s.last_ns,
            s.verified,
            s.margin_ns,
        )
        for s in (book_scan, trade_scan)
    ]
    return hashlib.sha256(msgspec.json.encode(fields)).hexdigest()[:16]


def plan_shards(
    conn: sqlite3.Connection,
    path: str,
    book_scan: OrderScan,
    trade_scan: OrderScan,
    *,
    shard_rows: int | None = None,
    shards: int | None = None,
    order_index: str | None = None,
) -> ShardPlan:
    """Plan shards of about ``shard_rows`` snapshots (or ``shards`` shards in all).

    ``order_index`` is required when the book's ids are out of time order."""
    parseable = book_scan.rows - book_scan.unparseable
    stride = shard_stride(parseable, shard_rows, shards)
    if parseable == 0 or stride >= parseable:
        bounds: list[int] = []
    elif book_scan.time_ordered:
        bounds = _ordered_bounds(conn, book_scan, stride)
    elif order_index is not None:
        bounds = _every_nth(indexed_instants(order_index, "book"), stride)[1:]
    else:
        raise ValueError("a book whose ids are out of time order needs an order index")
    edges = _strictly_increasing(bounds, book_scan.first_ns)
    starts: list[int | None] = [None, *edges]
    ends: list[int | None] = [*edges, None]
    plan = [Shard(i, s, e) for i, (s, e) in enumerate(zip(starts, ends, strict=True))]
    return ShardPlan(path, plan, book_scan, trade_scan)


def trim_scan(scan: OrderScan, start_ns: int | None, end_ns: int | None) -> OrderScan:
    """The scan with only the samples that bracket one shard, for a compact Task.

    ``OrderScan.id_bounds`` needs the last sample before the start and the first
    at or after the end; keeping just those gives the same id range.
    """
    if not scan.time_ordered or not scan.sample_ns:
        return scan
    i, j = scan.sample_range(start_ns, end_ns)
    lo, hi = max(i - 1, 0), min(j + 1, len(scan.sample_ns))
    return msgspec.structs.replace(
        scan,
        sample_ids=scan.sample_ids[lo:hi],
        sample_ns=scan.sample_ns[lo:hi],
        sample_min=scan.sample_min[lo:hi],
    )


def _ordered_bounds(conn: sqlite3.Connection, scan: OrderScan, stride: int) -> list[int]:
    if stride % scan.sample_every == 0:
        step = stride // scan.sample_every
        return scan.sample_ns[step::step]
    return _every_nth(_instants(conn), stride)[1:]


def _every_nth(instants: Iterable[int], stride: int) -> list[int]:
    """Instants number 0, stride, 2*stride, ... of an ordered stream."""
    return [ns for seen, ns in enumerate(instants) if seen % stride == 0]


def _instants(conn: sqlite3.Connection) -> Iterable[int]:
    cursor = conn.execute("SELECT timestamp FROM book ORDER BY id")
    parse = parse_instant_ns
    while batch := cursor.fetchmany(5000):
        for (raw,) in batch:
            ns = parse(raw)
            if ns is not None:
                yield ns


def _strictly_increasing(bounds: Iterable[int], first_ns: int | None) -> list[int]:
    """Drop repeated instants (ties) and edges at or before the first snapshot."""
    out: list[int] = []
    floor = first_ns if first_ns is not None else -(2**63)
    for b in bounds:
        if b > floor and (not out or b > out[-1]):
            out.append(b)
    return out
