"""The metric formulas of ``shared/spec/metrics.md``: OBI, best bid/ask, CVD and the
per-snapshot values of the order-flow family (``order_flow.py`` defines those).

This is the one place the numbers are defined. The in-process pipeline, the
workers and the strategies' live fallback all call it, so the code paths can only
disagree about ordering, never about arithmetic.

The hot path is ``snapshot_metrics``. Almost every stored side is a list of
four-field levels ``[price, size, liq_count, order_count]`` with whole-number
counts; it decodes such a side into tuples (small counts are shared int objects,
so only price and size allocate) and ``zip(*levels)`` turns them into a price
column and a size column in C, so the sums and extremes never run a Python loop
per level. Anything else (other field counts, fractional counts, a zero,
negative or non-finite size or price, a depth cut) takes the general path
through ``OrderbookLevel`` structs, which gives the same numbers and decides the
reject reasons.

The order-flow values ride on the same pass: recorded sides are almost always
strictly best first (bids descending, asks ascending, no repeated price), which
one C-level comparison pass confirms; then the top-k sums and the ``BookTop`` are
slices of the columns already built. Any other order goes through
``order_flow.aggregate_side``, the reference definition.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from operator import gt, lt

import msgspec

from orderflow.core.models import BookSnapshot, OrderbookLevel, Trade
from orderflow.core.order_flow import BookTop, aggregate_side, book_top, flow_values

__all__ = [
    "InvalidSnapshot",
    "MetricCalculator",
    "SideSummary",
    "SnapshotLevels",
    "SnapshotValues",
    "decode_side",
    "number_from_text",
    "obi_from_totals",
    "snapshot_levels",
    "snapshot_metrics",
    "snapshot_values",
    "summarize_side",
    "trade_sign",
]

SideSummary = tuple[float | None, float]  # (best price or None, counted size total)
SnapshotValues = tuple[
    float | None,  # best_bid
    float | None,  # best_ask
    float | None,  # obi
    float | None,  # spread
    float | None,  # mid
    float | None,  # weighted_mid
    float | None,  # bid_size_1
    float | None,  # ask_size_1
    float | None,  # obi_l1
    float | None,  # obi_l5
    float | None,  # obi_l10
    BookTop,  # the best ``top_levels`` aggregated levels, for OFI
]
SnapshotLevels = tuple[
    float | None,  # obi
    Sequence[float],  # bid prices
    Sequence[float],  # bid sizes
    Sequence[float],  # ask prices
    Sequence[float],  # ask sizes
]

# strict=False accepts numeric strings ("43250.1") as floats; anything else that is
# not a number (text, null, a nested object) fails the decode and so the snapshot.
_SIDE_DECODER = msgspec.json.Decoder(list[OrderbookLevel], strict=False)
_FOUR_FIELD_SIDE = msgspec.json.Decoder(list[tuple[float, float, int, int]], strict=False)
_isfinite = math.isfinite
_prod = math.prod
_TEXT_NUMBER = msgspec.json.Decoder(float, strict=False)
_TEXT = msgspec.json.Encoder()
_ALL_LEVELS = 1 << 62


def number_from_text(text: str) -> float | None:
    """A numeric string by the rule book levels follow (msgspec's: JSON number syntax,
    plus ``inf``/``nan``), or None. Trades use it too, so ``"1_000"``, ``" 1.5"``,
    ``"+1"`` or Arabic-Indic digits, which Python's ``float()`` takes, are not
    numbers anywhere."""
    try:
        return _TEXT_NUMBER.decode(_TEXT.encode(text))
    except msgspec.ValidationError:
        return None


class InvalidSnapshot(ValueError):
    """A snapshot the spec says to skip; the message is the recorded reason."""


def decode_side(raw: str | bytes | None, side: str) -> list[OrderbookLevel]:
    if not isinstance(raw, str | bytes):
        kind = "NULL" if raw is None else type(raw).__name__
        raise InvalidSnapshot(f"{side} is {kind}, not a JSON array of levels")
    try:
        return _SIDE_DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidSnapshot(f"{side} is not a JSON array of numeric levels: {exc}") from None


def _check_each(prices: Sequence[float], sizes: Sequence[float], side: str) -> None:
    for i, (p, s) in enumerate(zip(prices, sizes, strict=True)):
        if not (_isfinite(p) and _isfinite(s)):
            raise InvalidSnapshot(f"{side} level {i} has a NaN or infinite price or size")
    raise InvalidSnapshot(f"{side} sizes or prices overflow a float sum")


def summarize_side(
    levels: Sequence[OrderbookLevel], side: str, depth: int | None = None
) -> SideSummary:
    """Best price and summed size of the counted levels (size > 0) of one side.

    ``side`` is ``"bids"`` (best = highest) or ``"asks"`` (best = lowest). With
    ``depth`` only the counted levels at the best ``depth`` prices are summed.
    Raises InvalidSnapshot for a negative, NaN or infinite price or size.
    """
    if not levels:
        return None, 0.0
    prices = [lv.price for lv in levels]
    sizes = [lv.size for lv in levels]
    total = sum(sizes)
    if not _isfinite(total + sum(prices)):
        _check_each(prices, sizes, side)
    lowest_price = min(prices)
    smallest_size = min(sizes)
    if lowest_price < 0 or smallest_size < 0:
        raise InvalidSnapshot(f"{side} has a negative price or size")
    is_bid = side == "bids"
    if depth is None:
        if smallest_size > 0:
            return (max(prices) if is_bid else lowest_price), total
        counted = [p for p, s in zip(prices, sizes, strict=True) if s > 0]
        if not counted:
            return None, 0.0
        return (max(counted) if is_bid else min(counted)), total
    ranked = sorted(
        ((p, s) for p, s in zip(prices, sizes, strict=True) if s > 0),
        key=lambda level: level[0],
        reverse=is_bid,
    )
    if not ranked:
        return None, 0.0
    # The cut is by price: entries sharing a price are one level, in or out together
    # (else the recorded order of equal prices would decide the OBI).
    cut = 0.0
    taken = 0
    last = None
    for price, size in ranked:
        if price != last:
            taken += 1
            if taken > depth:
                break
            last = price
        cut += size
    return ranked[0][0], cut


def obi_from_totals(bid_total: float, ask_total: float) -> float | None:
    """(B - A) / (B + A); None (SQL NULL) when both sides are empty."""
    denominator = bid_total + ask_total
    if denominator == 0:
        return None
    return (bid_total - ask_total) / denominator


def _four_field_levels(
    bids_json: str | bytes | None, asks_json: str | bytes | None, depth: int | None
) -> SnapshotLevels | None:
    """OBI and the decoded price and size columns of the common case (see the module
    docstring), or None when the general path must decide."""
    try:
        bid_prices, bid_sizes, _, _ = zip(*_FOUR_FIELD_SIDE.decode(bids_json), strict=True)  # type: ignore[arg-type]
        ask_prices, ask_sizes, _, _ = zip(*_FOUR_FIELD_SIDE.decode(asks_json), strict=True)  # type: ignore[arg-type]
    except (msgspec.DecodeError, TypeError, ValueError):  # ValueError: an empty side
        return None
    bid_total = sum(bid_sizes)
    ask_total = sum(ask_sizes)
    if not _isfinite(bid_total + ask_total + sum(bid_prices) + sum(ask_prices)):
        return None  # NaN, infinity or overflow
    if (_may_be_negative(bids_json) or _may_be_negative(asks_json)) and min(
        min(bid_prices), min(ask_prices), min(bid_sizes), min(ask_sizes)
    ) < 0:
        return None
    # Every number is >= 0 here, so a product is 0 only for a zero size (or one that
    # underflows, which the general path then settles): cheaper than min().
    if not (_prod(bid_sizes) > 0 and _prod(ask_sizes) > 0):
        return None
    if depth is not None and max(len(bid_sizes), len(ask_sizes)) > depth:
        return None
    obi = (bid_total - ask_total) / (bid_total + ask_total)
    return obi, bid_prices, bid_sizes, ask_prices, ask_sizes


def _four_field_values(
    bids_json: str | bytes | None,
    asks_json: str | bytes | None,
    depth: int | None,
    top_levels: int,
) -> SnapshotValues | None:
    """The common case of ``snapshot_values`` (see the module docstring), or None
    when the general path must decide."""
    common = _four_field_levels(bids_json, asks_json, depth)
    if common is None:
        return None
    obi, bid_prices, bid_sizes, ask_prices, ask_sizes = common
    if not (all(map(gt, bid_prices, bid_prices[1:])) and all(map(lt, ask_prices, ask_prices[1:]))):
        bids = aggregate_side(bid_prices, bid_sizes, bids=True)
        asks = aggregate_side(ask_prices, ask_sizes, bids=False)
        return (
            bids[0][0],
            asks[0][0],
            obi,
            *flow_values(*bids, *asks),
            book_top(*bids, *asks, top_levels),
        )
    # Strictly best first: every level is its own aggregated level, in rank order.
    p_b = bid_prices[0]
    p_a = ask_prices[0]
    q_b = bid_sizes[0]
    q_a = ask_sizes[0]
    b5 = sum(bid_sizes[:5])
    a5 = sum(ask_sizes[:5])
    b10 = sum(bid_sizes[:10])
    a10 = sum(ask_sizes[:10])
    return (
        p_b,
        p_a,
        obi,
        p_a - p_b,
        (p_b + p_a) / 2,
        (p_b * q_a + p_a * q_b) / (q_b + q_a),
        q_b,
        q_a,
        (q_b - q_a) / (q_b + q_a),
        (b5 - a5) / (b5 + a5),
        (b10 - a10) / (b10 + a10),
        (
            bid_prices[:top_levels],
            bid_sizes[:top_levels],
            ask_prices[:top_levels],
            ask_sizes[:top_levels],
        ),
    )


def _may_be_negative(raw: str | bytes) -> bool:
    """A negative number needs a minus sign; most sides have none at all."""
    return ("-" if isinstance(raw, str) else b"-") in raw  # type: ignore[operator]


def snapshot_values(
    bids_json: str | bytes | None,
    asks_json: str | bytes | None,
    depth: int | None = None,
    top_levels: int = 5,
) -> SnapshotValues:
    """Every per-snapshot value of a stored snapshot (``SnapshotValues``) and its
    ``BookTop`` of ``top_levels`` levels a side; raises InvalidSnapshot.

    Decodes both sides inline rather than through ``decode_side``: this runs
    once per snapshot and the saved calls are measurable.
    """
    common = _four_field_values(bids_json, asks_json, depth, top_levels)
    if common is not None:
        return common
    return _general_values(bids_json, asks_json, depth, top_levels)


def _general_values(
    bids_json: str | bytes | None,
    asks_json: str | bytes | None,
    depth: int | None,
    top_levels: int,
) -> SnapshotValues:
    """``snapshot_values`` through ``OrderbookLevel`` structs: any input, every reason."""
    decode = _SIDE_DECODER.decode
    try:
        bids = decode(bids_json)
        asks = decode(asks_json)
    except (msgspec.DecodeError, TypeError):
        decode_side(bids_json, "bids")  # raises the precise reason
        decode_side(asks_json, "asks")
        raise
    best_bid, bid_total = summarize_side(bids, "bids", depth)
    best_ask, ask_total = summarize_side(asks, "asks", depth)
    denominator = bid_total + ask_total
    obi = (bid_total - ask_total) / denominator if denominator != 0 else None
    bid_levels = aggregate_side([lv.price for lv in bids], [lv.size for lv in bids], bids=True)
    ask_levels = aggregate_side([lv.price for lv in asks], [lv.size for lv in asks], bids=False)
    return (
        best_bid,
        best_ask,
        obi,
        *flow_values(*bid_levels, *ask_levels),
        book_top(*bid_levels, *ask_levels, top_levels),
    )


def snapshot_levels(
    bids_json: str | bytes | None, asks_json: str | bytes | None, depth: int | None = None
) -> SnapshotLevels:
    """OBI and the levels ``orderflow.core.flow_batch`` computes the rest from; raises
    InvalidSnapshot like ``snapshot_values``.

    In the common case the levels are the decoded columns as recorded (every size
    > 0, any price order; the batch checks the order); otherwise they are the
    general path's aggregated counted levels, best first (``aggregate_side``).
    """
    common = _four_field_levels(bids_json, asks_json, depth)
    if common is not None:
        return common
    values = _general_values(bids_json, asks_json, depth, _ALL_LEVELS)
    return values[2], *values[11]


def snapshot_metrics(
    bids_json: str | bytes | None, asks_json: str | bytes | None, depth: int | None = None
) -> tuple[float | None, float | None, float | None]:
    """(best_bid, best_ask, obi) of a stored snapshot; raises InvalidSnapshot."""
    return snapshot_values(bids_json, asks_json, depth)[:3]  # type: ignore[return-value]


def trade_sign(side: object) -> int:
    """+1 for a buy, -1 for a sell (any letter case), 0 for anything else (invalid)."""
    if isinstance(side, str):
        lowered = side.lower()
        if lowered == "buy":
            return 1
        if lowered == "sell":
            return -1
    return 0


class MetricCalculator:
    """The seed's calculation engine, over decoded model objects."""

    @staticmethod
    def calculate_obi(snapshot: BookSnapshot, depth: int | None = None) -> float | None:
        _, bid_total = summarize_side(snapshot.bids, "bids", depth)
        _, ask_total = summarize_side(snapshot.asks, "asks", depth)
        return obi_from_totals(bid_total, ask_total)

    @staticmethod
    def best_prices(snapshot: BookSnapshot) -> tuple[float | None, float | None]:
        return (
            summarize_side(snapshot.bids, "bids")[0],
            summarize_side(snapshot.asks, "asks")[0],
        )

    @staticmethod
    def calculate_cvd(prev_cvd: float, trades: Iterable[Trade]) -> float:
        """prev_cvd plus the signed size of each trade (+ buy, - sell)."""
        cvd = prev_cvd
        for trade in trades:
            cvd += trade.signed_size
        return cvd
