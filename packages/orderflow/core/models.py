"""The data model of the seed architecture, as msgspec Structs.

Structs rather than dataclasses because the same types cross process boundaries
(coordinator and workers) and are decoded straight from the recorded JSON: an
``OrderbookLevel`` is ``array_like`` so ``["43250.1","0.532","0","3"]`` decodes
into it without an intermediate list, and ``gc=False`` because a level never
references another object (measured: ~25% faster decode of a 25-level side).
"""

from __future__ import annotations

import msgspec

__all__ = ["Book", "BookSnapshot", "Metric", "OrderbookLevel", "Trade"]


class OrderbookLevel(
    msgspec.Struct, array_like=True, gc=False, frozen=True, forbid_unknown_fields=True
):
    """One price level, in the recorded order ``[price, size, liq_count, order_count]``.

    A fifth element makes the level (and so the snapshot) invalid: the spec knows
    four fields, and an extra one was once ignored whatever it held.

    The counts are floats because venues send them as numeric strings and some
    send fractions; both may be absent (2-element levels are valid).
    """

    price: float
    size: float
    liquidation_count: float = 0.0
    order_count: float = 0.0


class Trade(msgspec.Struct, frozen=True):
    """One execution. ``side`` is the aggressor side, normalised to ``buy``/``sell``."""

    id: int
    instrument: str
    price: float
    size: float
    side: str
    instant_ns: int
    trade_id: str = ""

    @property
    def signed_size(self) -> float:
        return self.size if self.side == "buy" else -self.size


class BookSnapshot(msgspec.Struct):
    """The full book of one instrument at one instant, with the trades that led to it.

    Levels are kept as recorded (any order, zero sizes included); the calculator
    decides what counts, so a snapshot can be inspected exactly as it was stored.
    """

    id: int
    instrument: str
    instant_ns: int
    bids: list[OrderbookLevel]
    asks: list[OrderbookLevel]
    trades: list[Trade] = msgspec.field(default_factory=list)
    timestamp: str = ""


class Book(msgspec.Struct):
    """A sequence of snapshots of one instrument, in (instant, id) order."""

    instrument: str
    snapshots: list[BookSnapshot] = msgspec.field(default_factory=list)

    def add_snapshot(self, snapshot: BookSnapshot) -> None:
        self.snapshots.append(snapshot)

    @property
    def last(self) -> BookSnapshot | None:
        return self.snapshots[-1] if self.snapshots else None


class Metric(msgspec.Struct, frozen=True):
    """The values stored for one valid snapshot (one ``metrics`` row)."""

    snapshot_id: int
    instrument: str
    instant_ns: int
    timestamp: str
    obi: float | None
    cvd: float
    best_bid: float | None
    best_ask: float | None
