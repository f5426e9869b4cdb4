"""Epoch-aligned buckets in DuckDB SQL, for instants before 1970 too.

Candles, footprints, hourly aggregates and heatmap columns group instants into
``[k*w, (k+1)*w)``, ``k = floor(ts / w)``, as the Python side does with ``//``.
DuckDB's integer ``//`` truncates toward zero instead, so an instant before 1970
(a negative count of ns, which the timestamp rule accepts back to 1677) landed in
the bucket after its own: a trade at 1969-12-31T23:30 in the candle starting at
1970-01-01T00:00, and in a volume profile of that hour. These expressions floor.
"""

from __future__ import annotations

__all__ = ["epoch_floor", "floor_div"]

_NEAR_INT64_MIN = "-9223372036854775807"


def floor_div(value: str, divisor: str) -> str:
    """SQL for ``floor(value / divisor)`` of integers (``divisor`` > 0); ``-1 - value``
    is >= 0 for any negative BIGINT, so nothing overflows."""
    return (
        f"(CASE WHEN {value} >= 0 THEN ({value}) // {divisor}"
        f" ELSE -((-1 - ({value})) // {divisor}) - 1 END)"
    )


def epoch_floor(ts: str, width: str) -> str:
    """SQL for ``floor(ts / width) * width``: the start of the bucket holding ``ts``.

    Within ``width`` of the smallest BIGINT (1677-09-21) that start is no BIGINT;
    there the bucket keeps the truncated start rather than stop the query."""
    return (
        f"(CASE WHEN {ts} >= {_NEAR_INT64_MIN} + {width}"
        f" THEN {ts} - ({ts} % {width} + {width}) % {width}"
        f" ELSE ({ts} // {width}) * {width} END)"
    )
