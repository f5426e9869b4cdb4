"""OHLC candles with buy and sell volume, aggregated by DuckDB from valid trades.

Candles are aligned to the Unix epoch (a 60 s candle starts on a whole minute,
UTC) so the same window gives the same candles whatever range is asked for;
that is what lets the dashboard re-query a zoomed range and have its candles
line up with the overview's. Open and close are the first and last trade by
(instant, trade row id), the order the metrics use.
"""

from __future__ import annotations

import re

import duckdb
import pyarrow as pa

from orderflow.query.epoch_floor import epoch_floor

__all__ = ["CANDLE_COLUMNS", "WINDOW_CHOICES_S", "parse_window", "query_candles"]

NS_PER_S = 1_000_000_000
CANDLE_COLUMNS = ("ts_ns", "open", "high", "low", "close", "buy_volume", "sell_volume", "trades")
WINDOW_CHOICES_S = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86_400)
"""The dashboard's candle-window menu, seconds (1 s to 1 day)."""

_UNITS_NS = {
    "ms": 1_000_000,
    "s": NS_PER_S,
    "m": 60 * NS_PER_S,
    "min": 60 * NS_PER_S,
    "h": 3600 * NS_PER_S,
    "d": 86_400 * NS_PER_S,
}
_WINDOW = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)\s*")

_CANDLES_SQL = (
    """
SELECT """
    + epoch_floor("ts_ns", "$window")
    + """ AS ts_ns,
       arg_min(price, (ts_ns, id)) AS open,
       max(price) AS high,
       min(price) AS low,
       arg_max(price, (ts_ns, id)) AS close,
       coalesce(sum(size) FILTER (WHERE sign = 1), 0.0) AS buy_volume,
       coalesce(sum(size) FILTER (WHERE sign = -1), 0.0) AS sell_volume,
       count(*) AS trades
FROM {trades}
WHERE instrument = $instrument AND ts_ns >= $start AND ts_ns < $end
GROUP BY 1
ORDER BY 1
"""
)


def parse_window(window: str | float) -> int:
    """Candle window in ns from ``"60s"``, ``"500ms"``, ``"5m"``, ``"1h"``, ``"1d"`` or seconds."""
    if isinstance(window, int | float) and not isinstance(window, bool):
        ns = round(float(window) * NS_PER_S)
    else:
        match = _WINDOW.fullmatch(str(window))
        if not match:
            raise ValueError(f"window {window!r}: expected e.g. '60s', '500ms', '5m', '1h', '1d'")
        ns = round(float(match.group(1)) * _UNITS_NS[match.group(2)])
    if ns <= 0:
        raise ValueError(f"window {window!r} must be positive")
    return ns


def query_candles(
    con: duckdb.DuckDBPyConnection,
    trades: str,
    instrument: str,
    start_ns: int,
    end_ns: int,
    window_ns: int,
) -> pa.Table:
    """Candles for trades with start_ns <= instant < end_ns; ``trades`` is our own relation name."""
    sql = _CANDLES_SQL.format(trades=trades)
    params = {"window": window_ns, "instrument": instrument, "start": start_ns, "end": end_ns}
    return con.execute(sql, params).to_arrow_table()
