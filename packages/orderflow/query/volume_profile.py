"""Volume profile of a time range from trades: volume per price bin, POC and value area.

Per metrics.md: total traded volume per bin ``j = floor(price / tick)`` (read as
decimal arithmetic, as in ``orderflow.query.footprint``); the POC
is the bin with the largest total (the lowest price on a tie); the value area
starts at the POC and repeatedly adds the adjacent bin, above or below, with the
larger volume (the higher price on a tie) until it holds at least 70% of the
range's volume. Adjacent means the next bin index: a bin without trades inside
the traded range is a bin of volume 0, so the value area never skips a gap.

DuckDB sums the bins; the walk over at most a few thousand bins is plain Python
on the summed column (it is sequential by nature and cheap at that size).
"""

from __future__ import annotations

import duckdb
import msgspec
import pyarrow as pa

__all__ = [
    "VALUE_AREA_SHARE",
    "VolumeProfile",
    "profile_of_bins",
    "query_volume_profile",
    "value_area",
]

VALUE_AREA_SHARE = 0.7

# total = buy + sell, as in the footprint, so a range of one candle has the same POC.
_PROFILE_SQL = """
SELECT bin, buy, sell, buy + sell AS total FROM (
    SELECT CAST(floor(price / $tick + least(abs(price / $tick) * 1e-12, 0.25)) AS BIGINT) AS bin,
           coalesce(sum(size) FILTER (WHERE sign = 1), 0.0) AS buy,
           coalesce(sum(size) FILTER (WHERE sign = -1), 0.0) AS sell
    FROM {trades}
    WHERE instrument = $instrument AND ts_ns >= $start AND ts_ns < $end
    GROUP BY 1
)
ORDER BY bin
"""


class VolumeProfile(msgspec.Struct, frozen=True):
    """Volume per bin (ascending ``bins``) of one range, with the POC and value area as
    bin indices; prices are ``bin * tick`` (a bin's lower edge). Empty range: no bins
    and every index None."""

    tick: float
    bins: list[int]
    buy: list[float]
    sell: list[float]
    total: list[float]
    poc: int | None
    value_area_low: int | None
    value_area_high: int | None


def value_area(
    bins: list[int], totals: list[float], share: float = VALUE_AREA_SHARE
) -> tuple[int, int, int] | None:
    """(poc, low, high) bin indices for volumes ``totals`` at ascending ``bins``."""
    if not bins:
        return None
    volume = dict(zip(bins, totals, strict=True))
    poc = min(bins, key=lambda b: (-volume[b], b))
    target = share * sum(totals)
    low = high = poc
    held = volume[poc]
    while held < target and (low > bins[0] or high < bins[-1]):
        above = volume.get(high + 1, 0.0) if high < bins[-1] else None
        below = volume.get(low - 1, 0.0) if low > bins[0] else None
        if below is None or (above is not None and above >= below):
            high += 1
            held += above
        else:
            low -= 1
            held += below
    return poc, low, high


def query_volume_profile(
    con: duckdb.DuckDBPyConnection,
    trades: str,
    instrument: str,
    start_ns: int,
    end_ns: int,
    tick: float,
) -> VolumeProfile:
    """The profile of trades with start_ns <= instant < end_ns at bin width ``tick``."""
    if not tick > 0:
        raise ValueError(f"tick {tick!r} must be positive")
    params = {"tick": float(tick), "instrument": instrument, "start": start_ns, "end": end_ns}
    table: pa.Table = con.execute(_PROFILE_SQL.format(trades=trades), params).to_arrow_table()
    return profile_of_bins(table, tick)


def profile_of_bins(table: pa.Table, tick: float) -> VolumeProfile:
    """The profile of (bin, buy, sell, total) rows in bin order: its POC and value area."""
    bins = table["bin"].to_pylist()
    totals = table["total"].to_pylist()
    area = value_area(bins, totals)
    poc, low, high = area if area is not None else (None, None, None)
    return VolumeProfile(
        tick=float(tick),
        bins=bins,
        buy=table["buy"].to_pylist(),
        sell=table["sell"].to_pylist(),
        total=totals,
        poc=poc,
        value_area_low=low,
        value_area_high=high,
    )
