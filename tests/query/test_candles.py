"""Candles from DuckDB equal candles computed here in Python from the raw trade rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from orderflow.core.calculator import trade_sign
from orderflow.core.timestamps import parse_instant_ns
from orderflow.pipeline.range_metrics import trade_reject_reason
from orderflow.query import Dataset, candles, parse_window


def reference_candles(path: Path, instrument: str, start: int, end: int, window: int) -> list:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT id, instrument, price, size, side, timestamp FROM trades"
        ).fetchall()
    valid = []
    for tid, inst, price, size, side, stamp in rows:
        ts = parse_instant_ns(stamp)
        if inst != instrument or ts is None or trade_reject_reason(inst, price, size, side):
            continue
        if start <= ts < end:
            valid.append((ts, tid, float(price), float(size), trade_sign(side)))
    buckets: dict[int, list] = {}
    for trade in sorted(valid):
        buckets.setdefault(trade[0] // window * window, []).append(trade)
    out = []
    for b, trades in sorted(buckets.items()):
        prices = [t[2] for t in trades]
        out.append(
            (
                b,
                prices[0],
                max(prices),
                min(prices),
                prices[-1],
                sum(t[3] for t in trades if t[4] == 1),
                sum(t[3] for t in trades if t[4] == -1),
                len(trades),
            )
        )
    return out


def assert_candles_equal(got: list, want: list) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g[:5] == w[:5] and g[7] == w[7]
        assert g[5] == pytest.approx(w[5], rel=1e-12, abs=1e-12)
        assert g[6] == pytest.approx(w[6], rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("window", ["1s", "60s", "7s", "1h"])
@pytest.mark.parametrize("instrument", ["BTC-USDT", "ETH-USDT"])
def test_candles_match_reference(synth_db: Path, instrument: str, window: str) -> None:
    with Dataset(synth_db) as dataset:
        lo, hi = dataset.extent(instrument)
        got = dataset.candles(instrument, lo, hi + 1, parse_window(window)).to_pylist()
    want = reference_candles(synth_db, instrument, lo, hi + 1, parse_window(window))
    assert_candles_equal([tuple(r.values()) for r in got], want)
    assert sum(r[7] for r in want) > 100


def test_odd_trades_counted_and_rejects_excluded(synth_db: Path) -> None:
    start = parse_instant_ns("2024-03-01T00:00:30Z")
    end = parse_instant_ns("2024-03-01T00:00:40Z")
    table = candles(synth_db, "BTC-USDT", start, end, "1s", as_arrow=True)
    want = reference_candles(synth_db, "BTC-USDT", start, end, 10**9)
    assert_candles_equal([tuple(r.values())[1:] for r in table.to_pylist()], want)
    # the ISO, seconds, offset and microsecond trades landed in their seconds
    by_second = {r[0] // 10**9 - 1709251200: r for r in want}
    assert {30, 31, 32, 33} <= set(by_second)


def test_notebook_candles_dataframe(synth_db: Path) -> None:
    frame = candles(synth_db, "ETH-USDT", "2024-03-01T00:00:00Z", "2024-03-01T00:02:00Z", "1m")
    assert list(frame.columns)[:2] == ["time", "ts_ns"]
    assert [str(t) for t in frame["time"]] == [
        "2024-03-01 00:00:00+00:00",
        "2024-03-01 00:01:00+00:00",
    ]
    assert (frame["high"] >= frame["low"]).all()


def test_window_parsing() -> None:
    assert parse_window("500ms") == 500_000_000
    assert parse_window(60) == parse_window("1m") == parse_window("60s")
    assert parse_window("1d") == 86_400 * 10**9
    with pytest.raises(ValueError, match="expected"):
        parse_window("fortnight")
