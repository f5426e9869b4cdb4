"""The timestamp rule of ``orderflow.core.timestamps`` as DuckDB SQL macros.

Trades carry only their raw ``timestamp`` text, so candles need the parsed
instant computed inside DuckDB; doing it in Python would move every trade
through the interpreter. The macros reproduce ``parse_instant_ns`` exactly
(tests compare them on a mixed sample):

- the raw text all ASCII digits: an integer epoch, unit told by magnitude
  (below 1e11 seconds, 1e14 milliseconds, 1e17 microseconds, else ns);
- the stripped text ``digits.digits``: the same, with the fraction truncated
  to whole nanoseconds;
- ISO-8601 with ``Z``, an offset or nothing (UTC), ``T`` or space.

Anything else, or an instant beyond the int64 range, is NULL: the row is a
reject and takes no part in any aggregate.
"""

from __future__ import annotations

import duckdb

__all__ = ["TRADE_SIGN_MACRO", "install_macros"]

_ISO_PATTERN = (
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?)?"
    r"(Z|z|[+-][0-9]{2}(?::?[0-9]{2})?)?$"
)

# Integer epoch (as HUGEINT, so 20-digit inputs cannot overflow) scaled to ns by magnitude;
# ``frac`` is the fraction's digits ('' for none), truncated like the Python reference.
_EPOCH_MACRO = """
CREATE OR REPLACE TEMP MACRO epoch_digits(whole) AS (
    CASE WHEN whole < 100000000000 THEN 9
         WHEN whole < 100000000000000 THEN 6
         WHEN whole < 100000000000000000 THEN 3
         ELSE 0 END
);
CREATE OR REPLACE TEMP MACRO of_epoch_ns(whole, frac) AS (
    TRY_CAST(
        whole * CAST(10 ** epoch_digits(whole) AS HUGEINT)
        + CASE WHEN epoch_digits(whole) = 0 OR frac = '' THEN 0
               ELSE TRY_CAST(rpad(left(frac, epoch_digits(whole)), epoch_digits(whole), '0')
                             AS HUGEINT) END
        AS BIGINT)
)
"""

# Plain expressions (no subqueries) so DuckDB evaluates them vectorised; ``g`` is the
# struct of regex groups, computed once per row by ``of_iso_ns``.
_ISO_MACRO = f"""
CREATE OR REPLACE TEMP MACRO iso_zone_s(z) AS (
    CASE WHEN z IN ('', 'Z', 'z') THEN 0
         ELSE (CASE WHEN left(z, 1) = '-' THEN -1 ELSE 1 END)
              * (TRY_CAST(substr(z, 2, 2) AS INTEGER) * 3600
                 + CASE WHEN length(z) > 3 THEN TRY_CAST(right(z, 2) AS INTEGER) * 60 ELSE 0 END)
    END
);
CREATE OR REPLACE TEMP MACRO iso_field(x) AS (TRY_CAST(coalesce(nullif(x, ''), '0') AS INTEGER));
CREATE OR REPLACE TEMP MACRO iso_parts_ns(g) AS (
    CASE WHEN TRY_CAST(g.y AS INTEGER) >= 1
              AND TRY_CAST(g.y || '-' || g.mo || '-' || g.d AS DATE) IS NOT NULL
              AND iso_field(g.h) <= 23 AND iso_field(g.mi) <= 59 AND iso_field(g.s) <= 59
              AND (g.z IN ('', 'Z', 'z') OR (TRY_CAST(substr(g.z, 2, 2) AS INTEGER) <= 23
                   AND (length(g.z) <= 3 OR TRY_CAST(right(g.z, 2) AS INTEGER) <= 59)))
    THEN TRY_CAST(
        ((CAST(date_diff('day', DATE '1970-01-01',
                         TRY_CAST(g.y || '-' || g.mo || '-' || g.d AS DATE)) AS HUGEINT) * 24
           + iso_field(g.h)) * 60 + iso_field(g.mi)) * 60 + iso_field(g.s) - iso_zone_s(g.z)
        AS HUGEINT) * 1000000000
        + CASE WHEN g.f = '' THEN 0 ELSE TRY_CAST(rpad(left(g.f, 9), 9, '0') AS BIGINT) END
    END
);
CREATE OR REPLACE TEMP MACRO of_iso_ns(text) AS (
    iso_parts_ns(regexp_extract(text, '{_ISO_PATTERN}',
                                ['y', 'mo', 'd', 'h', 'mi', 's', 'f', 'z']))
)
"""

_INSTANT_MACRO = r"""
CREATE OR REPLACE TEMP MACRO instant_ns(raw) AS (
    CASE
        WHEN raw IS NULL THEN NULL
        WHEN regexp_full_match(raw, '[0-9]+') THEN of_epoch_ns(TRY_CAST(raw AS HUGEINT), '')
        WHEN regexp_full_match(regexp_replace(raw, '^\s+|\s+$', '', 'g'), '[0-9]+\.[0-9]+')
            THEN of_epoch_ns(
                TRY_CAST(split_part(regexp_replace(raw, '^\s+|\s+$', '', 'g'), '.', 1) AS HUGEINT),
                split_part(regexp_replace(raw, '^\s+|\s+$', '', 'g'), '.', 2))
        ELSE TRY_CAST(of_iso_ns(regexp_replace(raw, '^\s+|\s+$', '', 'g')) AS BIGINT)
    END
)
"""

# +1 buy, -1 sell (any case), NULL otherwise; the candle queries drop NULL-signed trades.
TRADE_SIGN_MACRO = """
CREATE OR REPLACE TEMP MACRO trade_sign(side) AS (
    CASE lower(side) WHEN 'buy' THEN 1 WHEN 'sell' THEN -1 END
)
"""

# A finite number >= 0, from a REAL column or (in the all-VARCHAR fallback) numeric text.
_AMOUNT_MACRO = """
CREATE OR REPLACE TEMP MACRO valid_amount(x) AS (
    CASE WHEN isfinite(TRY_CAST(x AS DOUBLE)) AND TRY_CAST(x AS DOUBLE) >= 0
         THEN TRY_CAST(x AS DOUBLE) END
)
"""


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Define ``instant_ns(text)``, ``trade_sign(side)``, ``valid_amount(x)`` on ``con``."""
    for script in (_EPOCH_MACRO, _ISO_MACRO, _INSTANT_MACRO, TRADE_SIGN_MACRO, _AMOUNT_MACRO):
        for ddl in script.split(";\n"):
            con.execute(ddl)
