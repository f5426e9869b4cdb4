"""The dashboard's queries as plain functions, for notebooks.

Each call takes a database path (opened, queried directly, closed) or an open
``Dataset`` (reuse one for many questions on a large file), and returns a
pandas DataFrame with a UTC ``time`` column, or the Arrow table with
``as_arrow=True``. Instants may be given as ISO-8601 text, integer epoch (any
unit, as in the recordings), ``datetime``/``pandas.Timestamp`` or None (the
first/last instant of that instrument); ``end`` is exclusive.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from orderflow.core.timestamps import parse_instant_ns
from orderflow.query.candles import parse_window
from orderflow.query.dataset import Dataset
from orderflow.query.series import SERIES_EXPRESSIONS, WINDOW_SUM_COLUMNS

__all__ = ["Instant", "candles", "metrics", "series", "to_instant_ns"]

Instant = str | int | datetime | pd.Timestamp | None


def to_instant_ns(value: Instant) -> int | None:
    """An instant in ns UTC from any accepted form; None stays None. Naive datetimes are UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
        return int(stamp.value)
    ns = parse_instant_ns(value)
    if ns is None:
        raise ValueError(f"cannot read {value!r} as an instant (ISO-8601 or integer epoch)")
    return ns


@contextmanager
def _opened(db: str | Path | Dataset) -> Iterator[Dataset]:
    if isinstance(db, Dataset):
        yield db
        return
    dataset = Dataset(db, materialize=False)
    try:
        yield dataset
    finally:
        dataset.close()


def _range(dataset: Dataset, instrument: str, start: Instant, end: Instant) -> tuple[int, int]:
    extent = dataset.extent(instrument) or (0, 0)
    lo = to_instant_ns(start)
    hi = to_instant_ns(end)
    return (extent[0] if lo is None else lo, extent[1] + 1 if hi is None else hi)


def _finish(table: pa.Table, as_arrow: bool) -> pd.DataFrame | pa.Table:
    times = pc.cast(table["ts_ns"], pa.timestamp("ns", tz="UTC"))
    table = table.add_column(0, "time", times)
    return table if as_arrow else table.to_pandas()


def candles(
    db: str | Path | Dataset,
    instrument: str,
    start: Instant = None,
    end: Instant = None,
    window: str | float = "60s",
    *,
    as_arrow: bool = False,
) -> pd.DataFrame | pa.Table:
    """OHLC candles of valid trades, epoch-aligned, with buy/sell volume and trade count."""
    window_ns = parse_window(window)
    with _opened(db) as dataset:
        lo, hi = _range(dataset, instrument, start, end)
        table = dataset.candles(instrument, lo, hi, window_ns)
    return _finish(table, as_arrow)


def metrics(
    db: str | Path | Dataset,
    instrument: str,
    start: Instant = None,
    end: Instant = None,
    max_points: int | None = None,
    *,
    as_arrow: bool = False,
) -> pd.DataFrame | pa.Table:
    """Metric rows (snapshot_id, ts_ns, obi, cvd, best_bid, best_ask and the
    order-flow columns spread .. mlofi) in time order.

    With ``max_points`` the rows are the M4 picks of OBI and of CVD over
    ``max_points // 8`` buckets (so at most ``max_points`` rows, spikes kept).
    For OFI over a long range use ``series(..., "ofi", max_points=...)``: its
    window sums, not a sample of single steps.
    """
    with _opened(db) as dataset:
        lo, hi = _range(dataset, instrument, start, end)
        table = dataset.metric_rows(instrument, lo, hi)
        if max_points is not None:
            buckets = max(1, max_points // 8)
            keep = set()
            for column in ("obi", "cvd"):
                picks = dataset.series(instrument, column, lo, hi, buckets)
                keep.update(picks["snapshot_id"].to_pylist())
            table = table.filter(pc.is_in(table["snapshot_id"], pa.array(sorted(keep), pa.int64())))
    return _finish(table, as_arrow)


def series(
    db: str | Path | Dataset,
    instrument: str,
    column: str,
    start: Instant = None,
    end: Instant = None,
    max_points: int | None = None,
    *,
    as_arrow: bool = False,
) -> pd.DataFrame | pa.Table:
    """One metric column over time: ``time``, ``ts_ns`` and ``value``.

    Without ``max_points`` every non-NULL sample comes back with its
    ``snapshot_id``. With it, sampled columns (OBI, CVD, prices, spread, sizes,
    ``obi_l*``) are M4-reduced to ``max_points // 4`` buckets (first, last, min and
    max sample of each, so spikes stay); ``ofi`` and ``mlofi`` are flows, so they
    come back as one sum per bucket of ``max_points`` equal buckets, stamped with
    the bucket's start, with the number of ``snapshots`` summed.
    """
    if column not in SERIES_EXPRESSIONS:
        known = ", ".join(sorted(SERIES_EXPRESSIONS))
        raise ValueError(f"unknown metric column {column!r}; one of {known}")
    with _opened(db) as dataset:
        lo, hi = _range(dataset, instrument, start, end)
        if max_points is not None and column in WINDOW_SUM_COLUMNS:
            table = dataset.window_sums(instrument, column, lo, hi, max(1, max_points))
        else:
            buckets = None if max_points is None else max(1, max_points // 4)
            table = dataset.series(instrument, column, lo, hi, buckets)
    return _finish(table, as_arrow)
