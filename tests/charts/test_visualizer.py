"""The seed's Visualizer API on a generated recording."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from orderflow.charts import Visualizer
from orderflow.pipeline.book_replay import BookReplay
from orderflow.pipeline.storage import Storage
from orderflow.synth.generator import SynthConfig, generate


def test_update_from_book_charts_the_books_span(tmp_path: Path) -> None:
    path = tmp_path / "vis.db"
    generate(path, SynthConfig(snapshots=1200, instruments=2, seed=9))
    Storage(path, quiet=True).build_booktick_from_db()
    visualizer = Visualizer(window_seconds=5, max_bars=100)
    with pytest.raises(ValueError, match="update_from_book"):
        visualizer.show(tmp_path / "empty.html")
    visualizer.set_db_path(path)
    last = None
    for book in BookReplay(path, instruments=["ETH-USDT"], keep=300):
        last = book
    assert last is not None
    visualizer.update_from_book(last)
    first_ns, last_ns = last.snapshots[0].instant_ns, last.snapshots[-1].instant_ns
    conn = sqlite3.connect(path)
    expected = conn.execute(
        "SELECT snapshot_id, obi FROM metrics WHERE instrument = 'ETH-USDT'"
        " AND ts_ns BETWEEN ? AND ? ORDER BY ts_ns, snapshot_id",
        (first_ns, last_ns),
    ).fetchall()
    conn.close()
    loaded = visualizer.load_stored_metrics()
    assert list(zip(loaded["snapshot_id"], loaded["obi"], strict=True)) == expected
    assert len(expected) == 300
    band = visualizer.panels.sources["obi"].data
    assert 0 < len(band["t"]) <= 100 + 1
    assert sum(band["samples"]) == len(expected)  # every snapshot of the span, in a bucket
    assert set(band["lo"]) | set(band["hi"]) <= {obi for _, obi in expected}
    out = visualizer.show(tmp_path / "chart.html")
    html = out.read_text()
    assert "ETH-USDT" in html and "Bokeh" in html
