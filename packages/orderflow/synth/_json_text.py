"""Book sides as JSON text for a whole block of snapshots at once, built in numpy.

Formatting every number with an f-string cost the generator most of its time
(50 levels x 3 numbers per snapshot). Here all numbers of a block are
fixed-point integers (price in units of 10^-decimals, size in thousandths), so
their digits come from integer division; each snapshot's text is a row of a
byte matrix in which 0 marks padding (suppressed leading zeros, the missing
comma after a side's last level), removed in one masked copy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fixed_point_chars", "sides_json"]

_PAD = 0


def _literal(text: str, shape: tuple[int, ...]) -> np.ndarray:
    """``text`` as bytes broadcast over ``shape`` (a constant piece of the template)."""
    row = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return np.broadcast_to(row, (*shape, len(row)))


def fixed_point_chars(values: np.ndarray, decimals: int) -> np.ndarray:
    """Digits of non-negative integers ``values`` read as fixed point with ``decimals``.

    Returns uint8 of shape ``values.shape + (width,)``: e.g. 432501 with 1 decimal
    is ``43250.1``, 7 with 3 decimals is ``0.007``; leading zeros are padding.
    """
    v = np.asarray(values, dtype=np.int64)
    if v.size and int(v.min()) < 0:
        raise ValueError("fixed_point_chars formats non-negative values only")
    top = int(v.max()) if v.size else 0
    n_digits = max(len(str(top)), decimals + 1)
    dtype = np.int32 if top < 2**31 else np.int64  # int32 division is about twice as fast
    powers = 10 ** np.arange(n_digits - 1, -1, -1, dtype=dtype)
    quotients = v.astype(dtype)[..., None] // powers
    chars = (quotients - quotients // 10 * 10 + ord("0")).astype(np.uint8)
    int_len = n_digits - decimals
    # A zero quotient means this digit and all before it are zero: a leading zero,
    # except the units digit, which always shows ("0.007").
    chars[..., : int_len - 1][quotients[..., : int_len - 1] == 0] = _PAD
    if not decimals:
        return chars
    point = _literal(".", v.shape)
    return np.concatenate([chars[..., :int_len], point, chars[..., int_len:]], axis=-1)


def _side_matrix(
    prices: np.ndarray, sizes: np.ndarray, counts: np.ndarray, decimals: int
) -> np.ndarray:
    """One side of every snapshot as a padded byte matrix (snapshots, width)."""
    shape = prices.shape
    level = np.concatenate(
        [
            _literal('["', shape),
            fixed_point_chars(prices, decimals),
            _literal('","', shape),
            fixed_point_chars(sizes, 3),
            _literal('","0","', shape),
            fixed_point_chars(counts, 0),
            _literal('"],', shape),
        ],
        axis=-1,
    )
    level[:, -1, -1] = _PAD  # no comma after the last level
    rows = level.reshape(shape[0], -1)
    n = shape[0]
    return np.concatenate([_literal("[", (n,)), rows, _literal("]", (n,))], axis=-1)


def _rows_text(matrix: np.ndarray) -> list[str]:
    """Each row of a padded byte matrix as a string, padding removed."""
    keep = matrix != _PAD
    ends = np.cumsum(keep.sum(axis=1))
    text = matrix[keep].tobytes().decode("ascii")
    starts = np.concatenate([[0], ends[:-1]])
    return [text[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]


def sides_json(
    prices: np.ndarray, size_milli: np.ndarray, counts: np.ndarray, decimals: int
) -> list[str]:
    """Per snapshot, ``[["43250.1","0.532","0","3"],...]`` for one side.

    ``prices`` are integers in units of 10^-``decimals``, ``size_milli`` sizes in
    thousandths, ``counts`` order counts; all of shape (snapshots, levels).
    """
    return _rows_text(_side_matrix(prices, size_milli, counts, decimals))
