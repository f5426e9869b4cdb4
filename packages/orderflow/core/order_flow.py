"""The order-flow family of ``shared/spec/metrics.md``: spread, mid, weighted mid,
top-of-book sizes, OBI over the top 1/5/10 levels, OFI and multi-level OFI.

These functions are the readable definition the calculator's fast path and the
native kernel are tested against, so every float operation is written in the
order the other paths must repeat it:

- a side's levels are aggregated by price in the order they were recorded
  (``0.0 + s1 + s2 ...``) and ranked best first;
- top-k sums run left to right from the best level (``sum``);
- ``e_m = dW_m - dV_m`` (a missing side's term is 0.0), ``ofi = e_1`` and
  ``mlofi = ((0.0 + e_1) + e_2) + ...``, so with M = 1 it equals ``ofi``.

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


def _bid_term(p_now: float, p_before: float, r_now: float, r_before: float) -> float:
    """``dW_m`` of one bid level."""
    return r_now if p_now > p_before else (r_now - r_before if p_now == p_before else -r_before)


def _ask_term(p_now: float, p_before: float, q_now: float, q_before: float) -> float:
    """``dV_m`` of one ask level."""
    return -q_before if p_now > p_before else (q_now - q_before if p_now == p_before else q_now)


def ofi_pair(prev: BookTop | None, cur: BookTop, levels: int) -> tuple[float | None, float | None]:
    """(ofi, mlofi over ``levels`` levels) of ``cur`` against the previous valid
    snapshot ``prev`` of the same instrument (None: there is none).

    Both are NULL at an instrument's first snapshot and when either snapshot
    lacks a side. ``e_m = dW_m - dV_m``, a side's term being 0 when either
    snapshot has fewer than m levels on that side; ``mlofi = ((0.0 + e_1) + e_2)
    + ...`` and ``ofi = e_1``.
    """
    if prev is None:
        return None, None
    pbp, pbs, pap, pas = prev
    cbp, cbs, cap, cas = cur
    if not (pbp and pap and cbp and cap):
        return None, None
    # Levels both sides of both snapshots have (zip stops at the first to run out):
    both = zip(cbp[:levels], pbp, cbs, pbs, cap, pap, cas, pas, strict=False)
    b, b0, r, r0, a, a0, q, q0 = next(both)
    first = (r if b > b0 else (r - r0 if b == b0 else -r0)) - (
        -q0 if a > a0 else (q - q0 if a == a0 else q)
    )
    total = 0.0 + first
    for b, b0, r, r0, a, a0, q, q0 in both:
        total += (r if b > b0 else (r - r0 if b == b0 else -r0)) - (
            -q0 if a > a0 else (q - q0 if a == a0 else q)
        )
    bid_n = min(len(cbp), len(pbp), levels)
    ask_n = min(len(cap), len(pap), levels)
    # Deeper levels only one side has (the other side's term is 0), in level order.
    for m in range(ask_n, bid_n):
        total += _bid_term(cbp[m], pbp[m], cbs[m], pbs[m]) - 0.0
    for m in range(bid_n, ask_n):
        total += 0.0 - _ask_term(cap[m], pap[m], cas[m], pas[m])
    return first, total


def ofi(prev: BookTop | None, cur: BookTop) -> float | None:
    """Cont, Kukanov & Stoikov's order flow imbalance ``e`` (metrics.md)."""
    return ofi_pair(prev, cur, 1)[0]


def mlofi(prev: BookTop | None, cur: BookTop, levels: int) -> float | None:
    """Xu, Gould & Howison's multi-level OFI, summed over levels 1..``levels``."""
    return ofi_pair(prev, cur, levels)[1]
