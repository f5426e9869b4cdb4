"""Multi-resolution aggregates: candles, order flow and metric bands at a ladder of widths.

A month of 100 ms snapshots is 26M rows; no chart needs them at once. The
Dataset keeps, beside its copy of the trades and metrics, their aggregates at
the ladder ``BASES_NS`` (1 s, 1 min, 1 h), epoch aligned:

- ``agg_candles``: OHLC, buy/sell volume and trade count per base window;
- ``agg_metrics``: per base window, OFI and MLOFI sums, the OBI band (min, max,
  sum, count) and, for CVD and mid, the first, last, min and max with the
  first and last instants;
- ``agg_book``: the same four values and two instants for the best bid and ask;
- hourly volume per price and largest trades (``orderflow.query.trade_aggregates``),
  for the volume profile and the trade bubbles.

A question about a window that is a multiple of a base reads the largest such
base (at most range / base rows) instead of the fine rows: a 10-day chart at
1 h candles reads 240 rows, not 7M trades. Coarse values are exact
combinations of the base rows (open of the first, close of the last, extremes,
sums), so only float sums may differ from the fine path in the last bits.

The ladder is rebuilt from a given instant on after new rows arrive (the
buckets from the first new row's instant), so following a writing
coordinator costs what the new rows cost.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from orderflow.query.epoch_floor import epoch_floor
from orderflow.query.trade_aggregates import fill_trade_aggregates

__all__ = [
    "BASES_NS",
    "BOOK_COLUMNS",
    "POINT_COLUMNS",
    "add_missing_aggregates",
    "base_for",
    "fill_book_aggregates",
    "nice_width_ns",
    "query_agg_band",
    "query_agg_candle_flow",
    "query_agg_candles",
    "query_agg_points",
    "refresh_aggregates",
]

NS_PER_MS = 1_000_000
BASES_NS = (1_000 * NS_PER_MS, 60_000 * NS_PER_MS, 3_600_000 * NS_PER_MS)
"""The ladder of stored bucket widths: 1 s, 1 min, 1 h."""
_NICE_MS = (
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000,
    120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000,
    21_600_000, 43_200_000, 86_400_000,
)  # fmt: skip

_CANDLES_DDL = """
CREATE {create} IF NOT EXISTS agg_candles (
    width BIGINT, instrument VARCHAR, ts_ns BIGINT, open DOUBLE, high DOUBLE, low DOUBLE,
    close DOUBLE, buy_volume DOUBLE, sell_volume DOUBLE, trades BIGINT
)
"""
_METRICS_DDL = """
CREATE {create} IF NOT EXISTS agg_metrics (
    width BIGINT, instrument VARCHAR, ts_ns BIGINT,
    ofi DOUBLE, mlofi DOUBLE, ofi_steps BIGINT,
    obi_lo DOUBLE, obi_hi DOUBLE, obi_sum DOUBLE, obi_n BIGINT,
    cvd_lo DOUBLE, cvd_hi DOUBLE, cvd_first DOUBLE, cvd_last DOUBLE,
    cvd_t0 BIGINT, cvd_t1 BIGINT,
    mid_lo DOUBLE, mid_hi DOUBLE, mid_first DOUBLE, mid_last DOUBLE,
    mid_t0 BIGINT, mid_t1 BIGINT
)
"""
_CANDLES_FILL = (
    """
INSERT INTO agg_candles
SELECT $width, instrument, """
    + epoch_floor("ts_ns", "$width")
    + """ AS bucket,
       arg_min(price, (ts_ns, id)), max(price), min(price), arg_max(price, (ts_ns, id)),
       coalesce(sum(size) FILTER (WHERE sign = 1), 0.0),
       coalesce(sum(size) FILTER (WHERE sign = -1), 0.0), count(*)
FROM trades WHERE ts_ns >= $since AND ($instrument IS NULL OR instrument = $instrument)
GROUP BY instrument, bucket
"""
)
_METRICS_FILL = (
    """
