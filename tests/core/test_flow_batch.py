"""The batch form of the order-flow family (``flow_batch``, ``packed_levels``) against
the per-snapshot reference (``snapshot_values``, ``book_top``, ``HeatmapAccumulator.add``),
bit for bit, on arbitrary books: any order, repeated prices, zero sizes, empty and
missing sides, two- and four-field levels, text and numbers, rows of different depth."""

from __future__ import annotations

import contextlib
import json
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderflow.core.calculator import InvalidSnapshot, snapshot_levels, snapshot_values
from orderflow.core.flow_batch import FLOW_VALUES, flow_batch
from orderflow.core.heatmap import HeatmapAccumulator
from orderflow.core.packed_levels import pack_into, pack_levels, unpack_batch, unpack_levels

ALL_LEVELS = 1 << 62


def _bits(value: float | None) -> bytes | None:
    """NaN and None both stand for NULL; anything else compares bit for bit."""
    return None if value is None or value != value else struct.pack("<d", value)


any_floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


float_lists = st.lists(any_floats, max_size=20)
packed_rows = st.lists(
    st.tuples(st.one_of(st.none(), any_floats), float_lists, float_lists, float_lists, float_lists),
    min_size=1,
    max_size=12,
)


@given(packed_rows)
def test_unpacked_batch_is_every_float_bit_for_bit(rows) -> None:
    """Any floats (NaN, infinities, -0.0, subnormals), sides of 0 to 20 levels (both
    MessagePack array headers), OBI None or a float."""
    obi, columns = unpack_batch([pack_levels(row) for row in rows])
    assert [_bits(v) for v in obi.tolist()] == [_bits(row[0]) for row in rows]
    for k, (counts, values) in enumerate(columns):
        assert counts.tolist() == [len(row[k + 1]) for row in rows]
        for i, row in enumerate(rows):
            side = row[k + 1]
            assert values[i, : len(side)].tobytes() == np.array(side, dtype=np.float64).tobytes()
            assert np.isnan(values[i, len(side) :]).all()
    for row in rows:
        back = unpack_levels(pack_levels(row))
        assert [[_bits(x) for x in side] for side in back[1:]] == [
            [_bits(x) for x in side] for side in row[1:]
        ]


