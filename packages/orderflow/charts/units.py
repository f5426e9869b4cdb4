"""Base and quote currency of an instrument name, for the units in panel titles.

Sizes (volume, CVD, the profile) are in the base currency and prices in the
quote currency. Names come as ``BTC-USDT``, ``BTC/USDT``, ``BTC_USDT`` or run
together as exchanges write them (``BTCUSDT``, ``BTCUSD_PERP``); an unknown
shape says "base" and "quote" rather than guessing wrong.
"""

from __future__ import annotations

import re

__all__ = ["instrument_units"]

_QUOTES = ("USDT", "USDC", "BUSD", "FDUSD", "USD", "EUR", "BTC", "ETH", "BNB")
_SEPARATED = re.compile(r"^([A-Za-z0-9]+)[-/_]([A-Za-z]+)")


def instrument_units(instrument: str) -> tuple[str, str]:
    """(base, quote) of ``instrument``, or ("base", "quote") when the name does not say."""
    name = instrument.upper()
    match = _SEPARATED.match(name)
    if match and match.group(2) in _QUOTES:
        return match.group(1), match.group(2)
    head = re.split(r"[-/_]", name)[0]
    for quote in _QUOTES:
        if head.endswith(quote) and len(head) > len(quote):
            return head[: -len(quote)], quote
    if match:
        return match.group(1), match.group(2)
    return "base", "quote"
