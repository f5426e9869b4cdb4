"""Two recordings one after the other, asked as one Timeline, answer as one file holding
both would (CVD aside: each file starts its own at zero)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from orderflow.pipeline.storage import Storage
from orderflow.query import Dataset
from orderflow.query.timeline import Timeline
from orderflow.synth.generator import SynthConfig, generate

S = 10**9


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    """Two consecutive files (the second starts 20.05 s into a minute, so a 1-minute
    candle is cut by the edge) and one file holding both."""
    base = tmp_path_factory.mktemp("timeline")
    parts = [base / "a.db", base / "b.db"]
    generate(parts[0], SynthConfig(snapshots=2000, instruments=1, seed=1))
    generate(parts[1], SynthConfig(snapshots=2400, instruments=1, seed=2,
                                   start="2024-03-01T00:03:20.050Z"))  # fmt: skip
    both = base / "both.db"
    generate(both, SynthConfig(snapshots=1, instruments=1, seed=3))
    with sqlite3.connect(both) as conn:
        conn.execute("DELETE FROM book")
        conn.execute("DELETE FROM trades")
        for n, part in enumerate(parts):
            conn.execute(f"ATTACH ? AS p{n}", (str(part),))
            conn.execute(
                f"INSERT INTO book (instrument, bids, asks, timestamp) "
                f"SELECT instrument, bids, asks, timestamp FROM p{n}.book ORDER BY id"
            )
            conn.execute(f"INSERT INTO trades (instrument, trade_id, price, size, side, timestamp) "
                         f"SELECT instrument, trade_id, price, size, side, timestamp "
                         f"FROM p{n}.trades ORDER BY id")  # fmt: skip
        conn.commit()
    for path in (*parts, both):
        Storage(path, quiet=True).build_booktick_from_db()
    return parts, both


def rows(table) -> list[tuple]:
    return [tuple(r.values()) for r in table.to_pylist()]


def test_timeline_answers_as_one_file(files: tuple[list[Path], Path]) -> None:
    parts, both = files
    opened = {str(p): Dataset(p) for p in parts}
    try:
        timeline = Timeline([str(p) for p in parts], opened.__getitem__)
        with Dataset(both) as whole:
            instrument = "BTC-USDT"
            assert timeline.instruments() == whole.instruments() == [instrument]
            lo, hi = whole.extent(instrument)
            assert timeline.extent(instrument) == (lo, hi)
            for window in (S, 60 * S):
                got = rows(timeline.candles(instrument, lo // window * window, hi + 1, window))
                want = rows(whole.candles(instrument, lo // window * window, hi + 1, window))
                assert [g[:5] + g[7:] for g in got] == [w[:5] + w[7:] for w in want]
                for g, w in zip(got, want, strict=True):
                    assert g[5:7] == pytest.approx(w[5:7], rel=1e-9)
            band_t = rows(timeline.band(instrument, "obi", lo, hi + 1, 60 * S))
            band_w = rows(whole.band(instrument, "obi", lo, hi + 1, 60 * S))
            assert [b[0] for b in band_t] == [b[0] for b in band_w]
            for t, w in zip(band_t, band_w, strict=True):
                assert t == pytest.approx(w, rel=1e-9)
            tick = whole.tick(instrument)
            assert timeline.tick(instrument) == tick
            p_t = timeline.volume_profile(instrument, lo, hi + 1, 10 * tick)
            p_w = whole.volume_profile(instrument, lo, hi + 1, 10 * tick)
            assert p_t.bins == p_w.bins and p_t.total == pytest.approx(p_w.total, rel=1e-9)
            assert (p_t.poc, p_t.value_area_low, p_t.value_area_high) == (
                p_w.poc, p_w.value_area_low, p_w.value_area_high
            )  # fmt: skip
            top_t = rows(timeline.large_trades(instrument, lo, hi + 1, 0.0, 50))
            top_w = rows(whole.large_trades(instrument, lo, hi + 1, 0.0, 50))
            assert top_t == top_w
            second = opened[str(parts[1])].extent(instrument)[0]
            assert timeline.values_at(instrument, "cvd", [second - 1, second]) == [
                opened[str(parts[0])].values_at(instrument, "cvd", [second - 1])[0],
                opened[str(parts[1])].values_at(instrument, "cvd", [second])[0],
            ]
            empty = timeline.candles(instrument, hi + 10 * S, hi + 20 * S, S)
            assert (
                empty.num_rows == 0 and empty.schema == whole.candles(instrument, lo, hi, S).schema
            )
    finally:
        for dataset in opened.values():
            dataset.close()
