"""Many heatmap rows packed at once: each row decodes to its cells, in the smaller packing."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.store.heatmap_store import decode_cells, encode_rows

row = st.lists(st.integers(-80_000, 80_000), max_size=12, unique=True).map(sorted)


def _packed_size(first: int | None, offsets: bytes | None, blob: bytes) -> int:
    return len(blob) + (0 if offsets is None else len(offsets))


@settings(max_examples=300, deadline=None)
@given(st.lists(row, max_size=8), st.data())
def test_each_row_round_trips_in_its_smallest_packing(rows: list[list[int]], data) -> None:
    ends = np.cumsum([len(r) for r in rows], dtype=np.int64)
    bins = np.array([b for r in rows for b in r], dtype=np.int64)
    sums = (
        np.array(
            data.draw(st.lists(st.integers(1, 10**6), min_size=len(bins), max_size=len(bins))),
            dtype=np.float64,
        )
        / 8
    )  # float32-exact
    encoded = encode_rows(bins, sums, ends)
    assert len(encoded) == len(rows)
    start = 0
    for r, (first, offsets, blob) in zip(rows, encoded, strict=True):
        want_bins, want_sums = bins[start : start + len(r)], sums[start : start + len(r)]
        start += len(r)
        if not r:
            assert (first, offsets, blob) == (None, None, b"")
            continue
        back_bins, back_sums = decode_cells(first, offsets, blob)
        keep = back_sums != 0
        np.testing.assert_array_equal(back_bins[keep], want_bins)
        np.testing.assert_array_equal(back_sums[keep], want_sums)
        span = r[-1] - r[0] + 1
        width = 2 if span <= 0xFFFF else 4
        assert _packed_size(first, offsets, blob) == min(span * 4, len(r) * (4 + width))


def test_no_rows() -> None:
    assert encode_rows(np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64)) == []
