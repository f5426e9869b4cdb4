"""The strategy interface on real recordings: loader errors, the live path equals
the stored path, and DefaultStrategy's stored-metrics analysis."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from orderflow.core.calculator import decode_side
from orderflow.core.models import Book, BookSnapshot, Trade
from orderflow.pipeline.storage import Storage
from orderflow.store.input_repository import SQLiteOrderflowRepository
from orderflow.strategies.base import StrategyError, hold_targets
from orderflow.strategies.batch import MissingMetricsError, load_metric_batches
from orderflow.strategies.builtin import CvdMomentum, ObiThreshold, OfiMomentum
from orderflow.strategies.default import DefaultStrategy
from orderflow.strategies.loader import load_strategy
from orderflow.synth.generator import SynthConfig, generate


@pytest.fixture(scope="module")
def synth_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("synth") / "s.db"
    generate(path, SynthConfig(snapshots=1500, instruments=2, seed=3))
    Storage(path, quiet=True).build_booktick_from_db()
    return path


def test_loader_resolves_names_and_module_paths_and_rejects_bad_ones():
    assert isinstance(load_strategy("obi-threshold", {"theta": 0.2}), ObiThreshold)
    assert isinstance(load_strategy("orderflow.strategies.builtin:CvdMomentum"), CvdMomentum)
    for spec, words in [
        ("nope", "unknown strategy"),
        ("no_such_module_xyz:Cls", "cannot import"),
        ("orderflow.strategies.builtin:Missing", "has no attribute"),
        ("orderflow.strategies.builtin:cvd_change", "not a subclass"),
    ]:
        with pytest.raises(StrategyError, match=words):
            load_strategy(spec)
    with pytest.raises(StrategyError, match="unknown parameter"):
        load_strategy("obi-threshold", {"thetaa": 0.2})
    with pytest.raises(StrategyError, match="not a number"):
        load_strategy("obi-threshold", {"theta": "high"})


def test_missing_metrics_table_names_the_command_to_run(tmp_path):
    path = tmp_path / "raw.db"
    generate(path, SynthConfig(snapshots=10, instruments=1))
    with pytest.raises(MissingMetricsError, match="run `orderflow-coord"):
        load_metric_batches(path)


def test_stored_columns_match_the_metrics_table(synth_db):
    batches = load_metric_batches(synth_db)
    conn = sqlite3.connect(synth_db)
    for name, b in batches.items():
        rows = conn.execute(
            "SELECT ts_ns, obi, cvd, best_bid, best_ask FROM metrics WHERE instrument = ?"
            " ORDER BY ts_ns, snapshot_id",
            (name,),
        ).fetchall()
        expected = np.array(rows, dtype=float)
        assert np.array_equal(b.ts_ns, [r[0] for r in rows])
        for k, col in enumerate((b.obi, b.cvd, b.best_bid, b.best_ask), start=1):
            assert np.array_equal(col, expected[:, k], equal_nan=True)
    conn.close()
    assert set(batches) == {"BTC-USDT", "ETH-USDT"}


def _live_book(path, instrument):
    """The instrument's snapshots and trades, decoded from the input tables."""
    repo = SQLiteOrderflowRepository(path)
    conn = repo.connect()
    book_scan, trade_scan = repo.scan_order(conn, "book"), repo.scan_order(conn, "trades")
    trades = [
        Trade(r[0], r[1], float(r[2]), float(r[3]), r[4].lower(), r[6])
        for r in repo.iterate_trade_rows(conn, trade_scan, None, None, [instrument])
    ]
    book = Book(instrument)
    t = 0
    for r in repo.iterate_book_rows(conn, book_scan, None, None, [instrument]):
        attached = []
        while t < len(trades) and trades[t].instant_ns <= r[5]:
            attached.append(trades[t])
            t += 1
        book.add_snapshot(
            BookSnapshot(
                r[0], r[1], r[5], decode_side(r[2], "bids"), decode_side(r[3], "asks"), attached
            )
        )
    conn.close()
    return book


@pytest.mark.parametrize(
    "strategy",
    [
        ObiThreshold(theta=0.2),
        ObiThreshold(theta=0.4, hysteresis=0.3, min_hold_s=2),
        CvdMomentum(window_s=5),
        OfiMomentum(window_s=3, threshold=0.5, min_hold_s=1),
    ],
)
def test_on_booktick_gives_the_backtest_target_for_the_latest_snapshot(synth_db, strategy):
    book = _live_book(synth_db, "ETH-USDT")
    stored = load_metric_batches(synth_db, ["ETH-USDT"])["ETH-USDT"]
    expected = hold_targets(strategy.on_metrics(stored))
    for k in (50, 300, len(book.snapshots)):
        partial = Book("ETH-USDT", book.snapshots[:k])
        assert strategy.on_booktick(partial) == expected[k - 1]


def test_default_strategy_summary_alerts_and_live_fallback(synth_db, tmp_path):
    strategy = DefaultStrategy()
    with pytest.raises(StrategyError, match="set_db_path"):
        strategy.load_stored_metrics()
    strategy.set_db_path(synth_db)
    batches = strategy.load_stored_metrics()
    summary = strategy.get_metrics_summary(batches)
    for name, b in batches.items():
        assert summary[name].snapshots == len(b)
        assert summary[name].obi_mean == pytest.approx(np.nanmean(b.obi))
    alerts = strategy.detect_alerts(batches)
    strategy.store_alerts(alerts, list(batches))
    conn = sqlite3.connect(synth_db)
    assert conn.execute("SELECT count(*) FROM alerts").fetchone()[0] == len(alerts)
    conn.close()
    # live fallback: a snapshot the file never stored is computed from its levels
    book = _live_book(synth_db, "BTC-USDT")
    snap = book.snapshots[10]
    stored_obi = batches["BTC-USDT"].obi[10]
    assert strategy.compute_OBI(snap) == pytest.approx(stored_obi, abs=1e-12)
    assert strategy.on_booktick(Book("BTC-USDT", book.snapshots[:11])) == 0.0
