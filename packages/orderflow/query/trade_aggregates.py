"""Hourly trade aggregates: traded volume per price, and the largest trades.

The volume profile and the largest-trade bubbles of a view were the two questions
that read every trade in range: a day of one instrument is about 375,000 trades,
and a timeline of ten days read (and kept in DuckDB's cache) all of them. Per
hour bucket (epoch aligned) the copy also keeps:

- ``agg_price_volume``: buy and sell volume per exact price;
- ``agg_top_trades``: the ``TOP_TRADES`` largest trades (size descending, then
  instant and id, the order of the fine query).

A range is then answered from the whole hours inside it plus the trades of the
partial hours at its two ends, with the fine query's result: a price falls in
the same bin whichever rows it comes from (the bin is computed from the price at
query time), and the largest ``n`` trades of a range of at least some size are
among the largest ``TOP_TRADES`` of their hours when ``n <= TOP_TRADES``. Only
float sums may differ from the fine path in the last bits, as in
``orderflow.query.aggregates``.

They follow the same protocol as the other aggregates: rebuilt from the hour of
the first new trade on.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from orderflow.query.epoch_floor import epoch_floor

__all__ = [
    "HOUR_NS",
    "TOP_TRADES",
    "fill_trade_aggregates",
    "query_profile_bins",
    "query_top_trades",
    "whole_hours",
]

HOUR_NS = 3_600_000_000_000
TOP_TRADES = 400
"""Largest trades kept per hour: at least the dashboard's bubble limit."""

_DDL = (
    "CREATE {create} IF NOT EXISTS agg_price_volume ("
    "instrument VARCHAR, ts_ns BIGINT, price DOUBLE, buy DOUBLE, sell DOUBLE)",
    "CREATE {create} IF NOT EXISTS agg_top_trades ("
    "instrument VARCHAR, bucket BIGINT, ts_ns BIGINT, id BIGINT, price DOUBLE, size DOUBLE, "
    "sign INTEGER)",
)
_FILL = (
    """
    INSERT INTO agg_price_volume
    SELECT instrument, """
    + epoch_floor("ts_ns", "$hour")
    + """ AS bucket, price,
           coalesce(sum(size) FILTER (WHERE sign = 1), 0.0),
           coalesce(sum(size) FILTER (WHERE sign = -1), 0.0)
    FROM trades WHERE ts_ns >= $since AND ($instrument IS NULL OR instrument = $instrument)
    GROUP BY instrument, bucket, price ORDER BY instrument, bucket, price
    """,
    """
    INSERT INTO agg_top_trades
    SELECT instrument, bucket, ts_ns, id, price, size, sign FROM (
        SELECT instrument, """
    + epoch_floor("ts_ns", "$hour")
    + """ AS bucket, ts_ns, id, price, size, sign,
               row_number() OVER (PARTITION BY instrument, bucket
                                  ORDER BY size DESC, ts_ns, id) AS rank
        FROM trades WHERE ts_ns >= $since AND ($instrument IS NULL OR instrument = $instrument)
    ) WHERE rank <= $top ORDER BY instrument, bucket, ts_ns
    """,
)


def fill_trade_aggregates(
    con: duckdb.DuckDBPyConnection, temporary: bool, since: int, instrument: str | None
) -> None:
    """(Re)build both tables from ``since`` (a whole hour) on, for ``instrument`` or all;
    creates them when missing."""
    create = "TEMP TABLE" if temporary else "TABLE"
    for ddl in _DDL:
        con.execute(ddl.format(create=create))
    for table, column in (("agg_price_volume", "ts_ns"), ("agg_top_trades", "bucket")):
        con.execute(
            f"DELETE FROM {table} WHERE {column} >= $s AND ($i IS NULL OR instrument = $i)",
            {"s": since, "i": instrument},
        )
    params = {"hour": HOUR_NS, "since": since, "instrument": instrument, "top": TOP_TRADES}
    con.execute(_FILL[0], {k: v for k, v in params.items() if k != "top"})
    con.execute(_FILL[1], params)


def whole_hours(start_ns: int, end_ns: int) -> tuple[int, int] | None:
    """[first, last) of the whole hour buckets inside [start_ns, end_ns), or None."""
    first = -(-start_ns // HOUR_NS) * HOUR_NS
    last = end_ns // HOUR_NS * HOUR_NS
    return (first, last) if last > first else None


_EDGE_TRADES = (
    "(SELECT * FROM trades WHERE instrument = $instrument AND ts_ns >= $start AND ts_ns < $first"
    " UNION ALL SELECT * FROM trades WHERE instrument = $instrument AND ts_ns >= $last"
    " AND ts_ns < $end)"
)
"""The trades of the partial hours at the two ends: two range scans (DuckDB skips row
groups by a range, not by an OR of two)."""
_PROFILE = f"""
SELECT bin, buy, sell, buy + sell AS total FROM (
    SELECT CAST(floor(price / $tick + least(abs(price / $tick) * 1e-12, 0.25)) AS BIGINT) AS bin,
           sum(buy) AS buy, sum(sell) AS sell
    FROM (
        SELECT price, buy, sell FROM agg_price_volume
        WHERE instrument = $instrument AND ts_ns >= $first AND ts_ns < $last
        UNION ALL
        SELECT price, CASE WHEN sign = 1 THEN size ELSE 0.0 END,
               CASE WHEN sign = -1 THEN size ELSE 0.0 END
        FROM {_EDGE_TRADES}
    )
    GROUP BY 1
)
ORDER BY bin
"""


def query_profile_bins(
    con: duckdb.DuckDBPyConnection,
    instrument: str,
    start_ns: int,
    end_ns: int,
    hours: tuple[int, int],
    tick: float,
) -> pa.Table:
    """(bin, buy, sell, total) per bin of width ``tick``, as ``orderflow.query.
    volume_profile`` bins the trades, from the hours' price volumes and the edge trades."""
    params = {"tick": float(tick), "instrument": instrument, "start": start_ns, "end": end_ns}
    params.update(first=hours[0], last=hours[1])
    return con.execute(_PROFILE, params).to_arrow_table()


def query_top_trades(
    con: duckdb.DuckDBPyConnection,
    instrument: str,
    start_ns: int,
    end_ns: int,
    hours: tuple[int, int],
    min_size: float,
    limit: int,
) -> pa.Table:
    """(ts_ns, price, size, sign) of the ``limit`` (at most ``TOP_TRADES``) largest trades
    of at least ``min_size`` in range, in time order, from the hours' kept trades and
    the edge trades."""
    if limit > TOP_TRADES:
        raise ValueError(f"at most {TOP_TRADES} trades are kept per hour, not {limit}")
    return con.execute(
        "SELECT ts_ns, price, size, sign FROM (SELECT ts_ns, id, price, size, sign FROM ("
        "SELECT ts_ns, id, price, size, sign FROM agg_top_trades WHERE instrument = $instrument"
        " AND bucket >= $first AND bucket < $last AND size >= $m "
        f"UNION ALL SELECT ts_ns, id, price, size, sign FROM {_EDGE_TRADES} WHERE size >= $m"
        ") ORDER BY size DESC, ts_ns, id LIMIT $n) ORDER BY ts_ns, id",
        {
            "instrument": instrument,
            "start": start_ns,
            "end": end_ns,
            "first": hours[0],
            "last": hours[1],
            "m": min_size,
            "n": limit,
        },
    ).to_arrow_table()
