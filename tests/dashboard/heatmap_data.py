"""Depth heatmap tables for a processed test recording, from its own book rows.

The coordinator does not write ``metrics_heatmap`` yet, so the browser tests
build it with the same parts it will use: ``HeatmapAccumulator`` over every
snapshot that has a metrics row (the valid ones), then ``write_heatmap`` and
``write_grid`` into the file, with the tick inferred from the book's prices.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from orderflow.core.heatmap import HeatmapAccumulator, infer_tick
from orderflow.store.heatmap_store import HEATMAP_DDL, write_grid, write_heatmap

__all__ = ["write_heatmap_tables"]

NS_PER_MS = 1_000_000


def _levels(text: str) -> tuple[list[float], list[float]]:
    prices, sizes = [], []
    for level in json.loads(text):
        price, size = float(level[0]), float(level[1])
        if size > 0:
            prices.append(price)
            sizes.append(size)
    return prices, sizes


def write_heatmap_tables(path: Path, bucket_ms: int = 1000) -> None:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT b.instrument, m.ts_ns, b.bids, b.asks FROM book b "
            "JOIN metrics m ON m.snapshot_id = b.id ORDER BY m.ts_ns, b.id"
        ).fetchall()
        parsed = [(inst, ts, _levels(bids), _levels(asks)) for inst, ts, bids, asks in rows]
        ticks = {}
        for name in {p[0] for p in parsed}:
            sample = [x for p in parsed[:4000] if p[0] == name for x in p[2][0] + p[3][0]]
            ticks[name] = infer_tick(sample)
        acc = HeatmapAccumulator(ticks, bucket_ms=bucket_ms)
        for name, ts, (bp, bs), (ap, asz) in parsed:
            acc.add(name, ts, bp, bs, ap, asz)
        conn.executescript(HEATMAP_DDL)
        with conn:
            conn.execute("DELETE FROM metrics_heatmap")
            write_heatmap(conn, acc.partials(), None, None, bucket_ms * NS_PER_MS)
            write_grid(conn, {k: (v, "inferred") for k, v in ticks.items()}, bucket_ms)
    finally:
        conn.close()
