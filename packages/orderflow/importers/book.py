"""One order book side as a price->level dict plus a sorted key list.

Feeds touch a few levels per message but snapshots and checks read the top of
the book constantly, so insertion pays a bisect (a memmove over a few thousand
keys) and reading the top N is a slice instead of a sort.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable

__all__ = ["BookSide", "Level", "OrderBook"]

# [price, size, liq_count, order_count] as the exchange wrote them (strings), so
# the output keeps the feed's own precision; "0" where the feed does not say.
Level = tuple[str, str, str, str]


class BookSide:
    """Levels of one side keyed by a numeric price; best first when read."""

    __slots__ = ("_keys", "descending", "levels")

    def __init__(self, *, descending: bool) -> None:
        self.descending = descending
        self.levels: dict[float, Level] = {}
        self._keys: list[float] = []

    def __len__(self) -> int:
        return len(self.levels)

    def set(self, key: float, level: Level) -> None:
        """Insert or replace the level at ``key``."""
        if key not in self.levels:
            insort(self._keys, key)
        self.levels[key] = level

    def remove(self, key: float) -> None:
        """Delete the level at ``key``; deleting an absent level is not an error
        because feeds routinely delete levels beyond the depth they sent us."""
        if self.levels.pop(key, None) is not None:
            del self._keys[bisect_left(self._keys, key)]

    def clear(self) -> None:
        self.levels.clear()
        self._keys.clear()

    def load(self, items: Iterable[tuple[float, Level]]) -> None:
        """Replace the whole side (a snapshot): one sort instead of N bisects."""
        self.levels = dict(items)
        self._keys = sorted(self.levels)

    def best_key(self) -> float | None:
        if not self._keys:
            return None
        return self._keys[-1] if self.descending else self._keys[0]

    def best(self) -> Level | None:
        key = self.best_key()
        return None if key is None else self.levels[key]

    def top_keys(self, n: int) -> list[float]:
        """The ``n`` best prices, best first."""
        if self.descending:
            return self._keys[: -n - 1 : -1] if n > 0 else []
        return self._keys[:n]

    def top(self, n: int) -> list[Level]:
        """The ``n`` best levels, best first."""
        levels = self.levels
        return [levels[k] for k in self.top_keys(n)]


class OrderBook:
    """Bids (descending) and asks (ascending) of one instrument."""

    __slots__ = ("asks", "bids")

    def __init__(self) -> None:
        self.bids = BookSide(descending=True)
        self.asks = BookSide(descending=False)

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()

    def crossed(self) -> bool:
        """True when the best bid is at or above the best ask: a rebuilt book in
        that state has missed an update, since the matching engine never rests
        a crossed book."""
        bid, ask = self.bids.best_key(), self.asks.best_key()
        return bid is not None and ask is not None and bid >= ask
