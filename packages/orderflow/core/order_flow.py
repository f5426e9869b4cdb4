"""The order-flow family of ``shared/spec/metrics.md``: spread, mid, weighted mid,
top-of-book sizes, OBI over the top 1/5/10 levels, OFI and multi-level OFI.

These functions are the readable definition the calculator's fast path and the
native kernel are tested against, so every float operation is written in the
order the other paths must repeat it:

- a side's levels are aggregated by price in the order they were recorded
  (``0.0 + s1 + s2 ...``) and ranked best first;
- top-k sums run left to right from the best level (``sum``);
- ``ofi = dW_1 - dV_1``; ``mlofi = (dW_1 + dW_2 + ...) - (dV_1 + dV_2 + ...)``,
  each side summed from level 1 up (the same number as the spec's sum of
  ``e_m = dW_m - dV_m`` up to rounding), so with M = 1 it equals ``ofi`` bit
  for bit.

A snapshot's ``BookTop`` (the best ``ofi_levels`` aggregated levels of each
side) is all OFI needs of it; it is what workers hand the coordinator at shard
edges, and what the shard ledger stores for resume.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "BookTop",
    "FlowValues",
    "aggregate_side",
    "book_top",
    "flow_values",
    "mlofi",
    "ofi",
    "ofi_pair",
]

BookTop = tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...], tuple[float, ...]]
"""(bid prices, bid sizes, ask prices, ask sizes) of the best aggregated counted
levels, best first. A plain tuple: it is built once per snapshot on the hot path
and crosses the wire as a msgpack array."""

FlowValues = tuple[
    float | None,  # spread
    float | None,  # mid
    float | None,  # weighted_mid
    float | None,  # bid_size_1
    float | None,  # ask_size_1
    float | None,  # obi_l1
    float | None,  # obi_l5
    float | None,  # obi_l10
]
"""The per-snapshot values that need no previous snapshot, in ``metrics`` column order."""


def aggregate_side(
    prices: Sequence[float], sizes: Sequence[float], *, bids: bool
) -> tuple[list[float], list[float]]:
    """The counted levels (size > 0) of one side, equal prices merged into one
    level whose size is their sum (in recorded order), best price first."""
    totals: dict[float, float] = {}
    for price, size in zip(prices, sizes, strict=True):
        if size > 0:
            totals[price] = totals.get(price, 0.0) + size
    ranked = sorted(totals, reverse=bids)
    return ranked, [totals[p] for p in ranked]


def _obi(bid_total: float, ask_total: float) -> float | None:
    denominator = bid_total + ask_total
    return None if denominator == 0 else (bid_total - ask_total) / denominator


def flow_values(
    bid_prices: Sequence[float],
    bid_sizes: Sequence[float],
    ask_prices: Sequence[float],
    ask_sizes: Sequence[float],
) -> FlowValues:
    """spread .. obi_l10 from both sides' aggregated levels, best first.

    ``spread``, ``mid`` and ``weighted_mid`` are NULL unless both sides have a
    counted level; ``bid_size_1``/``ask_size_1`` are NULL for a side without one.
    A crossed book keeps its negative spread.
    """
    q_b = bid_sizes[0] if bid_sizes else None
    q_a = ask_sizes[0] if ask_sizes else None
    spread = mid = weighted = None
    if q_b is not None and q_a is not None:
        p_b, p_a = bid_prices[0], ask_prices[0]
        spread = p_a - p_b
        mid = (p_b + p_a) / 2
        weighted = (p_b * q_a + p_a * q_b) / (q_b + q_a)
    return (
        spread,
        mid,
        weighted,
        q_b,
        q_a,
        _obi(sum(bid_sizes[:1]), sum(ask_sizes[:1])),
        _obi(sum(bid_sizes[:5]), sum(ask_sizes[:5])),
        _obi(sum(bid_sizes[:10]), sum(ask_sizes[:10])),
    )


def book_top(
    bid_prices: Sequence[float],
    bid_sizes: Sequence[float],
    ask_prices: Sequence[float],
    ask_sizes: Sequence[float],
    levels: int,
) -> BookTop:
    """The best ``levels`` aggregated levels of each side (inputs best first)."""
    return (
        tuple(bid_prices[:levels]),
        tuple(bid_sizes[:levels]),
        tuple(ask_prices[:levels]),
        tuple(ask_sizes[:levels]),
    )


def ofi_pair(prev: BookTop | None, cur: BookTop, levels: int) -> tuple[float | None, float | None]:
    """(ofi, mlofi over ``levels`` levels) of ``cur`` against the previous valid
    snapshot ``prev`` of the same instrument (None: there is none).

    Both are NULL at an instrument's first snapshot and when either snapshot
    lacks a side. Level m adds ``dW_m`` for the bids and ``-dV_m`` for the asks
    only while both snapshots have an m-th level on that side (``zip`` stops at
    the shorter side: the spec's "term is 0"). The sums run from level 1 up per
    side, ``mlofi = (dW_1 + dW_2 ...) - (dV_1 + dV_2 ...)``, so with one level it
    is ``dW_1 - dV_1 = ofi`` exactly.
    """
    if prev is None:
        return None, None
    pbp, pbs, pap, pas = prev
    cbp, cbs, cap, cas = cur
    if not (pbp and pap and cbp and cap):
        return None, None
    bids = zip(cbp[:levels], pbp, cbs, pbs, strict=False)
    p_now, p_before, r_now, r_before = next(bids)  # level 1: it is also ofi's
    if p_now > p_before:
        d_w = bid_first = r_now
    elif p_now == p_before:
        d_w = bid_first = r_now - r_before
    else:
        d_w = bid_first = -r_before
    for p_now, p_before, r_now, r_before in bids:
        if p_now > p_before:
            d_w += r_now
        elif p_now == p_before:
            d_w += r_now - r_before
        else:
            d_w -= r_before
    asks = zip(cap[:levels], pap, cas, pas, strict=False)
    p_now, p_before, q_now, q_before = next(asks)
    if p_now > p_before:
        d_v = ask_first = -q_before
    elif p_now == p_before:
        d_v = ask_first = q_now - q_before
    else:
        d_v = ask_first = q_now
    for p_now, p_before, q_now, q_before in asks:
        if p_now > p_before:
            d_v -= q_before
        elif p_now == p_before:
            d_v += q_now - q_before
        else:
            d_v += q_now
    return bid_first - ask_first, d_w - d_v


def ofi(prev: BookTop | None, cur: BookTop) -> float | None:
    """Cont, Kukanov & Stoikov's order flow imbalance ``e`` (metrics.md)."""
    return ofi_pair(prev, cur, 1)[0]


def mlofi(prev: BookTop | None, cur: BookTop, levels: int) -> float | None:
    """Xu, Gould & Howison's multi-level OFI, summed over levels 1..``levels``."""
    return ofi_pair(prev, cur, levels)[1]
