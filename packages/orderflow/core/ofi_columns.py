"""OFI and multi-level OFI of a batch of snapshots at once, with numpy.

``order_flow.ofi_pair`` is the definition, but called once per snapshot it is a
Python loop over levels and both sides (about 18k instructions a snapshot, as
much as everything else the order-flow family adds). Here a batch's
``BookTop``s become one ``(4, rows, levels)`` array and each level's terms are
array operations, in ``ofi_pair``'s float order: ``e_m = dW_m - dV_m`` with a
missing level's term 0.0, ``mlofi = ((0.0 + e_1) + e_2) + ...``. The columns
therefore equal ``ofi_pair`` bit for bit (a property test checks it).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import numpy as np

from orderflow.core.order_flow import BookTop

__all__ = ["ofi_columns", "top_arrays"]


def top_arrays(tops: Sequence[BookTop], levels: int) -> np.ndarray:
    """``(4, rows, levels)`` float64: bid prices, bid sizes, ask prices, ask sizes
    of each top, best first, NaN where a side has fewer levels."""
    numbers = np.fromiter(chain.from_iterable(chain.from_iterable(tops)), np.float64)
    if numbers.size == 4 * levels * len(tops):  # sides are cut at ``levels``: all full
        return numbers.reshape(len(tops), 4, levels).transpose(1, 0, 2)
    out = np.full((4, len(tops), levels), np.nan)
    for i, top in enumerate(tops):
        for k, side in enumerate(top):
            out[k, i, : len(side)] = side
    return out


def ofi_columns(tops: np.ndarray, previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ofi, mlofi) of each row of ``tops`` (``top_arrays``, at least one level)
    against the row ``previous[i]`` of the same array (-1: it has none); NaN
    stands for NULL."""
    has_previous = previous >= 0
    before = tops[:, np.where(has_previous, previous, 0)]
    bp, br, ap, aq = tops
    bp0, br0, ap0, aq0 = before
    with np.errstate(invalid="ignore"):
        d_w = np.where(bp > bp0, br, np.where(bp == bp0, br - br0, -br0))
        d_v = np.where(ap > ap0, -aq0, np.where(ap == ap0, aq - aq0, aq))
    bid_level = ~(np.isnan(bp) | np.isnan(bp0))
    ask_level = ~(np.isnan(ap) | np.isnan(ap0))
    terms = np.where(bid_level, d_w, 0.0) - np.where(ask_level, d_v, 0.0)
    first = terms[:, 0]
    total = 0.0 + first
    for m in range(1, terms.shape[1]):
        total += terms[:, m]
    valid = has_previous & bid_level[:, 0] & ask_level[:, 0]
    return np.where(valid, first, np.nan), np.where(valid, total, np.nan)
