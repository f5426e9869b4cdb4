"""The per-snapshot order-flow values of a batch of snapshots at once, with numpy.

``order_flow`` defines the values one snapshot at a time, and
``calculator.snapshot_values`` is that definition's per-snapshot form. Computed
that way, in Python, the family cost the Python path a quarter more work per
snapshot than the seed's OBI alone; the depth heatmap, which converted every
level to numpy a float at a time, cost another half. So the pipeline takes
from each valid snapshot only its OBI and its levels
(``calculator.snapshot_levels``) and computes the rest here, a fetch of rows
(up to 2,000) at a time:

- each snapshot's OBI and levels are packed into bytes at once
  (``packed_levels``), and a batch's become one padded ``(rows, width)``
  array per side (prices padded with NaN, sizes with 0.0), which the OFI
  columns and the heatmap then use as they are;
- a row whose levels are not strictly best first is ranked by
  ``aggregate_side`` (rare: the four-field decode keeps the recorded order,
  and recorded books are almost always best first) and the batch is built
  again, so every row holds its aggregated counted levels, best first;
- the values repeat ``flow_values``'s float operations in its order: top-k sums
  left to right from 0.0 (adding a padding 0.0 changes no sum of sizes > 0),
  and NaN for NULL.

So the columns equal ``snapshot_values`` bit for bit, which a property test
checks on arbitrary books.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from orderflow.core.order_flow import BookTop, aggregate_side
from orderflow.core.packed_levels import pack_levels, unpack_batch, unpack_levels

__all__ = ["FLOW_VALUES", "FlowBatch", "Side", "flow_batch"]

FLOW_VALUES = (
    "best_bid",
    "best_ask",
    "obi",
    "spread",
    "mid",
    "weighted_mid",
    "bid_size_1",
    "ask_size_1",
    "obi_l1",
    "obi_l5",
    "obi_l10",
)
"""The rows of ``FlowBatch.values``, in ``SnapshotValues`` order."""


class Side(NamedTuple):
    """One side of every row: level counts, NaN-padded prices, 0.0-padded sizes."""

    counts: np.ndarray
    prices: np.ndarray
    sizes: np.ndarray

    def flat(self) -> tuple[np.ndarray, np.ndarray]:
        """(prices, sizes) of every row's levels, row after row (the heatmap's input)."""
        if (self.counts == self.prices.shape[1]).all():
            return self.prices.reshape(-1), self.sizes.reshape(-1)
        kept = np.arange(self.prices.shape[1]) < self.counts[:, None]
        return self.prices[kept], self.sizes[kept]

    def top(self, levels: int) -> tuple[np.ndarray, np.ndarray]:
        """(prices, sizes) of the best ``levels`` levels, NaN where a row has fewer."""
        width = self.prices.shape[1]
        if width >= levels:
            return self.prices[:, :levels], self.sizes[:, :levels]
        pad = ((0, 0), (0, levels - width))
        return (
            np.pad(self.prices, pad, constant_values=np.nan),
            np.pad(self.sizes, pad, constant_values=np.nan),
        )


class FlowBatch(NamedTuple):
    """``flow_batch``'s result: per row its aggregated levels (``packed``, as
    ``pack_levels`` packs them), the values (``FLOW_VALUES`` by rows, NaN for
    NULL) and both sides as arrays."""

    packed: list[bytes]
    values: np.ndarray
    bids: Side
    asks: Side

    def tops(self, levels: int) -> np.ndarray:
        """``(4, rows, levels)``: the rows' ``BookTop``s as ``ofi_columns.top_arrays``."""
        return np.stack([*self.bids.top(levels), *self.asks.top(levels)])

    def book_top(self, row: int, levels: int) -> BookTop:
        _, bid_prices, bid_sizes, ask_prices, ask_sizes = unpack_levels(self.packed[row])
        return (
            tuple(bid_prices[:levels]),
            tuple(bid_sizes[:levels]),
            tuple(ask_prices[:levels]),
            tuple(ask_sizes[:levels]),
        )


def flow_batch(packed: Sequence[bytes]) -> FlowBatch:
    """The ``FLOW_VALUES`` of packed ``snapshot_levels`` rows (at least one)."""
    obi, ((bid_counts, bid_prices), (_, bid_sizes), (ask_counts, ask_prices), (_, ask_sizes)) = (
        unpack_batch(packed)
    )
    bids = Side(bid_counts, bid_prices, _zero_padded(bid_sizes, bid_counts))
    asks = Side(ask_counts, ask_prices, _zero_padded(ask_sizes, ask_counts))
    unranked = ~(_best_first(bids, descending=True) & _best_first(asks, descending=False))
    if unranked.any():
        ranked = list(packed)
        for i in np.flatnonzero(unranked).tolist():
            row_obi, bp, bs, ap, as_ = unpack_levels(ranked[i])
            ranked[i] = pack_levels(
                (row_obi, *aggregate_side(bp, bs, bids=True), *aggregate_side(ap, as_, bids=False))
            )
        return flow_batch(ranked)
    with np.errstate(all="ignore"):  # overflow to inf happens in Python's floats too
        p_b, p_a = bids.prices[:, 0], asks.prices[:, 0]
        q_b = np.where(bids.counts > 0, bids.sizes[:, 0], np.nan)
        q_a = np.where(asks.counts > 0, asks.sizes[:, 0], np.nan)
        values = np.stack(
            [
                p_b,
                p_a,
                obi,
                p_a - p_b,
                (p_b + p_a) / 2,
                (p_b * q_a + p_a * q_b) / (q_b + q_a),
                q_b,
                q_a,
                *(_obi(_top_sum(bids.sizes, k), _top_sum(asks.sizes, k)) for k in (1, 5, 10)),
            ]
        )
    return FlowBatch(list(packed), values, bids, asks)


def _zero_padded(sizes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    if (counts == sizes.shape[1]).all():  # the common batch: no row is short
        return sizes
    return np.where(np.arange(sizes.shape[1]) < counts[:, None], sizes, 0.0)


def _best_first(side: Side, *, descending: bool) -> np.ndarray:
    """Per row: are its prices strictly best first (no repeated price)?"""
    prices = side.prices
    if prices.shape[1] < 2:
        return np.ones(len(prices), dtype=bool)
    step = prices[:, :-1] > prices[:, 1:] if descending else prices[:, :-1] < prices[:, 1:]
    if step.all():  # the usual batch: every row full and best first, found in one pass
        return np.ones(len(prices), dtype=bool)
    step |= np.arange(1, prices.shape[1]) >= side.counts[:, None]  # past the row's levels
    return step.all(axis=1)


def _top_sum(sizes: np.ndarray, k: int) -> np.ndarray:
    """``sum(sizes[:k])`` per row, left to right as Python's ``sum`` adds."""
    total = 0.0 + sizes[:, 0]
    for m in range(1, min(k, sizes.shape[1])):
        total = total + sizes[:, m]
    return total


def _obi(bid_total: np.ndarray, ask_total: np.ndarray) -> np.ndarray:
    denominator = bid_total + ask_total
    return np.where(denominator == 0, np.nan, (bid_total - ask_total) / denominator)
