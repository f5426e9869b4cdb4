"""The multi-resolution aggregates answer as the fine rows do, and the kept store is
reused, extended and rebuilt as the recording changes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from orderflow.query import Dataset
from orderflow.query.aggregates import base_for, nice_width_ns
from orderflow.query.store import store_path
from orderflow.store.connections import open_writer
from orderflow.synth.generator import SynthConfig, generate

S = 10**9


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ORDERFLOW_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def copy(synth_db: Path, tmp_path: Path) -> Path:
    path = tmp_path / "rec.db"
    with sqlite3.connect(synth_db) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    return path


def rows(table) -> list[tuple]:
    return [tuple(r.values()) for r in table.to_pylist()]


def assert_rows_close(got: list[tuple], want: list[tuple]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("window_s", [1, 5, 60, 120, 900, 3600])
def test_aggregated_candles_flow_and_band_equal_the_fine_rows(synth_db: Path, window_s: int):
    window = window_s * S
    assert base_for(window) is not None
    with Dataset(synth_db) as agg, Dataset(synth_db, materialize=False) as fine:
        for instrument in ("BTC-USDT", "ETH-USDT"):
            lo, hi = fine.extent(instrument)
            start = lo // window * window
            got = rows(agg.candles(instrument, start, hi + 1, window))
            want = rows(fine.candles(instrument, start, hi + 1, window))
            assert [g[:5] + g[7:] for g in got] == [w[:5] + w[7:] for w in want]  # exact OHLC
            assert_rows_close(got, want)
            assert_rows_close(
                rows(agg.candle_flow(instrument, start, hi + 1, window)),
                rows(fine.candle_flow(instrument, start, hi + 1, window)),
            )
            assert_rows_close(
                rows(agg.band(instrument, "obi", start, hi + 1, window)),
                rows(fine.band(instrument, "obi", start, hi + 1, window)),
            )


@pytest.mark.parametrize("column", ["cvd", "best_bid", "best_ask"])
def test_aggregate_points_keep_each_buckets_first_last_and_extremes(
    synth_db: Path, column: str
) -> None:
    with Dataset(synth_db) as agg, Dataset(synth_db, materialize=False) as fine:
        lo, hi = fine.extent("BTC-USDT")
        width = nice_width_ns(hi + 1 - lo, 40)
        assert width >= S
        points = rows(agg.points("BTC-USDT", column, lo, hi + 1, 40))
        raw = rows(fine.series("BTC-USDT", column, lo, hi + 1, None))
    buckets: dict[int, list[tuple]] = {}
    for ts, _, value in raw:
        buckets.setdefault(ts // width, []).append((ts, value))
    drawn: dict[int, list[tuple]] = {}
    for ts, value in points:
        drawn.setdefault(ts // width, []).append((ts, value))
    assert drawn.keys() == buckets.keys()
    for k, samples in buckets.items():
        values = [v for _, v in samples]
        got = drawn[k]
        assert got[0] == samples[0] and got[-1] == samples[-1]
        assert {v for _, v in got} == {values[0], values[-1], min(values), max(values)}


def test_store_is_built_once_then_reused_and_extended(copy: Path, cache: Path) -> None:
    with Dataset(copy, store=True) as first:
        assert first.persistent and not first.reused
        lo, hi = first.extent("BTC-USDT")
        before = rows(first.candles("BTC-USDT", lo // S * S, hi + 1, S))
    assert store_path(copy).is_file() and store_path(copy).parent == cache
    with Dataset(copy, store=True) as second:
        assert second.reused
        assert rows(second.candles("BTC-USDT", lo // S * S, hi + 1, S)) == before
    writer = open_writer(copy)
    writer.execute(
        "INSERT INTO trades (instrument, trade_id, price, size, side, timestamp) "
        "VALUES ('BTC-USDT', 'late', 50000.5, 2.0, 'buy', ?)",
        (str((hi + 3 * S) // 10**6),),
    )
    writer.close()
    with Dataset(copy, store=True) as third:  # reused, plus the row written since
        assert third.reused
        late = (hi + 3 * S) // S * S
        tail = rows(third.candles("BTC-USDT", late, late + S, S))
        assert tail == [(late, 50000.5, 50000.5, 50000.5, 50000.5, 2.0, 0.0, 1)]
        # an open store is not shared: a second server works in memory
        with Dataset(copy, store=True) as other:
            assert not other.persistent and not other.reused


def test_replaced_recording_is_copied_again(copy: Path, cache: Path, tmp_path: Path) -> None:
    with Dataset(copy, store=True) as dataset:
        first = dataset.instruments()
    copy.unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    generate(copy, SynthConfig(snapshots=900, instruments=3, seed=99))
    with Dataset(copy, store=True) as dataset:
        assert not dataset.reused
        assert dataset.instruments() != first and "SOL-USDT" in dataset.instruments()


def test_aggregate_columns_have_the_fine_types(synth_db: Path) -> None:
    """Counts stay int64 (a DuckDB sum of BIGINT is HUGEINT, which Bokeh cannot send)."""
    with Dataset(synth_db) as agg, Dataset(synth_db, materialize=False) as fine:
        lo, hi = fine.extent("BTC-USDT")
        for method, args in (
            ("candles", (lo // 60 // S * 60 * S, hi + 1, 60 * S)),
            ("candle_flow", (lo // 60 // S * 60 * S, hi + 1, 60 * S)),
        ):
            assert (
                getattr(agg, method)("BTC-USDT", *args).schema
                == getattr(fine, method)("BTC-USDT", *args).schema
            ), method
        band = (lo // S * S, hi + 1, S)
        assert (
            agg.band("BTC-USDT", "obi", *band).schema == fine.band("BTC-USDT", "obi", *band).schema
        )
