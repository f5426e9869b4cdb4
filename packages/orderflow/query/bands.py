"""Per-bucket min, max and mean of a metric: the band a bounded oscillator is drawn as.

OBI flips sign from one snapshot to the next, so over thirty minutes or more any
line through its samples (M4 included) fills the panel as a solid block. A band
from each bucket's minimum to its maximum with the mean drawn through it keeps
both the extremes and the drift readable at any range. Buckets are ``width_ns``
wide and epoch aligned, so a bucket's numbers do not depend on where the view
starts, which is what lets the stored aggregates answer for long ranges.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from orderflow.query.epoch_floor import epoch_floor

__all__ = ["BAND_COLUMNS", "BAND_EXPRESSIONS", "query_band"]

BAND_COLUMNS = ("ts_ns", "lo", "hi", "mean", "samples")
BAND_EXPRESSIONS = {"obi": "obi", "cvd": "cvd", "mid": "(best_bid + best_ask) / 2"}
"""Metric values a band can be drawn from (names map to fixed SQL, never user text)."""

_BAND_SQL = (
    """
SELECT """
    + epoch_floor("ts_ns", "$width")
    + """ AS ts_ns, min(v) AS lo, max(v) AS hi, avg(v) AS mean,
       count(*) AS samples
FROM (SELECT ts_ns, {value} AS v FROM {metrics}
      WHERE instrument = $instrument AND ts_ns >= $start AND ts_ns < $end)
WHERE v IS NOT NULL
GROUP BY 1
ORDER BY 1
"""
)


def query_band(
    con: duckdb.DuckDBPyConnection,
    metrics: str,
    instrument: str,
    column: str,
    start_ns: int,
    end_ns: int,
    width_ns: int,
) -> pa.Table:
    """BAND_COLUMNS of ``column`` over [start_ns, end_ns) in epoch-aligned buckets."""
    sql = _BAND_SQL.format(metrics=metrics, value=BAND_EXPRESSIONS[column])
    params = {"width": width_ns, "instrument": instrument, "start": start_ns, "end": end_ns}
    return con.execute(sql, params).to_arrow_table()
