"""microprice(): G*(I, S) fitted over a processed recording, stored with its sample sizes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from orderflow.query import microprice
from orderflow.query.microprice import read_latest_fit
from orderflow.reports.cli import main as report_main


def _copy(src: Path, dst: Path) -> Path:
    """A whole copy, WAL included (the backup API reads through it)."""
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    return dst


def test_fit_is_antisymmetric_leans_with_the_imbalance_and_is_stored(
    tmp_path: Path, synth_db: Path
) -> None:
    db = _copy(synth_db, tmp_path / "m.db")
    table = microprice(db, "BTC-USDT", max_spread=2)
    assert table.attrs["tick"] == 0.1 and table.attrs["observations"] > 200
    one_tick = table[table.spread_ticks == 1]
    g = one_tick.g_star.to_numpy()
    np.testing.assert_allclose(g, -g[::-1], atol=1e-12)  # symmetrised data
    assert g[0] < 0 < g[-1]  # heavy asks: the next mid is lower
    assert (
        one_tick.samples.sum() == table.samples.sum() - table[table.spread_ticks == 2].samples.sum()
    )
    with sqlite3.connect(db) as conn:
        stored = read_latest_fit(conn, "BTC-USDT")
        fits = conn.execute("SELECT n_imbalance, max_spread, tick FROM microprice_fits").fetchall()
    assert fits == [(10, 2, 0.1)]
    assert stored is not None
    assert (
        stored.samples.tolist()
        == table.sort_values(["spread_ticks", "imbalance_lo"]).samples.tolist()
    )


def test_a_time_range_fits_fewer_transitions(tmp_path: Path, synth_db: Path) -> None:
    db = _copy(synth_db, tmp_path / "m.db")
    whole = microprice(db, "ETH-USDT", store=False)
    part = microprice(db, "ETH-USDT", "2024-03-01T00:00:00Z", "2024-03-01T00:01:00Z", store=False)
    assert 0 < part.attrs["observations"] < whole.attrs["observations"]
    with sqlite3.connect(db) as conn:
        assert read_latest_fit(conn, "ETH-USDT") is None  # store=False wrote nothing


def test_report_prints_the_table(tmp_path: Path, synth_db: Path, capsys) -> None:
    db = _copy(synth_db, tmp_path / "r.db")
    assert report_main([str(db), "--out", str(tmp_path / "out"), "--no-html"]) == 0
    printed = capsys.readouterr().out
    assert "### Micro-price G*(I, S): BTC-USDT (tick 0.1" in printed
    assert "| 0.0-0.1 |" in printed and "(n=" in printed
    assert "Micro-price G*(I, S): ETH-USDT" in (tmp_path / "out" / "report.md").read_text()
