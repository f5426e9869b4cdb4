"""metrics.md's per-snapshot clauses, hand-computed, on the in-process path and on
kernel workers with a shard edge between almost every pair of snapshots.

Each snapshot pins a clause: numeric strings, 2- and 4-element levels, levels in
any order, equal prices merged, zero sizes not counted, an empty side, a crossed
book, equal instants ordered by id (ids not in time order), the timestamp forms
the spec allows, OFI NULL at the first snapshot and after one lacking a side and
taken across an invalid snapshot; trades before the first snapshot, at a
snapshot's instant, after the last, with any letter case, and the rejects."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.coordinator.harness import run_coord
from tests.coordinator.metrics_equality import read_metrics, read_rejects
from tests.recordings import write_recording

T0 = 1_709_251_200  # 2024-03-01T00:00:00Z, seconds
BOOKS = [
    (1, "A", [[100, 1], [99, 2]], [[101, 3]], f"{T0}000"),
    (2, "A", [["99", "2"], ["100.5", "1"], ["100.5", "0.5"], [101, 0]], [[101, 1, 5, 5], [102, 4]],
     "2024-03-01T00:00:00.500Z"),
    (3, "A", [[100, -1]], [[101, 1]], f"{T0 + 1}000"),  # invalid: negative size
    (4, "A", "[]", [[101, 1]], f"{T0 + 2}"),  # no bids
    (50, "A", [[100, 2]], [[99.5, 4]], f"{T0 + 3}000000000"),  # crossed, after id 40
    (40, "A", [[100, 1]], [[101, 1]], "2024-03-01T01:00:03+01:00"),  # same instant as 50
    (7, "A", [[100, 0]], [[101, 0]], "2024-03-01 00:00:04"),  # nothing counted
    (8, "A", [[100, 1]], [[101, 1]], f"{T0 + 5}.5"),  # previous one lacks both sides
    (9, "A", [[100, 1, None, 1]], [[101, 1]], f"{T0 + 6}"),  # invalid: null count
    (10, "A", '{"a": 1}', [[101, 1]], f"{T0 + 7}"),  # invalid: not an array
    (11, "A", [[100, 2], [99, 1]], [[101, 4], [101, 1]], f"{T0 + 8}"),  # OFI against 8
    (16, "B", [[10, 1]], [[11, 1]], f"{T0}000"),
    (17, "B", [[10, 1]], [[11, 2]], f"{T0 + 1}000"),
]  # fmt: skip
TRADES = [
    (1, "A", 100.0, 2.0, "buy", f"{T0 - 1}"),  # before the first snapshot
    (2, "A", 100.0, 0.75, "SELL", "2024-03-01T00:00:00.5+00:00"),  # at snapshot 2
    (3, "A", 100.0, 1.0, "Buy", f"{T0}500000"),  # at snapshot 2, microseconds
    (4, "A", 100.0, 5.0, "hold", f"{T0}600"),  # invalid side
    (5, "A", 100.0, -1.0, "buy", f"{T0}600"),  # invalid size
    (6, "A", 100.0, 0.0, "buy", f"{T0}600"),  # valid, adds nothing
    (7, "A", 100.0, 4.0, "sell", f"{T0 + 3}000"),  # at snapshots 40 and 50
    (8, "A", 100.0, 9.0, "buy", f"{T0 + 99}"),  # after the last snapshot
    (9, "B", 10.0, 3.0, "sell", f"{T0}"),  # at snapshot 16
    (10, "A", 100.0, 1.0, "buy", "yesterday"),  # invalid timestamp
]
NULL = None
# snapshot: (best_bid, best_ask, obi, cvd, spread, mid, weighted_mid, bid_size_1,
#            ask_size_1, obi_l1, obi_l5, obi_l10, ofi, mlofi)
WANT = {
    1: (100, 101, 0, 2, 1, 100.5, 100.25, 1, 3, -0.5, 0, 0, NULL, NULL),
    # bids 100.5 (1 + 0.5), 99 (2); asks 101 (1), 102 (4); e1 = 1.5 - (1 - 3)
    2: (100.5, 101, -1.5 / 8.5, 2.25, 0.5, 100.75, 100.8, 1.5, 1, 0.2, -1.5 / 8.5,
        -1.5 / 8.5, 3.5, 3.5),
    4: (NULL, 101, -1, 2.25, NULL, NULL, NULL, NULL, 1, -1, -1, -1, NULL, NULL),
    40: (100, 101, 0, -1.75, 1, 100.5, 100.5, 1, 1, 0, 0, 0, NULL, NULL),
    # against 40: bids equal (2 - 1), asks lower (dV = 4)
    50: (100, 99.5, -1 / 3, -1.75, -0.5, 99.75, (100 * 4 + 99.5 * 2) / 6, 2, 4, -1 / 3,
         -1 / 3, -1 / 3, -3, -3),
    7: (NULL, NULL, NULL, -1.75, *[NULL] * 10),
    8: (100, 101, 0, -1.75, 1, 100.5, 100.5, 1, 1, 0, 0, 0, NULL, NULL),
    # against 8 (9 and 10 invalid): e1 = (2 - 1) - (5 - 1); level 2: 8 has no second levels
    11: (100, 101, -2 / 8, -1.75, 1, 100.5, (100 * 5 + 101 * 2) / 7, 2, 5, -3 / 7,
         -2 / 8, -2 / 8, -3, -3),
    16: (10, 11, 0, -3, 1, 10.5, 10.5, 1, 1, 0, 0, 0, NULL, NULL),
    17: (10, 11, -1 / 3, -3, 1, 10.5, (10 * 2 + 11) / 3, 1, 2, -1 / 3, -1 / 3, -1 / 3, -1, -1),
}  # fmt: skip
REJECTS = {("book", i) for i in (3, 9, 10)} | {("trades", i) for i in (4, 5, 10)}


@pytest.mark.parametrize("flags", [("--workers", 0), ("--workers", 2, "--shards", 12)])
def test_every_clause_by_hand(tmp_path: Path, flags: tuple) -> None:
    path = write_recording(tmp_path / "spec.db", BOOKS, TRADES)
    done = run_coord(*flags, "--quiet", path)
    assert done.returncode == 0, done.stderr
    got = read_metrics(path)
    assert set(got) == set(WANT)
    for snapshot, want in WANT.items():
        best_bid, best_ask, obi, cvd, _, _, *flow = got[snapshot]
        row = (best_bid, best_ask, obi, cvd, *flow)
        for column, (value, expected) in enumerate(zip(row, want, strict=True)):
            assert (value is None) == (expected is None), (snapshot, column, value)
            if expected is not None:
                assert value == pytest.approx(expected, rel=1e-12, abs=1e-12), (snapshot, column)
    assert read_rejects(path) == REJECTS


def test_sums_past_the_largest_double_give_the_same_rows_on_every_path(tmp_path: Path) -> None:
    """Valid input whose float sums overflow: trades of 1e308 (CVD), best prices whose
    mid is past 1.8e308, top sizes whose OFI terms add past it. The in-process path
    stores the infinities; the coordinator refused them from workers ('a CVD that is
    not a finite number', 'an infinite mid'), so the same file failed there."""
    books = [
        (1, "A", [[1e308, 1]], [[1.7e308, 1]], f"{T0}"),
        (2, "A", [[100, 1.5e308]], [[101, 1]], f"{T0 + 1}"),
        (3, "A", [[99, 1]], [[101, 1.5e308]], f"{T0 + 2}"),
    ]
    trades = [(1, "A", 100.0, 1e308, "buy", f"{T0}"), (2, "A", 100.0, 1e308, "buy", f"{T0}")]
    rows = {}
    for flags in (("--workers", 0), ("--workers", 2, "--shards", 3)):
        path = write_recording(tmp_path / f"big{len(flags)}.db", books, trades)
        done = run_coord(*flags, "--quiet", path)
        assert done.returncode == 0, done.stderr
        rows[flags] = read_metrics(path)
    inprocess, workers = rows.values()
    assert inprocess == workers
    assert inprocess[1][3] == inprocess[1][7] == math.inf  # cvd, mid
    assert inprocess[3][14] == -math.inf  # ofi: -1.5e308 (bids) - 1.5e308 (asks)
