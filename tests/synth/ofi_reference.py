"""OFI and mid straight from the book JSON, per metrics.md, for checks on recordings.

Independent of the pipeline on purpose: the generator's test and the real-data
figures should not depend on the code whose inputs they judge.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np

from orderflow.core.timestamps import parse_instant_ns


def _best(side: list[list[object]], highest: bool) -> tuple[float, float] | None:
    """(best price, summed size there) over levels with size > 0."""
    sizes: dict[float, float] = {}
    for level in side:
        price, size = float(level[0]), float(level[1])  # type: ignore[arg-type]
        if size > 0:
            sizes[price] = sizes.get(price, 0.0) + size
    if not sizes:
        return None
    price = max(sizes) if highest else min(sizes)
    return price, sizes[price]


def touch_series(path: Path, instrument: str) -> tuple[np.ndarray, np.ndarray]:
    """(ts_ns, rows of [P_b, Q_b, P_a, Q_a]) of the instrument's two-sided snapshots."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = []
    for rid, bids, asks, ts in conn.execute(
        "SELECT id, bids, asks, timestamp FROM book WHERE instrument = ?", (instrument,)
    ):
        instant = parse_instant_ns(str(ts))
        try:
            bid, ask = _best(json.loads(bids), True), _best(json.loads(asks), False)
        except ValueError:
            continue
        if instant is not None and bid and ask:
            rows.append((instant, rid, *bid, *ask))
    conn.close()
    rows.sort()
    data = np.array(rows, dtype=np.float64).reshape(-1, 6)
    return data[:, 0].astype(np.int64), data[:, 2:]


def ofi_mid_per_interval(
    path: Path, instrument: str, interval_ns: int = 1_000_000_000
) -> tuple[np.ndarray, np.ndarray]:
    """(OFI summed over each interval, mid change over the same interval).

    The mid change of an interval runs from the last snapshot of the previous
    interval to its own last, so both cover the same transitions.
    """
    ts, touch = touch_series(path, instrument)
    pb, qb, pa, qa = touch.T
    e = (
        qb[1:] * (pb[1:] >= pb[:-1])
        - qb[:-1] * (pb[1:] <= pb[:-1])
        - qa[1:] * (pa[1:] <= pa[:-1])
        + qa[:-1] * (pa[1:] >= pa[:-1])
    )
    mid = (pb + pa) / 2
    bucket = ts[1:] // interval_ns
    edges = np.flatnonzero(np.diff(bucket)) + 1
    starts = np.concatenate([[0], edges])
    ofi = np.add.reduceat(e, starts)
    ends = np.concatenate([edges, [len(e)]]) - 1
    d_mid = mid[1:][ends] - mid[np.concatenate([[0], ends[:-1] + 1])]
    return ofi, d_mid