INSERT INTO agg_metrics
SELECT $width, instrument, """
    + epoch_floor("ts_ns", "$width")
    + """ AS bucket,
       sum(ofi), sum(mlofi), count(ofi),
       min(obi), max(obi), sum(obi), count(obi),
       min(cvd), max(cvd), arg_min(cvd, ts_ns) FILTER (WHERE cvd IS NOT NULL),
       arg_max(cvd, ts_ns) FILTER (WHERE cvd IS NOT NULL),
       min(ts_ns) FILTER (WHERE cvd IS NOT NULL), max(ts_ns) FILTER (WHERE cvd IS NOT NULL),
       min(mid), max(mid), arg_min(mid, ts_ns) FILTER (WHERE mid IS NOT NULL),
       arg_max(mid, ts_ns) FILTER (WHERE mid IS NOT NULL),
       min(ts_ns) FILTER (WHERE mid IS NOT NULL), max(ts_ns) FILTER (WHERE mid IS NOT NULL)
FROM (SELECT *, (best_bid + best_ask) / 2 AS mid FROM metrics)
WHERE ts_ns >= $since AND ($instrument IS NULL OR instrument = $instrument)
GROUP BY instrument, bucket
"""
)


# Coarser bases are combined from the finest one (86,400 rows a day, not every row).
_CANDLES_COMBINE = (
    """
INSERT INTO agg_candles
SELECT $width, instrument, """
    + epoch_floor("ts_ns", "$width")
    + """ AS bucket, arg_min(open, ts_ns),
       max(high), min(low), arg_max(close, ts_ns), sum(buy_volume), sum(sell_volume),
       sum(trades)
FROM agg_candles
WHERE width = $fine AND ts_ns >= $since AND ($instrument IS NULL OR instrument = $instrument)
GROUP BY instrument, bucket
"""
)
_METRICS_COMBINE = (
    """
INSERT INTO agg_metrics
SELECT $width, instrument, """
    + epoch_floor("ts_ns", "$width")
    + """ AS bucket,
       sum(ofi), sum(mlofi), sum(ofi_steps),
       min(obi_lo), max(obi_hi), sum(obi_sum), sum(obi_n),
       min(cvd_lo), max(cvd_hi), arg_min(cvd_first, cvd_t0), arg_max(cvd_last, cvd_t1),
       min(cvd_t0), max(cvd_t1),
       min(mid_lo), max(mid_hi), arg_min(mid_first, mid_t0), arg_max(mid_last, mid_t1),
       min(mid_t0), max(mid_t1)
FROM agg_metrics
WHERE width = $fine AND ts_ns >= $since AND ($instrument IS NULL OR instrument = $instrument)
GROUP BY instrument, bucket
"""
)


# The book lines (best bid and ask) as M4 material, like mid: first, last, extremes.
BOOK_COLUMNS = ("best_bid", "best_ask")
_BOOK_DDL = (
    "CREATE {create} IF NOT EXISTS agg_book (width BIGINT, instrument VARCHAR, ts_ns BIGINT, "
    + ", ".join(
        f"{c}_lo DOUBLE, {c}_hi DOUBLE, {c}_first DOUBLE, {c}_last DOUBLE, "
        f"{c}_t0 BIGINT, {c}_t1 BIGINT"
        for c in BOOK_COLUMNS
    )
    + ")"
)
_BOOK_FILL = (
    "INSERT INTO agg_book SELECT $width, instrument, "
    + epoch_floor("ts_ns", "$width")
    + " AS bucket, "
    + ", ".join(
        f"min({c}), max({c}), arg_min({c}, ts_ns) FILTER (WHERE {c} IS NOT NULL), "
        f"arg_max({c}, ts_ns) FILTER (WHERE {c} IS NOT NULL), "
        f"min(ts_ns) FILTER (WHERE {c} IS NOT NULL), max(ts_ns) FILTER (WHERE {c} IS NOT NULL)"
        for c in BOOK_COLUMNS
    )
    + " FROM metrics WHERE ts_ns >= $since AND ($instrument IS NULL OR instrument = $instrument)"
    " GROUP BY instrument, bucket"
)
_BOOK_COMBINE = (
    "INSERT INTO agg_book SELECT $width, instrument, "
    + epoch_floor("ts_ns", "$width")
    + " AS bucket, "
    + ", ".join(
        f"min({c}_lo), max({c}_hi), arg_min({c}_first, {c}_t0), arg_max({c}_last, {c}_t1), "
        f"min({c}_t0), max({c}_t1)"
        for c in BOOK_COLUMNS
    )
    + " FROM agg_book WHERE width = $fine AND ts_ns >= $since"
    " AND ($instrument IS NULL OR instrument = $instrument) GROUP BY instrument, bucket"
)


def fill_book_aggregates(
    con: duckdb.DuckDBPyConnection, temporary: bool, since: int, instrument: str | None
) -> None:
    """(Re)build ``agg_book`` from ``since`` (a multiple of the largest base) on, for
    ``instrument`` or all; creates it when missing."""
    con.execute(_BOOK_DDL.format(create="TEMP TABLE" if temporary else "TABLE"))
    con.execute(
        "DELETE FROM agg_book WHERE ts_ns >= $s AND ($i IS NULL OR instrument = $i)",
        {"s": since, "i": instrument},
    )
    fine, *coarse = BASES_NS
    con.execute(_BOOK_FILL, {"width": fine, "since": since, "instrument": instrument})
    for width in coarse:
        params = {"width": width, "fine": fine, "since": since, "instrument": instrument}
        con.execute(_BOOK_COMBINE, params)


def add_missing_aggregates(con: duckdb.DuckDBPyConnection) -> None:
    """Build, once, the aggregate tables a store kept by an earlier version lacks."""
    have = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
        ).fetchall()
    }
    if "agg_top_trades" not in have:
        fill_trade_aggregates(con, False, -(2**62), None)
    if "agg_book" not in have:
        fill_book_aggregates(con, False, -(2**62), None)


def _fill(con: duckdb.DuckDBPyConnection, table: str, since: int, instrument: str | None) -> None:
    """Insert every base's rows from ``since`` (a multiple of the largest base) on."""
    fine, *coarse = BASES_NS
    fill = _CANDLES_FILL if table == "trades" else _METRICS_FILL
    combine = _CANDLES_COMBINE if table == "trades" else _METRICS_COMBINE
    con.execute(fill, {"width": fine, "since": since, "instrument": instrument})
    for width in coarse:
        params = {"width": width, "fine": fine, "since": since, "instrument": instrument}
        con.execute(combine, params)


