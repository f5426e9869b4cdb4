"""The volume profile and the largest trades of a range holding whole hours come from
the hourly aggregates and the edge trades, and answer as the trades themselves do;
the aggregates follow appended trades, and a store kept without them (or without the
book lines' aggregates) gets them when reused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import pytest

from orderflow.pipeline.storage import Storage
from orderflow.query import Dataset
from orderflow.query.store import store_path
from orderflow.query.trade_aggregates import HOUR_NS, TOP_TRADES, whole_hours
from orderflow.store.connections import open_writer
from orderflow.synth.generator import SynthConfig, generate

S = 10**9
INSTRUMENT = "BTC-USDT"


@pytest.fixture(scope="module")
def five_hours(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One instrument over five hours, about 1,800 trades an hour (so each hour keeps
    only its largest ``TOP_TRADES``)."""
    path = tmp_path_factory.mktemp("hours") / "hours.db"
    generate(path, SynthConfig(snapshots=6000, instruments=1, interval_ms=3000, seed=5))
    Storage(path, quiet=True).build_booktick_from_db()
    return path


def rows(table) -> list[tuple]:
    return [tuple(r.values()) for r in table.to_pylist()]


def assert_same_answers(agg: Dataset, fine: Dataset) -> None:
    lo, hi = fine.extent(INSTRUMENT)
    tick = fine.tick(INSTRUMENT)
    sizes = sorted(fine.large_trades(INSTRUMENT, lo, hi + 1, 0.0, 10**6)["size"].to_pylist())
    ranges = [
        (lo, hi + 1),
        (lo + 1_234_567_890_123, hi - 987_654_321_000),  # partial hours at both ends
        (lo // HOUR_NS * HOUR_NS + HOUR_NS, lo // HOUR_NS * HOUR_NS + 3 * HOUR_NS),  # whole
    ]
    for start, end in ranges:
        assert whole_hours(start, end) is not None
        for width in (tick, 10 * tick):
            got = agg.volume_profile(INSTRUMENT, start, end, width)
            want = fine.volume_profile(INSTRUMENT, start, end, width)
            assert got.bins == want.bins and got.bins
            assert got.total == pytest.approx(want.total, rel=1e-9)
            assert got.buy == pytest.approx(want.buy, rel=1e-9)
            assert (got.poc, got.value_area_low, got.value_area_high) == (
                want.poc,
                want.value_area_low,
                want.value_area_high,
            )
        for min_size, limit in ((0.0, TOP_TRADES), (0.0, 37), (sizes[len(sizes) // 2], 300)):
            got = rows(agg.large_trades(INSTRUMENT, start, end, min_size, limit))
            assert got == rows(fine.large_trades(INSTRUMENT, start, end, min_size, limit))
            assert len(got) == limit


def test_profile_and_largest_trades_from_hours_equal_the_trades(five_hours: Path) -> None:
    with Dataset(five_hours) as agg, Dataset(five_hours, materialize=False) as fine:
        assert_same_answers(agg, fine)


def test_hourly_aggregates_follow_new_trades_and_old_stores(
    five_hours: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERFLOW_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "rec.db"
    with sqlite3.connect(five_hours) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    with Dataset(path, store=True) as kept:
        assert kept.persistent
        last = kept.extent(INSTRUMENT)[1]
        writer = open_writer(path)  # large trades late in the last hour and in a new one
        new = [
            (INSTRUMENT, f"n{k}", 43000.0 + k, 50.0 + k, "buy" if k % 2 else "sell",
             str((last + k * 700 * S) // 10**6))
            for k in range(1, 9)
        ]  # fmt: skip
        writer.executemany(
            "INSERT INTO trades (instrument, trade_id, price, size, side, timestamp) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            new,
        )
        writer.close()
        assert kept.refresh()
        with Dataset(path, materialize=False) as fine:
            assert_same_answers(kept, fine)
    store = duckdb.connect(str(store_path(path.resolve())))  # as an earlier version kept it
    store.execute("DROP TABLE agg_top_trades")
    store.execute("DROP TABLE agg_price_volume")
    store.execute("DROP TABLE agg_book")
    store.close()
    with Dataset(path, store=True) as reused, Dataset(path, store=True) as built:
        assert reused.reused and not built.persistent  # the second copies in memory
        with Dataset(path, materialize=False) as fine:
            assert_same_answers(reused, fine)
        lo, hi = built.extent(INSTRUMENT)
        for side in ("best_bid", "best_ask"):
            drawn = rows(reused.points(INSTRUMENT, side, lo, hi + 1, 300))
            assert len(drawn) > 300 and drawn == rows(
                built.points(INSTRUMENT, side, lo, hi + 1, 300)
            )
