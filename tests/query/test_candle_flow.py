"""OFI and MLOFI per candle from DuckDB equal sums over the stored metrics rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from orderflow.query import Dataset


@pytest.mark.parametrize("window_s", [1, 7, 60])
def test_candle_flow_sums_the_stored_steps(synth_db: Path, window_s: int) -> None:
    window = window_s * 10**9
    with sqlite3.connect(synth_db) as conn:
        rows = conn.execute(
            "SELECT ts_ns, ofi, mlofi FROM metrics"
            " WHERE instrument = 'ETH-USDT' AND ofi IS NOT NULL"
        ).fetchall()
    want: dict[int, list[float]] = {}
    for ts, ofi, mlofi in rows:
        cell = want.setdefault(ts // window * window, [0.0, 0.0, 0])
        cell[0] += ofi
        cell[1] += mlofi
        cell[2] += 1
    with Dataset(synth_db) as dataset:
        lo, hi = dataset.extent("ETH-USDT")
        got = dataset.candle_flow("ETH-USDT", lo // window * window, hi + 1, window).to_pylist()
    assert [r["ts_ns"] for r in got] == sorted(want)
    for r in got:
        ofi, mlofi, n = want[r["ts_ns"]]
        assert r["snapshots"] == n
        assert r["ofi"] == pytest.approx(ofi, rel=1e-9, abs=1e-9)
        assert r["mlofi"] == pytest.approx(mlofi, rel=1e-9, abs=1e-9)
    assert len(rows) > 1000 and any(r["ofi"] != r["mlofi"] for r in got)