def refresh_aggregates(
    con: duckdb.DuckDBPyConnection,
    temporary: bool,
    since: dict[str, int] | None,
    tables: tuple[str, ...] = ("trades", "metrics"),
) -> None:
    """Rebuild the ladder of ``tables``' aggregates (TEMP tables when ``temporary``):
    everything when ``since`` is None, else per instrument the buckets from
    ``since[instrument]`` on."""
    create = "TEMP TABLE" if temporary else "TABLE"
    con.execute(_CANDLES_DDL.format(create=create))
    con.execute(_METRICS_DDL.format(create=create))
    for table in tables:
        agg = "agg_candles" if table == "trades" else "agg_metrics"
        if since is None:
            con.execute(f"DELETE FROM {agg}")
            _fill(con, table, -(2**62), None)
            if table == "trades":
                fill_trade_aggregates(con, temporary, -(2**62), None)
            else:
                fill_book_aggregates(con, temporary, -(2**62), None)
            continue
        for instrument, first_ns in since.items():
            start = first_ns // BASES_NS[-1] * BASES_NS[-1]  # whole buckets of every base
            con.execute(
                f"DELETE FROM {agg} WHERE instrument = $i AND ts_ns >= $s",
                {"i": instrument, "s": start},
            )
            _fill(con, table, start, instrument)
            if table == "trades":
                fill_trade_aggregates(con, temporary, start, instrument)
            else:
                fill_book_aggregates(con, temporary, start, instrument)


POINT_COLUMNS = ("cvd", "mid", *BOOK_COLUMNS)
"""The columns ``query_agg_points`` draws from the aggregates."""


def base_for(width_ns: int) -> int | None:
    """The largest stored base that divides ``width_ns``; None below 1 s or off the grid."""
    fitting = [b for b in BASES_NS if b <= width_ns and width_ns % b == 0]
    return max(fitting) if fitting else None


