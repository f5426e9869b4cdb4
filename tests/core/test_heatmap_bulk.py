"""``HeatmapAccumulator.add_many`` (the kernel's way in) against ``add`` row by row:
the same partials bit for bit, also across the binning of ``COMPACT_LEVELS`` pending
levels and when both ways are mixed."""

from __future__ import annotations

import numpy as np

from orderflow.core.heatmap import COMPACT_LEVELS, HeatmapAccumulator


def _rows(seed: int, n: int, deepest: int) -> tuple:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 3, n).astype(np.int32)
    ts = np.sort(rng.integers(0, 50 * 10**9, n))
    sides = []
    for _ in range(2):
        counts = rng.integers(0, deepest + 1, n)
        prices = np.round(100 + rng.normal(0, 3, int(counts.sum())), 1)
        sizes = rng.random(int(counts.sum())) * 7
        sides += [counts, prices, sizes]
    return ["X", "Y", "Z"], codes, ts, *sides


def _one_by_one(acc: HeatmapAccumulator, rows: tuple, lo: int, hi: int) -> None:
    names, codes, ts, bc, bp, bs, ac, ap, as_ = rows
    b0, a0 = np.r_[0, np.cumsum(bc)], np.r_[0, np.cumsum(ac)]
    for r in range(lo, hi):
        acc.add(
            names[codes[r]],
            int(ts[r]),
            bp[b0[r] : b0[r + 1]].tolist(),
            bs[b0[r] : b0[r + 1]].tolist(),
            ap[a0[r] : a0[r + 1]].tolist(),
            as_[a0[r] : a0[r + 1]].tolist(),
        )


def _slice(rows: tuple, lo: int, hi: int) -> tuple:
    names, codes, ts, bc, bp, bs, ac, ap, as_ = rows
    b0, a0 = np.r_[0, np.cumsum(bc)], np.r_[0, np.cumsum(ac)]
    return (
        names,
        codes[lo:hi],
        ts[lo:hi],
        bc[lo:hi],
        bp[b0[lo] : b0[hi]],
        bs[b0[lo] : b0[hi]],
        ac[lo:hi],
        ap[a0[lo] : a0[hi]],
        as_[a0[lo] : a0[hi]],
    )


TICKS = {"X": 0.1, "Z": 0.5}  # Y has no tick


def test_add_many_equals_add_row_by_row() -> None:
    rows = _rows(1, 3000, 12)
    one = HeatmapAccumulator(TICKS, 250)
    _one_by_one(one, rows, 0, 3000)
    bulk = HeatmapAccumulator(TICKS, 250)
    bulk.add_many(*rows)
    assert bulk.pending_span() == one.pending_span()
    assert bulk.partials() == one.partials()


def test_add_many_bins_where_add_would_and_mixes_with_add() -> None:
    n = 2 * COMPACT_LEVELS // 40 + 500  # more than two binnings' worth of levels
    rows = _rows(2, n, 40)
    one = HeatmapAccumulator(TICKS, 20_000)  # wide buckets: cells span the binning
    _one_by_one(one, rows, 0, n)
    mixed = HeatmapAccumulator(TICKS, 20_000)
    third = n // 3
    mixed.add_many(*_slice(rows, 0, third))
    _one_by_one(mixed, rows, third, 2 * third)
    mixed.add_many(*_slice(rows, 2 * third, n))
    want, got = one.partials(), mixed.partials()
    assert len(want) > 0
    assert got == want