@given(st.lists(st.tuples(st.integers(0, 300), any_floats), min_size=1, max_size=8))
def test_packing_through_one_scratch_buffer_is_pack_levels(shapes) -> None:
    """Rows packed one after another over one bytearray, shorter and longer than the
    one before and than the buffer itself, are each exactly ``pack_levels``' bytes."""
    scratch = bytearray(64)
    for width, value in shapes:
        row = (value, [value] * width, [1.5] * width, [value] * (width // 2), [])
        pack_into(row, scratch)
        assert bytes(scratch) == pack_levels(row)


@given(st.integers(1, 12), st.lists(st.integers(0, 20), min_size=4, max_size=4), st.data())
def test_unpacked_batch_of_equal_rows_is_every_float_bit_for_bit(n, widths, data) -> None:
    """Rows of one shape (recordings of a fixed depth) are read at one stride."""
    rows = [
        (
            data.draw(any_floats),
            *(data.draw(st.lists(any_floats, min_size=w, max_size=w)) for w in widths),
        )
        for _ in range(n)
    ]
    obi, columns = unpack_batch([pack_levels(row) for row in rows])
    assert obi.tobytes() == np.array([row[0] for row in rows], dtype=np.float64).tobytes()
    for k, (counts, values) in enumerate(columns):
        assert counts.tolist() == [widths[k]] * n
        want = np.array([row[k + 1] for row in rows], dtype=np.float64).reshape(n, widths[k])
        assert values[:, : widths[k]].tobytes() == want.tobytes()


def test_unpack_refuses_what_pack_levels_did_not_write() -> None:
    good = pack_levels((0.5, (1.0,), (2.0,), (3.0,), (4.0,)))
    for bad in (
        pack_levels((0.5, (1.0,), (2.0,), (3.0,))),  # four items
        pack_levels(("x", (1.0,), (2.0,), (3.0,), (4.0,))),  # OBI not a number
        pack_levels((0.5, (1.0,), (2**40,), (3.0,), (4.0,))),  # an int of 9 bytes, like a float
        pack_levels((0.5, 1.0, (2.0,), (3.0,), (4.0,))),  # a side that is not an array
        good[:-1],
    ):
        with pytest.raises(ValueError, match="not packed levels"):
            unpack_batch([good, bad])


# Prices on a coarse grid so that repeats and crossed books are common.
prices = st.one_of(
    st.integers(min_value=0, max_value=12).map(lambda tick: tick * 0.5),
    st.floats(min_value=0, max_value=1e6, allow_nan=False),
)
positive_sizes = st.one_of(
    st.sampled_from([1.0, 2.5, 1e-300]), st.floats(min_value=1e-6, max_value=1e6)
)
# Mostly valid sides, sometimes a level the spec rejects.
bad_level = st.sampled_from([["1", "-1", "0", "1"], ["nan", "1"], ["1", "2", "3", "4", "5"]])


@st.composite
def side_json(draw) -> str:
    """A stored side: usually all sizes > 0 and four fields (the fast path), in any
    order or best first; sometimes zero sizes, two fields or a rejected level."""
    sizes = positive_sizes if draw(st.integers(0, 3)) else st.one_of(positive_sizes, st.just(0.0))
    levels = draw(st.lists(st.tuples(prices, sizes, st.booleans()), max_size=14))
    four = draw(st.integers(0, 3)) > 0
    if draw(st.booleans()):  # best first, as recordings almost always are
        levels.sort(key=lambda lv: lv[0], reverse=draw(st.booleans()))
    out = [
        [repr(p) if text else p, repr(s) if text else s, *(["0", "3"] if four else [])]
        for p, s, text in levels
    ]
    if draw(st.integers(0, 15)) == 0:
        out.insert(draw(st.integers(0, len(out))), draw(bad_level))
    return json.dumps(out)


snapshots = st.lists(
    st.tuples(side_json(), side_json(), st.sampled_from(["a", "b"])), min_size=1, max_size=25
)


@given(snapshots, st.one_of(st.none(), st.integers(1, 6)), st.integers(1, 6))
def test_batch_values_equal_snapshot_values_bit_for_bit(rows, depth, levels) -> None:
    """Every value and ``BookTop`` of ``flow_batch`` over ``snapshot_levels`` equals
    ``snapshot_values`` row by row; ``snapshot_levels`` rejects what it rejects."""
    reference, found = [], []
    for bids, asks, _ in rows:
        try:
            want = snapshot_values(bids, asks, depth, levels)
        except InvalidSnapshot as exc:
            with pytest.raises(InvalidSnapshot, match=str(exc)):
                snapshot_levels(bids, asks, depth)
            continue
        reference.append(want)
        found.append(pack_levels(snapshot_levels(bids, asks, depth)))
    if not found:
        return
    batch = flow_batch(found)
    for i, want in enumerate(reference):
        got = [batch.values[k, i] for k in range(len(FLOW_VALUES))]
        assert [_bits(v) for v in got] == [_bits(v) for v in want[:11]]
        assert batch.book_top(i, levels) == want[11]
        tops = batch.tops(levels)[:, i]
        for side, reference_side in zip(tops, want[11], strict=True):
            assert side[: len(reference_side)].tolist() == list(reference_side)
        assert np.isnan(tops[0, len(want[11][0]) :]).all()
        assert np.isnan(tops[2, len(want[11][2]) :]).all()


@given(snapshots)
def test_batch_levels_feed_the_heatmap_as_add_does(rows) -> None:
    """The batch's flat levels through ``add_many`` give the partials of ``add`` with
    each snapshot's reference levels (every aggregated level, best first)."""
    valid = []
    for bids, asks, name in rows:
        with contextlib.suppress(InvalidSnapshot):
            valid.append((name, snapshot_values(bids, asks, None, ALL_LEVELS)[11], bids, asks))
    if not valid:
        return
    ticks = {"a": 0.5, "b": 0.25}
    one = HeatmapAccumulator(ticks, 1)
    for t, (name, top, _, _) in enumerate(valid):
        one.add(name, t * 400_000, *top)
    batch = flow_batch([pack_levels(snapshot_levels(bids, asks)) for _, _, bids, asks in valid])
    bulk = HeatmapAccumulator(ticks, 1)
    bulk.add_many(
        ["a", "b"],
        np.array([0 if name == "a" else 1 for name, *_ in valid]),
        np.arange(len(valid)) * 400_000,
        batch.bids.counts,
        *batch.bids.flat(),
        batch.asks.counts,
        *batch.asks.flat(),
    )
    assert bulk.partials() == one.partials()
