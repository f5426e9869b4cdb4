"""Python floats into float64 arrays, through msgspec's MessagePack encoder.

The Python path decodes each book side into tuples of Python floats; the batch
computations (``flow_batch``, the depth heatmap) want them as numpy arrays.
``np.fromiter`` and ``np.array`` convert one float at a time through numpy's
generic scalar machinery: about 230 and 340 instructions a float (callgrind,
numpy 2.4), as much as decoding the float from JSON in the first place, and
so the largest part of what the order-flow family and the heatmap added to the
Python path. ``struct.pack`` costs about 90.

msgspec's MessagePack encoder writes every Python float as the 9 bytes ``0xcb``
plus the IEEE 754 double, big-endian (the MessagePack spec's float 64; msgspec
never narrows a float), and a list or tuple of ``n`` items as a header of 1, 3
or 5 bytes (``n < 16``, ``< 2**16``, else) followed by the items. So the
encoding of rows of floats is a strided big-endian array: numpy reads it with
one view and one byte-swapping copy, about 50 instructions a float in all, bit
for bit the same doubles (NaN payloads and -0.0 included).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import msgspec
import numpy as np

__all__ = ["float_column", "float_rows"]

_ENCODE = msgspec.msgpack.Encoder().encode
_FLOAT_BYTES = 9  # 0xcb and 8 bytes


def _header(items: int) -> int:
    """Bytes of the MessagePack array header before ``items`` items."""
    return 1 if items < 16 else 3 if items < 1 << 16 else 5


def float_rows(rows: Sequence[Sequence[float]], width: int) -> np.ndarray:
    """``(len(rows), width)`` float64 from rows of exactly ``width`` Python floats.

    Raises TypeError when an item is not a float (its encoding is not 9 bytes)."""
    if not rows or not width:
        return np.empty((len(rows), width))
    packed = _ENCODE(rows)
    row_bytes = _header(width) + _FLOAT_BYTES * width
    first = _header(len(rows)) + _header(width) + 1
    shape, strides = (len(rows), width), (row_bytes, _FLOAT_BYTES)
    if len(packed) != _header(len(rows)) + len(rows) * row_bytes or not _tagged(
        packed, first, shape, strides
    ):
        raise TypeError("float_rows takes rows of exactly `width` floats")
    return np.ndarray(shape, ">f8", packed, first, strides).astype(np.float64)


def float_column(rows: Sequence[Sequence[float]]) -> np.ndarray:
    """All rows' floats, row after row, as one float64 array (rows of any length).

    Raises TypeError when an item is not a float."""
    flat = list(chain.from_iterable(rows))
    if not flat:
        return np.empty(0)
    packed = _ENCODE(flat)
    first = _header(len(flat)) + 1
    shape, strides = (len(flat),), (_FLOAT_BYTES,)
    if len(packed) != first - 1 + _FLOAT_BYTES * len(flat) or not _tagged(
        packed, first, shape, strides
    ):
        raise TypeError("float_column takes rows of floats")
    return np.ndarray(shape, ">f8", packed, first, strides).astype(np.float64)


def _tagged(packed: bytes, first: int, shape: tuple[int, ...], strides: tuple[int, ...]) -> bool:
    """Every item's type byte is float 64's (an int of 9 bytes would pass the length)."""
    tags = np.ndarray(shape, np.uint8, packed, first - 1, strides)
    return bool((tags == 0xCB).all())
