"""A snapshot's OBI and levels as MessagePack bytes, and a batch of them as arrays.

The Python path keeps each valid snapshot's OBI and levels
(``calculator.snapshot_levels``) until its batch of up to 2,000 rows is
computed in numpy (``flow_batch``). Kept as tuples of Python floats, a batch's
levels made the cyclic garbage collector walk every float of every snapshot
(four tuples of 25 a snapshot), and turning them into arrays went one float at
a time through numpy's generic scalar machinery (``np.fromiter``: about 230
instructions a float, callgrind, numpy 2.4): together more than the order-flow
family's arithmetic. So each snapshot is packed at once into bytes, which the
collector does not track, and its tuples are freed on the spot.

msgspec's MessagePack encoder writes a Python float as the 9 bytes ``0xcb``
plus the IEEE 754 double big-endian (the spec's float 64; msgspec never
narrows a float), ``None`` as ``0xc0``, and an array of ``n`` items as a header
(``0x90 | n`` below 16, ``0xdc`` and 2 bytes below 2**16, else ``0xdd`` and 4
bytes) followed by the items. ``unpack_batch`` reads the headers of all rows
at once and gathers the doubles through a view of the joined bytes that has a
big-endian double at every byte offset: bit for bit the packed floats (NaN
payloads and -0.0 included), at a few numpy operations per batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np

from orderflow.core.calculator import SnapshotLevels

__all__ = ["pack_into", "pack_levels", "unpack_batch", "unpack_levels"]

_ENCODER = msgspec.msgpack.Encoder()
pack_levels = _ENCODER.encode
"""``pack_levels(levels: SnapshotLevels) -> bytes``."""
pack_into = _ENCODER.encode_into
"""``pack_into(levels, scratch)``: ``pack_levels``'s bytes written over the bytearray
``scratch``, which ends where they end; ``bytes(scratch)`` is then ``pack_levels(levels)``.

The hot path's form: ``encode`` starts every row in a 32-byte buffer and
reallocates it about eight times on the way to a 25-level book's 930 bytes (1.7k
of its 7.7k instructions a row, callgrind); a scratch buffer reused row after
row has its size already. Each caller keeps its own scratch (threads)."""
_DECODE = msgspec.msgpack.Decoder().decode
_FLOAT, _NIL, _FIX_ARRAY, _ARRAY16, _ARRAY32 = 0xCB, 0xC0, 0x90, 0xDC, 0xDD
_TAIL = bytes(8)  # lets the double view start at every byte of the last row


def unpack_levels(packed: bytes) -> SnapshotLevels:
    """One packed row back as ``(obi, bid prices, bid sizes, ask prices, ask sizes)``."""
    obi, *sides = _DECODE(packed)
    return obi, *map(tuple, sides)  # type: ignore[return-value]


def unpack_batch(rows: Sequence[bytes]) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """``(obi, columns)`` of packed rows (at least one): OBI per row (NaN for None)
    and, for bid prices, bid sizes, ask prices and ask sizes, ``(counts,
    values)`` with ``values`` of shape ``(rows, max(1, max(counts)))``, NaN past
    a row's count. Raises ValueError for bytes ``pack_levels`` did not write."""
    joined = b"".join([*rows, _TAIL])  # not join(rows) + _TAIL: that copies it all again
    raw = np.frombuffer(joined, np.uint8)

    def byte(at: np.ndarray) -> np.ndarray:
        return raw[at].astype(np.int64)

    doubles = np.ndarray((len(joined) - 7,), ">f8", joined, 0, (1,))
    lengths = np.array([len(row) for row in rows], dtype=np.int64)
    ends = np.cumsum(lengths)
    at = ends - lengths
    # Rows of one length whose items all have one size sit at one stride.
    regular = int(lengths[0]) if (lengths == lengths[0]).all() else 0
    if (raw[at] != _FIX_ARRAY | 5).any():
        raise ValueError("not packed levels: a row is not a 5-item array")
    at = at + 1
    is_float = byte(at) == _FLOAT
    if not (is_float | (byte(at) == _NIL)).all():
        raise ValueError("not packed levels: OBI is neither a float nor None")
    obi = np.where(is_float, doubles[np.where(is_float, at + 1, 0)], np.nan)
    at = at + np.where(is_float, 9, 1)
    columns = []
    for _ in range(4):
        tag = byte(at)
        fix = (tag & 0xF0) == _FIX_ARRAY
        wide = tag == _ARRAY32
        if not (fix | wide | (tag == _ARRAY16)).all():
            raise ValueError("not packed levels: a side is not an array")
        count = (byte(at + 1) << 8) | byte(at + 2)
        count = np.where(wide, (count << 16) | (byte(at + 3) << 8) | byte(at + 4), count)
        count = np.where(fix, tag & 0x0F, count)
        first = at + np.where(fix, 2, np.where(wide, 6, 4))  # the first double's bytes
        regular = regular if (first - first[0] == np.arange(len(first)) * regular).all() else 0
        width = int(count.max())
        if regular and width and (count == width).all():
            columns.append((count, _strided(joined, first, width, regular)))
        else:
            columns.append((count, _gathered(raw, doubles, first, count)))
        at = first - 1 + 9 * count
    if (at != ends).any():
        raise ValueError("not packed levels: rows end elsewhere")
    return obi, columns


def _strided(joined: bytes, first: np.ndarray, width: int, stride: int) -> np.ndarray:
    """Rows ``stride`` bytes apart, each with ``width`` doubles from ``first``."""
    shape, strides = (len(first), width), (stride, 9)
    tags = np.ndarray(shape, np.uint8, joined, int(first[0]) - 1, strides)
    if not (tags == _FLOAT).all():
        raise ValueError("not packed levels: a level is not a float")
    return np.ndarray(shape, ">f8", joined, int(first[0]), strides).astype(np.float64)


def _gathered(
    raw: np.ndarray, doubles: np.ndarray, first: np.ndarray, count: np.ndarray
) -> np.ndarray:
    """Rows of any length and place, NaN past each row's count."""
    width = max(1, int(count.max()))
    present = np.arange(width) < count[:, None]
    offsets = np.where(present, first[:, None] + 9 * np.arange(width), 1)
    if not (raw[offsets - 1][present] == _FLOAT).all():
        raise ValueError("not packed levels: a level is not a float")
    return np.where(present, doubles[offsets].astype(np.float64), np.nan)