def nice_width_ns(span_ns: int, buckets: int) -> int:
    """The smallest 1-2-5 style width (1 ms .. 1 d, then whole days) giving at most
    ``buckets`` buckets over ``span_ns``: bucket edges that the ladder can answer."""
    needed = max(1, -(-span_ns // max(1, buckets)))
    for ms in _NICE_MS:
        if ms * NS_PER_MS >= needed:
            return ms * NS_PER_MS
    day = 86_400_000 * NS_PER_MS
    return -(-needed // day) * day


_RANGE = "width = $base AND instrument = $instrument AND ts_ns >= $start AND ts_ns < $end"


def _params(instrument: str, start: int, end: int, width: int, base: int) -> dict:
    # base buckets that intersect [start, end): from the one holding start
    return {
        "width": width,
        "base": base,
        "instrument": instrument,
        "start": start // base * base,
        "end": end,
    }


def query_agg_candles(
    con: duckdb.DuckDBPyConnection, instrument: str, start: int, end: int, window: int, base: int
) -> pa.Table:
    """Candles of ``window`` combined from the ``base`` rows (whole base windows)."""
    sql = f"""
    SELECT {epoch_floor("ts_ns", "$width")} AS ts_ns, arg_min(open, ts_ns) AS open,
           max(high) AS high, min(low) AS low, arg_max(close, ts_ns) AS close,
           sum(buy_volume) AS buy_volume, sum(sell_volume) AS sell_volume,
           CAST(sum(trades) AS BIGINT) AS trades
    FROM agg_candles WHERE {_RANGE} GROUP BY 1 ORDER BY 1
    """
    return con.execute(sql, _params(instrument, start, end, window, base)).to_arrow_table()


def query_agg_candle_flow(
    con: duckdb.DuckDBPyConnection, instrument: str, start: int, end: int, window: int, base: int
) -> pa.Table:
    """OFI and MLOFI sums per ``window`` from the ``base`` rows."""
    sql = f"""
    SELECT {epoch_floor("ts_ns", "$width")} AS ts_ns, sum(ofi) AS ofi, sum(mlofi) AS mlofi,
           CAST(sum(ofi_steps) AS BIGINT) AS snapshots
    FROM agg_metrics WHERE {_RANGE} AND ofi_steps > 0 GROUP BY 1 ORDER BY 1
    """
    return con.execute(sql, _params(instrument, start, end, window, base)).to_arrow_table()


def query_agg_band(
    con: duckdb.DuckDBPyConnection, instrument: str, start: int, end: int, width: int, base: int
) -> pa.Table:
    """The OBI band (ts_ns, lo, hi, mean, samples) per ``width`` from the ``base`` rows."""
    sql = f"""
    SELECT {epoch_floor("ts_ns", "$width")} AS ts_ns, min(obi_lo) AS lo, max(obi_hi) AS hi,
           sum(obi_sum) / sum(obi_n) AS mean,
           CAST(sum(obi_n) AS BIGINT) AS samples
    FROM agg_metrics WHERE {_RANGE} AND obi_n > 0 GROUP BY 1 ORDER BY 1
    """
    return con.execute(sql, _params(instrument, start, end, width, base)).to_arrow_table()


def query_agg_points(
    con: duckdb.DuckDBPyConnection,
    instrument: str,
    column: str,
    start: int,
    end: int,
    width: int,
    base: int,
) -> pa.Table:
    """M4 from aggregates: per ``width`` bucket of ``column`` (``cvd``, ``mid``,
    ``best_bid`` or ``best_ask``) the first and last sample at their instants and the
    min and max between them, as (ts_ns, value) rows; at one bucket per pixel column
    this draws what M4 draws."""
    if column not in POINT_COLUMNS:
        raise ValueError(f"no aggregate points for {column!r}")
    c = column
    table = "agg_book" if column in BOOK_COLUMNS else "agg_metrics"
    sql = f"""
    WITH b AS (
        SELECT {epoch_floor("ts_ns", "$width")} AS bucket, min({c}_t0) AS t0, max({c}_t1) AS t1,
               arg_min({c}_first, {c}_t0) AS first, arg_max({c}_last, {c}_t1) AS last,
               min({c}_lo) AS lo, max({c}_hi) AS hi
        FROM {table} WHERE {_RANGE} AND {c}_t0 IS NOT NULL GROUP BY 1
    )
    SELECT ts_ns, value FROM (
        SELECT t0 AS ts_ns, 0 AS k, first AS value FROM b
        UNION ALL SELECT t0 + (t1 - t0) // 3, 1, CASE WHEN first <= last THEN lo ELSE hi END
            FROM b WHERE t1 > t0
        UNION ALL SELECT t0 + 2 * (t1 - t0) // 3, 2, CASE WHEN first <= last THEN hi ELSE lo END
            FROM b WHERE t1 > t0
        UNION ALL SELECT t1, 3, last FROM b WHERE t1 > t0
    ) ORDER BY ts_ns, k
    """
    return con.execute(sql, _params(instrument, start, end, width, base)).to_arrow_table()
