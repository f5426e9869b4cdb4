"""Metric series reduced for plotting with the M4 method, inside DuckDB.

A year of snapshots cannot go to a browser, and averaging would hide exactly
the OBI spikes and CVD jumps a user looks for. M4 (Jugel et al., VLDB 2014)
splits the range into equal-width buckets and keeps, per bucket, the first,
last, minimum and maximum sample: a line through those points draws the same
pixels as the full series when there is about one bucket per pixel column,
and every plotted point is a real snapshot. A panel therefore holds at most
4 x buckets points whatever the range.

Ties are broken towards the earliest sample by (instant, snapshot id), so the
result is deterministic and can be checked by an independent implementation.

OFI and multi-level OFI are flows: a value says how much the book changed since
the previous snapshot, so a window's OFI is the sum of its snapshots' values
(Cont et al. regress price changes on exactly that sum). Sampling them would
draw arbitrary single steps; their reduced series is one window sum per bucket
instead (``query_window_sums``).
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

__all__ = [
    "SERIES_EXPRESSIONS",
    "WINDOW_SUM_COLUMNS",
    "bucket_width_ns",
    "query_series",
    "query_window_sums",
]

SERIES_EXPRESSIONS = {
    "obi": "obi",
    "cvd": "cvd",
    "best_bid": "best_bid",
    "best_ask": "best_ask",
    # The stored ``mid`` column holds the same value; the expression also serves a
    # table an earlier version wrote, until it is recomputed.
    "mid": "(best_bid + best_ask) / 2",
    **{
        name: name
        for name in (
            "spread",
            "weighted_mid",
            "bid_size_1",
            "ask_size_1",
            "obi_l1",
            "obi_l5",
            "obi_l10",
            "ofi",
            "mlofi",
        )
    },
}
"""The metric values a series can be drawn from (names map to fixed SQL, never user text)."""
WINDOW_SUM_COLUMNS = frozenset({"ofi", "mlofi"})
"""Flow columns: reduced by summing over each bucket, never by sampling."""

# Extremes per bucket first (plain min/max, fast), then only the rows that hit one of
# them are ranked to break ties: the struct comparisons touch a handful of rows per bucket.
_M4_SQL = """
WITH samples AS (
    SELECT ts_ns, snapshot_id, {value} AS value, (ts_ns - $start) // $width AS bucket
    FROM {metrics}
    WHERE instrument = $instrument AND ts_ns >= $start AND ts_ns < $end AND {value} IS NOT NULL
), extremes AS (
    SELECT bucket, min(ts_ns) AS t0, max(ts_ns) AS t1, min(value) AS v0, max(value) AS v1
    FROM samples GROUP BY bucket
), candidates AS (
    SELECT s.*, s.ts_ns = e.t0 AS is_first, s.ts_ns = e.t1 AS is_last,
           s.value = e.v0 AS is_min, s.value = e.v1 AS is_max
    FROM samples s JOIN extremes e USING (bucket)
    WHERE s.ts_ns = e.t0 OR s.ts_ns = e.t1 OR s.value = e.v0 OR s.value = e.v1
), picks AS (
    SELECT [min(snapshot_id) FILTER (WHERE is_first),
            max(snapshot_id) FILTER (WHERE is_last),
            arg_min(snapshot_id, (ts_ns, snapshot_id)) FILTER (WHERE is_min),
            arg_min(snapshot_id, (ts_ns, snapshot_id)) FILTER (WHERE is_max)] AS ids
    FROM candidates GROUP BY bucket
)
SELECT ts_ns, snapshot_id, value FROM candidates
WHERE snapshot_id IN (SELECT unnest(ids) FROM picks)
ORDER BY ts_ns, snapshot_id
"""

_RAW_SQL = """
SELECT ts_ns, snapshot_id, {value} AS value
FROM {metrics}
WHERE instrument = $instrument AND ts_ns >= $start AND ts_ns < $end AND {value} IS NOT NULL
ORDER BY ts_ns, snapshot_id
"""


_SUM_SQL = """
SELECT $start + bucket * $width AS ts_ns, sum(value) AS value, count(*) AS snapshots
FROM (
    SELECT {value} AS value, (ts_ns - $start) // $width AS bucket
    FROM {metrics}
    WHERE instrument = $instrument AND ts_ns >= $start AND ts_ns < $end AND {value} IS NOT NULL
)
GROUP BY bucket ORDER BY bucket
"""


def bucket_width_ns(start_ns: int, end_ns: int, buckets: int) -> int:
    """Width of each of ``buckets`` equal buckets covering [start_ns, end_ns), at least 1 ns."""
    return max(1, -(-(end_ns - start_ns) // max(1, buckets)))


def query_series(
    con: duckdb.DuckDBPyConnection,
    metrics: str,
    instrument: str,
    column: str,
    start_ns: int,
    end_ns: int,
    buckets: int | None,
) -> pa.Table:
    """(ts_ns, snapshot_id, value) of one metric, M4-reduced to ``buckets`` buckets
    over [start_ns, end_ns), or every sample when ``buckets`` is None."""
    value = SERIES_EXPRESSIONS[column]
    params: dict[str, object] = {"instrument": instrument, "start": start_ns, "end": end_ns}
    if buckets is None:
        sql = _RAW_SQL.format(metrics=metrics, value=value)
    else:
        sql = _M4_SQL.format(metrics=metrics, value=value)
        params["width"] = bucket_width_ns(start_ns, end_ns, buckets)
    return con.execute(sql, params).to_arrow_table()


def query_window_sums(
    con: duckdb.DuckDBPyConnection,
    metrics: str,
    instrument: str,
    column: str,
    start_ns: int,
    end_ns: int,
    buckets: int,
) -> pa.Table:
    """(ts_ns, value, snapshots): the sum of a flow column (``WINDOW_SUM_COLUMNS``)
    over each of ``buckets`` equal buckets of [start_ns, end_ns), stamped with the
    bucket's start, with the number of non-NULL snapshots summed; buckets without
    any are left out."""
    if column not in WINDOW_SUM_COLUMNS:
        raise ValueError(f"{column!r} is sampled, not summed; use query_series")
    params = {
        "instrument": instrument,
        "start": start_ns,
        "end": end_ns,
        "width": bucket_width_ns(start_ns, end_ns, buckets),
    }
    sql = _SUM_SQL.format(metrics=metrics, value=SERIES_EXPRESSIONS[column])
    return con.execute(sql, params).to_arrow_table()
