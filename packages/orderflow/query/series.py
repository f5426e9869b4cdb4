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
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

__all__ = ["SERIES_EXPRESSIONS", "bucket_width_ns", "query_series"]

SERIES_EXPRESSIONS = {
    "obi": "obi",
    "cvd": "cvd",
    "best_bid": "best_bid",
    "best_ask": "best_ask",
    "mid": "(best_bid + best_ask) / 2",
}
"""The metric values a series can be drawn from (names map to fixed SQL, never user text)."""

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
