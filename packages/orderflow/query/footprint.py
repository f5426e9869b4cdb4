"""Footprint (cluster) candles from trades, aggregated by DuckDB, per metrics.md.

A footprint splits each candle's traded volume by price bin and aggressor side,
which is what shows where inside a bar the buying and selling happened. For a
candle of width ``W`` (epoch aligned, as the OHLC candles) and a bin width
``tick``, each cell (candle, bin ``j = floor(price / tick)``) holds buy and sell
volume, ``delta = buy - sell`` and ``total``. The candle's POC is the bin with
the largest total (the lowest price on a tie), and a diagonal imbalance is
marked at bin ``j`` when ``buy(j+1) >= ratio * sell(j)`` (buying) or
``sell(j) >= ratio * buy(j+1)`` (selling), with both sides > 0.

``floor(price / tick)`` is read as decimal arithmetic means, as the depth heatmap
(``orderflow.core.heatmap.price_bins``) reads it: the quotient is nudged up by a
relative 1e-12 (at most a quarter bin) first, so 43250.1 at tick 0.1 lands in bin
432501 although the binary quotient is 432500.99999999994. Heatmap rows and
footprint rows line up.

Only bins holding trades are returned: a bin without trades has zero volume on
both sides, so it can neither be a POC nor take part in an imbalance.

Volumes are float sums, so two bins tie for the POC only when their totals are
bit-for-bit equal (sizes that sum exactly, such as the recordings' decimal
sizes summed in the same order, or any sizes that are multiples of a power of two).
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from orderflow.core.heatmap import tick_from_gap
from orderflow.query.epoch_floor import epoch_floor

__all__ = [
    "DEFAULT_IMBALANCE_RATIO",
    "FOOTPRINT_COLUMNS",
    "infer_tick",
    "nice_bin_width",
    "query_footprint",
]

DEFAULT_IMBALANCE_RATIO = 3.0
"""The spec's default diagonal-imbalance ratio."""
FOOTPRINT_COLUMNS = (
    "ts_ns",
    "bin",
    "buy",
    "sell",
    "delta",
    "total",
    "poc",
    "buy_imbalance",
    "sell_imbalance",
)
_NICE_STEPS = (1, 2, 5)

_FOOTPRINT_SQL = (
    """
WITH cells AS (
    SELECT """
    + epoch_floor("ts_ns", "$window")
    + """ AS ts_ns,
           CAST(floor(price / $tick + least(abs(price / $tick) * 1e-12, 0.25)) AS BIGINT) AS bin,
           coalesce(sum(size) FILTER (WHERE sign = 1), 0.0) AS buy,
           coalesce(sum(size) FILTER (WHERE sign = -1), 0.0) AS sell
    FROM {trades}
    WHERE instrument = $instrument AND ts_ns >= $start AND ts_ns < $end
    GROUP BY 1, 2
), neighbours AS (
    SELECT ts_ns, bin, buy, sell, buy + sell AS total,
           lead(bin) OVER w AS up_bin, lead(buy) OVER w AS up_buy
    FROM cells
    WINDOW w AS (PARTITION BY ts_ns ORDER BY bin)
), ranked AS (
    SELECT *, arg_max(bin, (total, -bin)) OVER (PARTITION BY ts_ns) AS poc_bin
    FROM neighbours
)
SELECT ts_ns, bin, buy, sell, buy - sell AS delta, total, bin = poc_bin AS poc,
       coalesce(up_bin = bin + 1 AND sell > 0 AND up_buy > 0 AND up_buy >= $ratio * sell,
                false) AS buy_imbalance,
       coalesce(up_bin = bin + 1 AND sell > 0 AND up_buy > 0 AND sell >= $ratio * up_buy,
                false) AS sell_imbalance
FROM ranked
ORDER BY ts_ns, bin
"""
)

_TICK_SQL = """
SELECT min(gap), max(price) FROM (
    SELECT price, price - lag(price) OVER (ORDER BY price) AS gap
    FROM (SELECT DISTINCT price FROM {trades} WHERE instrument = $instrument)
)
WHERE gap > 0
"""


def query_footprint(
    con: duckdb.DuckDBPyConnection,
    trades: str,
    instrument: str,
    start_ns: int,
    end_ns: int,
    window_ns: int,
    tick: float,
    ratio: float = DEFAULT_IMBALANCE_RATIO,
) -> pa.Table:
    """Footprint cells (FOOTPRINT_COLUMNS) of trades with start_ns <= instant < end_ns,
    ordered by candle then bin; ``trades`` is our own relation name, never user text."""
    if not tick > 0:
        raise ValueError(f"tick {tick!r} must be positive")
    params = {
        "window": window_ns,
        "tick": float(tick),
        "ratio": float(ratio),
        "instrument": instrument,
        "start": start_ns,
        "end": end_ns,
    }
    return con.execute(_FOOTPRINT_SQL.format(trades=trades), params).to_arrow_table()


def infer_tick(con: duckdb.DuckDBPyConnection, trades: str, instrument: str) -> float | None:
    """The smallest positive difference between distinct trade prices (the spec's inferred
    tick), rounded at the 15th significant digit of the highest price, below which a
    double's difference is noise: 43250.1 - 43250.0 reads as 0.1, not 0.1000000000021828.
    None with fewer than two distinct prices."""
    row = con.execute(_TICK_SQL.format(trades=trades), {"instrument": instrument}).fetchone()
    if row is None or row[0] is None:
        return None
    gap, top = row
    return tick_from_gap(gap, top)


def nice_bin_width(tick: float, price_span: float, rows: int) -> float:
    """The smallest multiple of ``tick`` of the form 1, 2 or 5 x 10^k ticks that splits
    ``price_span`` into at most ``rows`` bins: a footprint or profile drawn at one bin
    per few pixels instead of thousands of one-tick rows."""
    if price_span <= 0 or rows <= 0:
        return tick
    scale = 1
    while True:
        for step in _NICE_STEPS:
            ticks = step * scale
            if price_span / (ticks * tick) <= rows:
                return float(f"{ticks * tick:.12g}")
        scale *= 10
