"""CVD additivity and OFI stitching over any split, through the real range code.

Splitting a file at arbitrary instants and stitching each range's relative CVD
with the running signed volume of the ranges before it, and each range's first
OFI of an instrument with the previous range's tail, must reproduce the
single-range (in-process) result: this is the property the sharded coordinator
relies on.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.recordings import write_recording

from orderflow.core.order_flow import ofi_pair
from orderflow.pipeline.range_metrics import RangeMetrics
from orderflow.store.input_repository import SQLiteOrderflowRepository

INSTRUMENTS = ("X", "Y")


@pytest.fixture(scope="module")
def tied_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Many snapshots and trades share instants, on both instruments."""
    books, trades = [], []
    for i in range(240):
        instant = 1_000 + i // 4  # four snapshots per instant
        bids = [[100 + (i % 7), 1 + i % 3], [99, 0.5]]
        books.append((INSTRUMENTS[i % 2], bids, [[110, 1 + (i % 5)]], str(instant)))
    for j in range(300):
        instant = 995 + j // 5  # trades before, at and after snapshot instants
        trades.append(
            (INSTRUMENTS[j % 2], 100, 0.1 * (j % 9), "buy" if j % 3 else "sell", str(instant))
        )
    return write_recording(tmp_path_factory.mktemp("split") / "tied.db", books, trades)


def run_ranges(path: Path, cuts: list[int | None]) -> dict[int, tuple]:
    repo = SQLiteOrderflowRepository(path)
    conn = repo.connect()
    book_scan = repo.scan_order(conn, "book")
    trade_scan = repo.scan_order(conn, "trades")
    offsets = dict.fromkeys(INSTRUMENTS, 0.0)
    tails: dict = {}
    out = {}
    for start, end in itertools.pairwise(cuts):
        work = RangeMetrics(repo, conn, book_scan, trade_scan, start, end, ofi_levels=2)
        seen = set()
        for sid, _ts, obi, cvd, bb, ba, instrument, ns, *flow in work.rows():
            assert sid not in out, "snapshot computed twice"
            if instrument not in seen:
                seen.add(instrument)
                assert flow[-2:] == [None, None]  # left for the coordinator
                flow[-2:] = ofi_pair(tails.get(instrument), work.heads[instrument], 2)
            out[sid] = (instrument, ns, bb, ba, obi, cvd + offsets[instrument], flow)
        for instrument, volume in work.signed_volume.items():
            offsets[instrument] += volume
        tails.update(work.tails)
    conn.close()
    return out


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.integers(min_value=990, max_value=1_070), max_size=12, unique=True))
def test_any_split_matches_the_single_range(tied_recording: Path, raw_cuts: list[int]) -> None:
    whole = run_ranges(tied_recording, [None, None])
    ns = [c * 10**9 for c in sorted(raw_cuts)]  # instants exactly on snapshot/trade ties
    split = run_ranges(tied_recording, [None, *ns, None])
    assert split.keys() == whole.keys()
    assert any(row[-1][-1] not in (None, 0.0) for row in whole.values())
    for sid, (instrument, t, bb, ba, obi, cvd, flow) in whole.items():
        s_instrument, s_t, s_bb, s_ba, s_obi, s_cvd, s_flow = split[sid]
        assert (s_instrument, s_t, s_bb, s_ba, s_flow) == (instrument, t, bb, ba, flow)
        assert s_obi == pytest.approx(obi, abs=1e-12)
        assert s_cvd == pytest.approx(cvd, abs=1e-9 * 300)
