"""orderflow-dashboard without a browser: static export and one-line errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from orderflow_services.dashboard.cli import main

from orderflow.charts.panel_data import effective_window_ns
from orderflow.pipeline.storage import Storage
from orderflow.query import metrics
from orderflow.synth.generator import SynthConfig, generate


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "rec.db"
    generate(path, SynthConfig(snapshots=2000, instruments=2, seed=4))
    Storage(path, quiet=True).build_booktick_from_db()
    return path


def test_export_writes_standalone_html(recording: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "chart.html"
    code = main(
        [
            str(recording),
            "--export",
            str(out),
            "--instrument",
            "ETH-USDT",
            "--start",
            "2024-03-01T00:00:10Z",
            "--end",
            "2024-03-01T00:00:20Z",
            "--window",
            "1s",
        ]
    )
    assert code == 0
    html = out.read_text()
    assert "cdn.bokeh.org" not in html and "Bokeh" in html  # inline, works offline
    for name in ("panel_candles", "panel_volume", "panel_obi", "panel_cvd"):
        assert name in html
    # the exported OBI values are exactly the stored ones in that range (few enough: raw)
    want = metrics(recording, "ETH-USDT", "2024-03-01T00:00:10Z", "2024-03-01T00:00:20Z")
    for value in want["obi"].dropna().head(20):
        assert repr(float(value)) in html or f"{value!r}" in html
    assert "wrote" in capsys.readouterr().out


def test_bad_inputs_are_one_line_errors(tmp_path: Path, recording: Path) -> None:
    cases = [
        ([str(tmp_path / "missing.db")], "no such file"),
        (
            [str(recording), "--export", str(tmp_path / "x.html"), "--instrument", "NOPE"],
            "no instrument 'NOPE'",
        ),
        (
            [str(recording), "--export", str(tmp_path / "x.html"), "--start", "soon"],
            "--start: cannot read 'soon'",
        ),
        ([str(recording), "--window", "fortnight"], "--window"),
    ]
    for argv, message in cases:
        run = subprocess.run(
            [sys.executable, "-m", "orderflow_services.dashboard.cli", *argv],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 2, run.stderr
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], run.stderr
        assert re.match(r"orderflow-dashboard: ", lines[0])


def test_effective_window_keeps_candles_within_budget() -> None:
    day = 86_400 * 10**9
    assert effective_window_ns(60 * 10**9, 0, 3600 * 10**9, 500) == 60 * 10**9
    assert effective_window_ns(10**9, 0, day, 500) == 300 * 10**9  # 288 five-minute candles
    year = effective_window_ns(10**9, 0, 365 * day, 500)
    assert 365 * day / year <= 500 and year % day == 0
