"""Each instrument's heatmap bin width, fixed before any range is computed.

metrics.md lets the tick come from the profile or be "inferred as the smallest
positive difference between distinct prices seen". Every worker must bin with
the same tick, so it is decided once, before the shards run, from a sample
that does not depend on the plan: the first, middle and last ``SAMPLE_ROWS``
book rows by id (three primary-key range reads, milliseconds on any size).
Books carry consecutive levels, so a few hundred snapshots show the grid.
The ticks are stored with the heatmap (``metrics_heatmap_grid``) and a resumed
run reads them back rather than sampling again.

An instrument absent from the sample and from the profile gets no heatmap, and
the run says so in one line once it has seen the instrument's rows
(``report_unbinned``); name its tick in the profile's ``heatmap_ticks``.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from orderflow.core.heatmap import infer_tick

__all__ = ["SAMPLE_ROWS", "decide_ticks", "report_unbinned", "sample_prices"]

log = logging.getLogger("orderflow.store")

SAMPLE_ROWS = 100
"""Book rows read at each of the start, middle and end of the table (by id)."""


def _counted_prices(side: object) -> list[float]:
    """Prices of a side's levels with a positive finite size; malformed parts ignored."""
    prices = []
    if not isinstance(side, list):
        return prices
    for level in side:
        try:
            price, size = float(level[0]), float(level[1])
        except (TypeError, ValueError, IndexError, KeyError):
            continue
        if math.isfinite(price) and price >= 0 and math.isfinite(size) and size > 0:
            prices.append(price)
    return prices


def sample_prices(
    conn: sqlite3.Connection, instruments: Sequence[str] | None = None
) -> dict[str, list[float]]:
    """Counted level prices per instrument in the sampled book rows."""
    # Two subqueries: SQLite answers a lone min() or max() from the primary key, but
    # reads every row for min(id), max(id) in one SELECT (the whole file, before any
    # shard can start).
    first, last = conn.execute(
        "SELECT (SELECT min(id) FROM book), (SELECT max(id) FROM book)"
    ).fetchone()
    if first is None:
        return {}
    middle = (first + last) // 2
    windows = {(first, first + SAMPLE_ROWS - 1), (middle, middle + SAMPLE_ROWS - 1)}
    windows.add((last - SAMPLE_ROWS + 1, last))
    wanted = set(instruments) if instruments else None
    prices: dict[str, list[float]] = {}
    for lo, hi in sorted(windows):
        for name, bids, asks in conn.execute(
            "SELECT instrument, bids, asks FROM book WHERE id BETWEEN ? AND ?", (lo, hi)
        ):
            if not isinstance(name, str) or (wanted is not None and name not in wanted):
                continue
            for raw in (bids, asks):
                try:
                    side = json.loads(raw) if isinstance(raw, str | bytes) else None
                except ValueError:
                    continue
                prices.setdefault(name, []).extend(_counted_prices(side))
    return prices


def decide_ticks(
    conn: sqlite3.Connection,
    profile_ticks: Mapping[str, float],
    instruments: Sequence[str] | None = None,
) -> dict[str, tuple[float | None, str]]:
    """(tick, where it came from) per instrument: the profile's, else inferred from the sample."""
    decided: dict[str, tuple[float | None, str]] = {}
    for name, prices in sample_prices(conn, instruments).items():
        tick = infer_tick(prices)
        source = f"inferred from {len(set(prices))} distinct sampled prices"
        decided[name] = (tick, source if tick is not None else "too few prices sampled")
    for name, tick in profile_ticks.items():
        if not instruments or name in instruments:
            decided[name] = (float(tick), "profile")
    return decided


def report_unbinned(path: str | Path, seen: Iterable[str], ticks: Mapping[str, float]) -> None:
    """Say in one line which instruments with valid snapshots got no heatmap: their rows
    lie outside the sample (an instrument recorded for a while mid-file) or it showed no
    two distinct prices. Silent, such an instrument's heatmap was just missing."""
    missing = sorted(set(seen) - {name for name, tick in ticks.items() if tick})
    if missing:
        log.warning(
            "%s: no depth heatmap for %s: no price bin could be inferred from the sampled"
            " book rows (the first, middle and last %d); give one in the profile"
            " (heatmap_ticks: {%s: ...}) and rerun with --force",
            path,
            ", ".join(missing),
            SAMPLE_ROWS,
            missing[0],
        )
