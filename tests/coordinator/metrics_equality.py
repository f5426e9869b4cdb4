"""Helpers shared by the coordinator tests: metrics.md's equality, hashes of input tables."""

from __future__ import annotations

import bisect
import hashlib
import itertools
import sqlite3
from pathlib import Path

from orderflow.core.timestamps import parse_instant_ns

__all__ = ["assert_metrics_equal", "input_digest", "read_metrics", "read_rejects", "traded_volume"]


def read_metrics(path: Path) -> dict[int, tuple]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT snapshot_id, best_bid, best_ask, obi, cvd, instrument, ts_ns FROM metrics"
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


def assert_metrics_equal(reference: Path, candidate: Path) -> None:
    """metrics.md: same snapshot ids, identical best bid/ask, obi within 1e-12,
    cvd within 1e-9 x max(1, V); plus identical rejects."""
    ref, got = read_metrics(reference), read_metrics(candidate)
    assert set(ref) == set(got), f"snapshot ids differ: {len(ref)} vs {len(got)}"
    volume = traded_volume(reference)
    for sid, (bid, ask, obi, cvd, instrument, ts_ns) in ref.items():
        g = got[sid]
        assert (g[0], g[1], g[4], g[5]) == (bid, ask, instrument, ts_ns), sid
        if obi is None:
            assert g[2] is None, sid
        else:
            assert abs(g[2] - obi) <= 1e-12, sid
        assert abs(g[3] - cvd) <= 1e-9 * max(1.0, volume[sid]), (sid, g[3], cvd)
    assert read_rejects(reference) == read_rejects(candidate)


def input_digest(path: Path) -> str:
    """SHA-256 over every row of book and trades, in id order."""
    h = hashlib.sha256()
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        for table in ("book", "trades"):
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY id"):
                h.update(repr(row).encode())
    return h.hexdigest()
