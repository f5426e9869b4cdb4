"""OFI and multi-level OFI summed per candle, aligned with the candles.

OFI is a flow: one snapshot's value is the change of queue sizes since the
previous one, so what a candle says is their sum over its window (Cont,
Kukanov & Stoikov regress price changes on exactly that sum). Windows are
epoch aligned like ``orderflow.query.candles``, so a candle and its OFI bar
cover the same instants. NULL steps (an instrument's first snapshot, a side
missing) add nothing; ``snapshots`` counts the steps summed.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from orderflow.query.epoch_floor import epoch_floor

__all__ = ["CANDLE_FLOW_COLUMNS", "query_candle_flow"]

CANDLE_FLOW_COLUMNS = ("ts_ns", "ofi", "mlofi", "snapshots")

_SQL = (
    """
SELECT """
    + epoch_floor("ts_ns", "$window")
    + """ AS ts_ns, sum(ofi) AS ofi, sum(mlofi) AS mlofi,
       count(ofi) AS snapshots
FROM {metrics}
WHERE instrument = $instrument AND ts_ns >= $start AND ts_ns < $end AND ofi IS NOT NULL
GROUP BY 1
ORDER BY 1
"""
)


def query_candle_flow(
    con: duckdb.DuckDBPyConnection,
    metrics: str,
    instrument: str,
    start_ns: int,
    end_ns: int,
    window_ns: int,
) -> pa.Table:
    """CANDLE_FLOW_COLUMNS per epoch-aligned window over [start_ns, end_ns)."""
    params = {"window": window_ns, "instrument": instrument, "start": start_ns, "end": end_ns}
    return con.execute(_SQL.format(metrics=metrics), params).to_arrow_table()
