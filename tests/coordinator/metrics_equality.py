"""Helpers shared by the coordinator tests: metrics.md's equality, hashes of input tables."""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import math
import sqlite3
from pathlib import Path

from orderflow.core.timestamps import parse_instant_ns
from orderflow.store.heatmap_store import decode_cells
from orderflow.store.schema import FLOW_COLUMNS

__all__ = [
    "assert_heatmaps_equal",
    "assert_metrics_equal",
    "book_sizes",
    "input_digest",
    "read_heatmap",
    "read_metrics",
    "read_rejects",
    "traded_volume",
]


def read_metrics(path: Path) -> dict[int, tuple]:
    """snapshot_id -> (best_bid, best_ask, obi, cvd, instrument, ts_ns, *FLOW_COLUMNS)."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT snapshot_id, best_bid, best_ask, obi, cvd, instrument, ts_ns,"
            f" {', '.join(FLOW_COLUMNS)} FROM metrics"
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def read_rejects(path: Path) -> set[tuple]:
    with sqlite3.connect(path) as conn:
        return set(conn.execute("SELECT source_table, row_id FROM metrics_rejects"))


def traded_volume(path: Path) -> dict[int, float]:
    """V of metrics.md per snapshot: total traded size of its instrument up to its instant,
    computed here independently of the code under test."""
    with sqlite3.connect(path) as conn:
        trades = conn.execute("SELECT instrument, size, timestamp FROM trades").fetchall()
        books = conn.execute("SELECT id, instrument, timestamp FROM book").fetchall()
    per: dict[str, list[tuple[int, float]]] = {}
    for instrument, size, ts in trades:
        ns = parse_instant_ns(ts)
        try:
            value = abs(float(size))
        except (TypeError, ValueError):
            continue
        if ns is not None and value == value:
            per.setdefault(instrument, []).append((ns, value))
    prefix: dict[str, tuple[list[int], list[float]]] = {}
    for instrument, items in per.items():
        items.sort()
        prefix[instrument] = (
            [t for t, _ in items],
            list(itertools.accumulate(v for _, v in items)),
        )
    out = {}
    for sid, instrument, ts in books:
        ns = parse_instant_ns(ts)
        times, sums = prefix.get(instrument, ([], []))
        k = bisect.bisect_right(times, ns) if ns is not None else 0
        out[sid] = sums[k - 1] if k else 0.0
    return out


def book_sizes(path: Path) -> dict[int, float]:
    """Summed absolute size of every level of a snapshot, both sides, parsed here
    independently: an upper bound of the "sizes involved" in its OFI."""
    out = {}
    with sqlite3.connect(path) as conn:
        for sid, bids, asks in conn.execute("SELECT id, bids, asks FROM book"):
            total = 0.0
            for side in (bids, asks):
                try:
                    total += sum(abs(float(level[1])) for level in json.loads(side))
                except (TypeError, ValueError, IndexError, KeyError):
                    total = math.inf
            out[sid] = total
    return out


def _close(a: float | None, b: float | None, tolerance: float) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= tolerance


def assert_metrics_equal(reference: Path, candidate: Path) -> None:
    """metrics.md: same snapshot ids, identical best bid/ask, obi within 1e-12,
    cvd within 1e-9 x max(1, V); spread, mid, weighted mid (and the top sizes)
    within 1e-12 relative, obi_l* within 1e-12, ofi and mlofi within 1e-9 x
    max(1, sizes involved), NULL exactly where the reference is NULL; plus
    identical rejects."""
    ref, got = read_metrics(reference), read_metrics(candidate)
    assert set(ref) == set(got), f"snapshot ids differ: {len(ref)} vs {len(got)}"
    volume = traded_volume(reference)
    sizes = book_sizes(reference)
    previous: dict[int, int] = {}
    last: dict[str, int] = {}
    for sid in sorted(ref, key=lambda s: (ref[s][5], s)):
        if ref[sid][4] in last:
            previous[sid] = last[ref[sid][4]]
        last[ref[sid][4]] = sid
    for sid, (bid, ask, obi, cvd, instrument, ts_ns, *flow) in ref.items():
        g = got[sid]
        assert (g[0], g[1], g[4], g[5]) == (bid, ask, instrument, ts_ns), sid
        assert _close(g[2], obi, 1e-12), sid
        assert abs(g[3] - cvd) <= 1e-9 * max(1.0, volume[sid]), (sid, g[3], cvd)
        involved = sizes[sid] + sizes.get(previous.get(sid, sid), 0.0)
        for name, want, have in zip(FLOW_COLUMNS, flow, g[6:], strict=True):
            if name.startswith("obi_l"):
                tolerance = 1e-12
            elif name in ("ofi", "mlofi"):
                tolerance = 1e-9 * max(1.0, involved)
            else:
                tolerance = 1e-12 * abs(want or 0.0)
            assert _close(have, want, tolerance), (sid, name, have, want)
    assert read_rejects(reference) == read_rejects(candidate)
    assert_heatmaps_equal(reference, candidate)


def read_heatmap(path: Path) -> dict[tuple[str, int, int], tuple[int, dict[int, float]]]:
    """(instrument, side, bucket) -> (snapshots, {bin: summed size}) without zero bins."""
    out = {}
    with sqlite3.connect(path) as conn:
        for name, side, bucket, snaps, first, offsets, sums in conn.execute(
            "SELECT instrument, side, bucket, snapshots, first_bin, offsets, sums"
            " FROM metrics_heatmap"
        ):
            bins, values = decode_cells(first, offsets, sums)
            cells = {int(b): float(v) for b, v in zip(bins, values, strict=True) if v}
            out[(name, side, bucket)] = (snaps, cells)
    return out


def assert_heatmaps_equal(reference: Path, candidate: Path) -> None:
    """Same grid (ticks, bucket width), same cells and snapshot counts; sums within
    float32 rounding (1e-6 relative), whatever the shards and workers were."""
    with sqlite3.connect(reference) as conn:
        grid_ref = sorted(conn.execute("SELECT * FROM metrics_heatmap_grid"))
    with sqlite3.connect(candidate) as conn:
        grid_got = sorted(conn.execute("SELECT * FROM metrics_heatmap_grid"))
    assert grid_ref == grid_got
    ref, got = read_heatmap(reference), read_heatmap(candidate)
    assert ref.keys() == got.keys()
    for key, (snaps, cells) in ref.items():
        assert got[key][0] == snaps, key
        assert got[key][1].keys() == cells.keys(), key
        for j, value in cells.items():
            assert abs(got[key][1][j] - value) <= 1e-6 * abs(value), (key, j)


def input_digest(path: Path) -> str:
    """SHA-256 over every row of book and trades, in id order."""
    h = hashlib.sha256()
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        for table in ("book", "trades"):
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY id"):
                h.update(repr(row).encode())
    return h.hexdigest()
