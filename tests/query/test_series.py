"""M4-reduced series equal an independent pure-Python M4 over the stored metrics."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from orderflow.query import Dataset, metrics


def reference_m4(path: Path, instrument: str, column: str, start: int, end: int, buckets: int):
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            f"SELECT ts_ns, snapshot_id, {column} FROM metrics WHERE instrument = ?",
            (instrument,),
        ).fetchall()
    width = max(1, -(-(end - start) // buckets))
    groups: dict[int, list] = {}
    for ts, sid, value in sorted(rows):
        if value is not None and start <= ts < end:
            groups.setdefault((ts - start) // width, []).append((ts, sid, value))
    picks = set()
    for samples in groups.values():  # samples are in (ts, sid) order
        low = min(s[2] for s in samples)
        high = max(s[2] for s in samples)
        picks.add(samples[0])
        picks.add(samples[-1])
        picks.add(next(s for s in samples if s[2] == low))
        picks.add(next(s for s in samples if s[2] == high))
    return sorted(picks)


@pytest.mark.parametrize("column", ["obi", "cvd", "mid"])
@pytest.mark.parametrize("buckets", [1, 7, 60, 5000])
def test_m4_matches_reference(synth_db: Path, column: str, buckets: int) -> None:
    with Dataset(synth_db) as dataset:
        lo, hi = dataset.extent("BTC-USDT")
        start, end = lo + (hi - lo) // 5, hi - (hi - lo) // 7
        got = dataset.series("BTC-USDT", column, start, end, buckets).to_pylist()
    sql_column = "(best_bid + best_ask) / 2" if column == "mid" else column
    want = reference_m4(synth_db, "BTC-USDT", sql_column, start, end, buckets)
    assert [(r["ts_ns"], r["snapshot_id"], r["value"]) for r in got] == want
    assert len(got) <= 4 * buckets


def test_spike_survives_reduction(synth_db: Path, tmp_path: Path) -> None:
    """A one-snapshot OBI spike inside a long range still shows at 10 buckets."""
    copy = tmp_path / "spike.db"
    with sqlite3.connect(synth_db) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
        sid, ts = dst.execute(
            "SELECT snapshot_id, ts_ns FROM metrics WHERE instrument = 'ETH-USDT' "
            "ORDER BY ts_ns LIMIT 1 OFFSET 700"
        ).fetchone()
        dst.execute("UPDATE metrics SET obi = 0.999999 WHERE snapshot_id = ?", (sid,))
    with Dataset(copy) as dataset:
        lo, hi = dataset.extent("ETH-USDT")
        got = dataset.series("ETH-USDT", "obi", lo, hi + 1, 10).to_pylist()
    assert {"ts_ns": ts, "snapshot_id": sid, "value": 0.999999} in got


def test_notebook_metrics_reduced_and_raw(synth_db: Path) -> None:
    raw = metrics(synth_db, "ETH-USDT")
    with sqlite3.connect(synth_db) as conn:
        count = conn.execute("SELECT count(*) FROM metrics WHERE instrument = 'ETH-USDT'")
        assert len(raw) == count.fetchone()[0]
    assert raw["ts_ns"].is_monotonic_increasing
    reduced = metrics(synth_db, "ETH-USDT", max_points=80)
    assert 0 < len(reduced) <= 80
    assert reduced["obi"].max() == raw["obi"].max()
    assert reduced["cvd"].min() == raw["cvd"].min()
    arrow = metrics(synth_db, "ETH-USDT", "2024-03-01T00:00:10Z", 1709251220000, as_arrow=True)
    assert arrow.num_rows == int(
        ((raw["ts_ns"] >= 1709251210 * 10**9) & (raw["ts_ns"] < 1709251220 * 10**9)).sum()
    )
