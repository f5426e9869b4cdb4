"""The seed's on_booktick flow over a stored recording."""

from __future__ import annotations

import sqlite3

import pytest
from tests.recordings import read_metrics

from orderflow.core.calculator import MetricCalculator
from orderflow.pipeline.book_replay import BookReplay
from orderflow.pipeline.storage import Storage
from orderflow.synth.generator import SynthConfig, generate


def test_replayed_books_agree_with_the_stored_metrics(tmp_path) -> None:
    path = tmp_path / "replay.db"
    generate(path, SynthConfig(snapshots=1500, instruments=2, seed=4, invalid_every=250))
    Storage(path, quiet=True).build_booktick_from_db()
    stored = read_metrics(path)
    replay = BookReplay(path, keep=50)
    cvd: dict[str, float] = {}
    seen = 0
    for book in replay:
        snapshot = book.last
        assert snapshot is not None and len(book.snapshots) <= 50
        cvd[book.instrument] = MetricCalculator.calculate_cvd(
            cvd.get(book.instrument, 0.0), snapshot.trades
        )
        instrument, ts_ns, best_bid, best_ask, obi, stored_cvd = stored[snapshot.id]
        assert (instrument, ts_ns) == (book.instrument, snapshot.instant_ns)
        assert MetricCalculator.best_prices(snapshot) == (best_bid, best_ask)
        assert MetricCalculator.calculate_obi(snapshot) == pytest.approx(obi, abs=1e-12)
        assert cvd[book.instrument] == pytest.approx(stored_cvd, abs=1e-9 * 10_000)
        seen += 1
    assert seen == len(stored) == 1494
    assert replay.skipped == 6  # the generator's invalid snapshots


def test_trades_attach_to_their_instruments_next_snapshot(recording) -> None:
    path = recording(
        books=[
            ("X", [[1, 1]], [[2, 1]], "10"),
            ("Y", [[1, 1]], [[2, 1]], "20"),
            ("X", [[1, 1]], [[2, 1]], "30"),
        ],
        trades=[
            ("X", 1, 1.0, "buy", "5"),
            ("Y", 1, 2.0, "sell", "15"),
            ("X", 1, 4.0, "SELL", "25"),
            ("X", 1, 8.0, "hold", "26"),
        ],
    )
    books = [
        (b.instrument, b.last.id, [(t.side, t.size) for t in b.last.trades])
        for b in BookReplay(path)
    ]
    assert books == [("X", 1, [("buy", 1.0)]), ("Y", 2, [("sell", 2.0)]), ("X", 3, [("sell", 4.0)])]
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'metrics'").fetchone() == (
        0,
    )
    conn.close()
