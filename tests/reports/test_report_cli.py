"""``orderflow-report`` on a generated recording: the files exist and hold the numbers."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tests.recordings import input_tables_digest

from orderflow.query.microprice import microprice
from orderflow.synth.generator import SynthConfig, generate


def cli(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=180
    )


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("rep")
    path = base / "rec.db"
    generate(path, SynthConfig(snapshots=3000, instruments=2, seed=4))
    done = cli("orderflow_services.coordinator.cli", "--workers", "0", "--quiet", str(path))
    assert done.returncode == 0, done.stderr
    (base / "p.yaml").write_text(
        "name: reptest\npaths: [rec.db]\nalerts:\n  obi_threshold: 0.5\n  obi_min_snapshots: 3\n"
        "  cvd_window_s: 10\n  cvd_change_threshold: 5\nbacktest:\n  params: {theta: 0.2}\n"
        "  fee_bps: 1.0\n"
    )
    return path


def _obi(path: Path) -> dict[str, np.ndarray]:
    conn = sqlite3.connect(path)
    out = {}
    for (name,) in conn.execute("SELECT DISTINCT instrument FROM metrics"):
        rows = conn.execute(
            "SELECT obi FROM metrics WHERE instrument = ? AND obi IS NOT NULL", (name,)
        ).fetchall()
        out[name] = np.array([r[0] for r in rows])
    conn.close()
    return out


def test_report_without_a_stored_run_uses_the_profile_backtest(processed, tmp_path):
    before = input_tables_digest(processed)
    out = tmp_path / "out"
    done = cli(
        "orderflow.reports.cli", "--profile", str(processed.parent / "p.yaml"), "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    (db,) = report["databases"]
    for name, values in _obi(processed).items():
        s = db["summaries"][name]
        assert s["obi_mean"] == pytest.approx(values.mean())
        assert (s["obi_min"], s["obi_max"]) == (values.min(), values.max())
    assert db["backtest"]["params"] == {"theta": 0.2}
    assert "not stored" in db["backtest"]["source"]
    assert {a["kind"] for a in db["alerts"]} == {"obi", "cvd"}
    markdown = (out / "report.md").read_text()
    for name, stats in db["backtest"]["results"].items():
        assert f"| {name} | {stats['pnl']:,.4f} |" in markdown
    html = (out / "report.html").read_text()
    assert "Bokeh" in html and "equity marked to mid" in html and "<script" in html
    for panel in ("panel_candles", "panel_volume", "panel_obi", "panel_cvd", "panel_equity"):
        assert html.count(f'"name":"{panel}"') == len(db["summaries"]), panel  # per instrument
    check_html_tables(html, db)
    check_microprice_tables(html, processed, sorted(db["summaries"]))
    assert input_tables_digest(processed) == before
    conn = sqlite3.connect(processed)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert "backtest_runs" not in tables and "alerts" not in tables  # reports never write


def check_html_tables(html: str, db: dict) -> None:
    """The numbers stand as HTML tables above the charts, and the file stays small."""
    charts_at = html.index('"name":"panel_candles"')
    for name, stats in db["backtest"]["results"].items():
        row = f"<td>{name}</td><td>{stats['pnl']:,.4f}</td><td>{stats['fees']:,.4f}</td>"
        assert html.index(row) < charts_at
        assert f"<td>{stats['hit_rate']:.1%}</td>" in html
        assert f"<td>{stats['sharpe_per_day']:,.4f}</td>" in html
    for name, s in db["summaries"].items():
        assert f"<td>{name}</td><td>{s['snapshots']}</td>" in html
    first = db["alerts"][0]
    assert f"<td>{first['kind']}</td><td>{first['value']:,.4f}</td>" in html
    assert "<h3>Alerts: " in html and "<h3>Metrics summary</h3>" in html
    # BokehJS inlined (about 1.3 MB, no widget bundle) plus reduced series
    assert "bokeh-widgets" not in html
    assert len(html) < 1_300_000 + 350_000 * len(db["summaries"])


def _html_tables_after(html: str, heading: str) -> list[list[str]]:
    """The cells of the first table after ``heading``, row by row (header row first)."""
    start = html.index(heading)
    body = html[start : html.index("</table>", start)]
    return [re.findall(r"<t[hd]>(.*?)</t[hd]>", row) for row in re.findall(r"<tr>(.*?)</tr>", body)]


def check_microprice_tables(html: str, path: Path, instruments: list[str]) -> None:
    """Each instrument's G*(I, S) stands as an HTML table above the charts, and every
    cell holds the fit's G* (price units, 6 significant digits) and sample size."""
    charts_at = html.index('"name":"panel_candles"')
    for name in instruments:
        fit = microprice(path, name, store=False)
        heading = f"<h3>Micro-price G*(I, S): {name} (tick {fit.attrs['tick']:g}"
        assert html.index(heading) < charts_at
        header, *rows = _html_tables_after(html, heading)
        spreads = sorted(set(fit["spread_ticks"]))
        assert header == ["I = Qb/(Qb+Qa)", *(f"spread {s} tick(s)" for s in spreads)]
        assert len(rows) == len(set(fit["imbalance_lo"])) and len(rows) * len(spreads) == len(fit)
        seen = 0
        for state in fit.itertuples():
            row = rows[round(state.imbalance_lo * len(rows))]
            assert row[0] == f"{state.imbalance_lo:.1f}-{state.imbalance_hi:.1f}"
            cell = row[spreads.index(state.spread_ticks) + 1]
            if np.isnan(state.g_star):
                assert cell == "-"
                continue
            got = re.fullmatch(r"([+-][0-9.e+-]+) \(n=([0-9,]+)\)", cell)
            assert got is not None, cell
            assert float(got[1]) == pytest.approx(state.g_star, rel=1e-5, abs=1e-12)
            assert int(got[2].replace(",", "")) == state.samples
            seen += state.samples
        assert seen > 0  # the table is not all dashes


def test_report_shows_the_latest_stored_run(processed, tmp_path):
    done = cli(
        "orderflow.backtest.cli",
        "--strategy",
        "cvd-momentum",
        "--param",
        "window_s=5",
        "--json",
        str(tmp_path / "bt.json"),
        str(processed),
    )
    assert done.returncode == 0, done.stderr
    ran = json.loads((tmp_path / "bt.json").read_text())["runs"][0]
    out = tmp_path / "out"
    done = cli("orderflow.reports.cli", str(processed), "--out", str(out), "--no-html")
    assert done.returncode == 0, done.stderr
    db = json.loads((out / "report.json").read_text())["databases"][0]
    assert db["backtest"]["strategy"] == "cvd-momentum"
    assert db["backtest"]["run_id"] == ran["run_id"]
    assert db["backtest"]["results"] == ran["instruments"]
    assert not (out / "report.html").exists()


def test_m4_keeps_extremes_and_ends() -> None:
    from orderflow.reports.html import m4_indices

    ts = np.arange(10_000, dtype=np.int64) * 10
    values = np.sin(ts / 997.0)
    values[4321] = 5.0
    values[777] = np.nan
    keep = m4_indices(ts, values, 50)
    assert len(keep) <= 200 and keep[0] == 0 and keep[-1] == len(ts) - 1
    assert 4321 in keep and np.nanmin(values) in values[keep]
    assert list(m4_indices(ts[:100], values[:100], 50)) == list(range(100))
