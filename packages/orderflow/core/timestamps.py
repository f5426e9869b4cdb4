"""Turns the ``timestamp`` TEXT of the input tables into one integer instant (ns, UTC).

Recorders disagree on units and formats, sometimes within one file, so every
ordering and range decision in Orderflow uses the parsed instant and never the raw
text. Integer epochs are told apart by magnitude: below 1e11 they are seconds
(good until the year 5138), below 1e14 milliseconds, below 1e17 microseconds,
otherwise nanoseconds. ISO-8601 takes ``Z``, an offset, or nothing (naive = UTC).
An instant must fit a signed 64-bit count of nanoseconds (1677-09-21 to
2262-04-11): anything outside does not parse, so its row is a recorded reject
rather than a row that no range holds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import cast

__all__ = ["cell_text", "format_instant_ns", "parse_instant_ns", "parse_instants_ns"]

NS_PER_S = 1_000_000_000
_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)
_INT64_DIGITS = 19
_FRACTION_DIGITS = 18
"""Fraction digits that can matter: units are at most 1e9 ns, so digits past the
18th never move the instant by a whole nanosecond."""
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_SECONDS_BELOW = 10**11
_MILLIS_BELOW = 10**14
_MICROS_BELOW = 10**17

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"(Z|z|[+-]\d{2}(?::?\d{2})?)?"
)


def _epoch_ns(digits: str, fraction: str) -> int | None:
    digits = digits.lstrip("0") or "0"
    if len(digits) > _INT64_DIGITS:
        return None  # beyond any instant, and int() of thousands of digits raises
    whole = int(digits)
    fraction = fraction[:_FRACTION_DIGITS]
    if whole < _SECONDS_BELOW:
        scale = NS_PER_S
    elif whole < _MILLIS_BELOW:
        scale = 1_000_000
    elif whole < _MICROS_BELOW:
        scale = 1_000
    else:
        scale = 1
    ns = whole * scale
    if fraction:
        ns += int(fraction) * scale // 10 ** len(fraction)
    return ns if ns <= _INT64_MAX else None


def _iso_ns(match: re.Match[str]) -> int | None:
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        days = date(int(year), int(month), int(day)).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        return None
    h, m, s = int(hour or 0), int(minute or 0), int(second or 0)
    if h > 23 or m > 59 or s > 59:
        return None
    ns = ((days * 24 + h) * 60 + m) * 60 + s
    ns *= NS_PER_S
    if fraction:
        ns += int(fraction[:9].ljust(9, "0"))
    if zone and zone not in ("Z", "z"):
        sign = -1 if zone[0] == "-" else 1
        zh, zm = int(zone[1:3]), int(zone[-2:]) if len(zone) > 3 else 0
        if zh > 23 or zm > 59:
            return None
        ns -= sign * (zh * 3600 + zm * 60) * NS_PER_S
    return ns if _INT64_MIN < ns <= _INT64_MAX else None


# For digit strings without a leading zero the length alone gives the unit:
# up to 11 digits is below 1e11 (seconds), 12-14 ms, 15-17 us, 18+ ns.
_SCALE_BY_DIGITS = {n: NS_PER_S for n in range(1, 12)}
_SCALE_BY_DIGITS.update({n: 1_000_000 for n in range(12, 15)})
_SCALE_BY_DIGITS.update({n: 1_000 for n in range(15, 18)})
_SCALE_BY_DIGITS.update({18: 1, 19: 1})


def parse_instant_ns(value: object) -> int | None:
    """Parse a timestamp cell into ns since the Unix epoch (UTC); None if it cannot be.

    Returning None rather than raising keeps the hot loop free of exception
    handling; the caller records the row as rejected.
    """
    if type(value) is str:
        if value.isdigit() and value.isascii():
            scale = _SCALE_BY_DIGITS.get(len(value))
            if scale is not None and value[0] != "0":
                ns = int(value) * scale
                return ns if ns <= _INT64_MAX else None
            return _epoch_ns(value, "")
        text = value.strip()
        whole, dot, fraction = text.partition(".")
        if (
            dot
            and whole.isascii()
            and whole.isdigit()
            and fraction.isascii()
            and (fraction.isdigit())
        ):
            return _epoch_ns(whole, fraction)
        match = _ISO.fullmatch(text)
        return _iso_ns(match) if match else None
    if isinstance(value, str):
        return parse_instant_ns(str(value))
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return _epoch_ns(str(value), "")
    if isinstance(value, float) and value >= 0 and value == value and value != float("inf"):
        text = cell_text(value)
        return parse_instant_ns(text) if "e" not in text else None  # type: ignore[arg-type]
    return None


def cell_text(value: object) -> object:
    """A numeric cell as the text SQLite makes of it (``CAST(x AS TEXT)``, and what a
    TEXT column stores), other cells unchanged.

    Recorders often store epochs as INTEGER or REAL. Every path reads such cells as
    this text (the readers' SQL casts them), so the ``timestamp`` written to
    ``metrics`` and the instant parsed from it are the same on every path: SQLite
    renders a REAL with 15 significant digits, which is what ``parse_instant_ns``
    parses a float cell by too."""
    if type(value) is int:
        return str(value)
    if type(value) is float:
        text = "%.15g" % value  # noqa: UP031 -- printf's %g is SQLite's rendering
        if "e" in text:
            mantissa, _, exponent = text.partition("e")
            return f"{mantissa if '.' in mantissa else mantissa + '.0'}e{exponent}"
        return text if "." in text or "n" in text else text + ".0"
    return value


def parse_instants_ns(values: Sequence[object]) -> list[int | None]:
    """``parse_instant_ns`` of every cell of a column, in order.

    Recorders nearly always write one integer epoch format throughout, so a
    fetched batch of digit strings of one length is converted with C-level
    ``int``/``map`` calls; any other batch is parsed cell by cell.
    """
    try:
        text = "".join(values)  # type: ignore[arg-type]
    except TypeError:  # a cell that is not text
        return [parse_instant_ns(v) for v in values]
    digits = cast(Sequence[str], values)
    if text.isdigit() and text.isascii():
        lengths = set(map(len, digits))
        scale = _SCALE_BY_DIGITS.get(lengths.pop()) if len(lengths) == 1 else None
        if scale is not None and min(digits)[0] != "0" and int(max(digits)) * scale <= _INT64_MAX:
            return list(map(scale.__mul__, map(int, digits)))
    return [parse_instant_ns(v) for v in values]


def format_instant_ns(ns: int) -> str:
    """ISO-8601 UTC with nanoseconds, for messages and reports."""
    seconds, frac = divmod(ns, NS_PER_S)
    days, rem = divmod(seconds, 86_400)
    d = date.fromordinal(days + _EPOCH_ORDINAL)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    return f"{d.isoformat()}T{h:02d}:{m:02d}:{s:02d}.{frac:09d}Z"
