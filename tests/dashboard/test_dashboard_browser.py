"""End to end: the real server from the CLI, opened in headless Chromium.

Checks the four panels have data and pixels, that switching instrument changes
the data, and that a metrics row written while the page is open appears. With
ORDERFLOW_SCREENSHOT=path the page's screenshot is also written there (that is
how docs/dashboard.png is made), and ORDERFLOW_DEMO_DB=path charts a copy of that
processed recording instead of a generated one.
"""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, sync_playwright

from orderflow.pipeline.storage import Storage
from orderflow.store.connections import open_writer
from orderflow.synth.generator import SynthConfig, generate
from tests.dashboard.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    free_port,
    server_env,
    source,
)

pytestmark = pytest.mark.browser

PANELS = ("panel_candles", "panel_volume", "panel_obi", "panel_cvd")
SOURCES_OF = {
    "panel_candles": "candles",
    "panel_volume": "candles",
    "panel_obi": "obi",
    "panel_cvd": "cvd",
}

JS_SOURCE_LENGTHS = """() => {
    const doc = Bokeh.documents[0];
    const out = {};
    for (const name of ["candles", "obi", "cvd", "overview"]) {
        out[name] = doc.get_model_by_name(name).data["t"].length;
    }
    return out;
}"""
JS_PANEL_BOXES = """(names) => {
    const out = {};
    const views = [...Bokeh.index.all_views()];
    for (const name of names) {
        const model = Bokeh.documents[0].get_model_by_name(name);
        const view = views.find((v) => v.model === model);
        const r = view.el.getBoundingClientRect();
        out[name] = [r.left, r.top, r.width, r.height];
    }
    return out;
}"""


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dash") / "demo.db"
    demo = os.environ.get("ORDERFLOW_DEMO_DB")
    if demo:
        with sqlite3.connect(demo) as src, sqlite3.connect(path) as dst:
            src.backup(dst)
        return path
    generate(path, SynthConfig(snapshots=4000, instruments=2, seed=21))
    Storage(path, quiet=True).build_booktick_from_db()
    return path


@pytest.fixture(scope="module")
def server(recording: Path):
    port = free_port()
    log = recording.with_suffix(".log")
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orderflow_services.dashboard.cli",
                str(recording),
                "--port",
                str(port),
                "--max-bars",
                "200",
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=server_env(log.parent),
        )
    line = proc.stdout.readline()
    assert line.startswith("Dashboard: http://localhost:"), line + log.read_text()
    yield line.split(": ", 1)[1].strip()
    proc.terminate()
    proc.wait(timeout=10)
    proc.stdout.close()
    assert "Traceback" not in log.read_text(), log.read_text()


@pytest.fixture(scope="module")
def page(server: str):
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1180, "height": 1150})
        tab.goto(server)
        tab.wait_for_function(
            "() => window.Bokeh && Bokeh.documents.length > 0 && "
            "Bokeh.documents[0].get_model_by_name('obi').data['t'].length > 0",
            timeout=30_000,
        )
        yield tab
        browser.close()


def test_panels_have_data_and_pixels(page: Page) -> None:
    lengths = page.evaluate(JS_SOURCE_LENGTHS)
    assert all(n > 0 for n in lengths.values()), lengths
    assert lengths["obi"] <= 4 * 200 and lengths["cvd"] <= 4 * 200 and lengths["candles"] <= 200
    page.wait_for_timeout(500)
    png = page.screenshot(full_page=True)
    target = os.environ.get("ORDERFLOW_SCREENSHOT")
    if target:
        Path(target).write_bytes(png)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    boxes = page.evaluate(JS_PANEL_BOXES, list(PANELS))
    for name, (left, top, width, height) in boxes.items():
        # the plot area, away from title, axes and toolbar
        region = image.crop(
            (int(left + 80), int(top + 35), int(left + width - 60), int(top + height - 35))
        )
        colors = region.getcolors(maxcolors=1 << 20)
        background = max(colors)[1]
        drawn = sum(count for count, rgb in colors if _far(rgb, background))
        assert drawn > 200, f"{name}: only {drawn} non-background pixels"


def _far(rgb: tuple[int, int, int], background: tuple[int, int, int]) -> bool:
    return sum(abs(a - b) for a, b in zip(rgb, background, strict=True)) > 120


def test_switching_instrument_changes_data(page: Page) -> None:
    before = source(page, "cvd")
    current = page.evaluate("() => Bokeh.documents[0].get_model_by_name('instrument').value")
    options = page.evaluate("() => Bokeh.documents[0].get_model_by_name('instrument').options")
    other = next(o for o in options if o != current)
    page.evaluate("(v) => { Bokeh.documents[0].get_model_by_name('instrument').value = v; }", other)
    page.wait_for_function(
        "(old) => JSON.stringify(Array.from(Bokeh.documents[0].get_model_by_name('cvd')"
        ".data['value'])) !== old",
        arg=str(before["value"]).replace(" ", "").replace("'", '"'),
        timeout=15_000,
    )
    after = source(page, "cvd")
    assert after["value"] != before["value"]
    candles = source(page, "candles")
    assert 2000 < sum(candles["open"]) / len(candles["open"]) < 2400  # ETH-USDT prices


def test_appended_metric_row_appears(page: Page, recording: Path) -> None:
    instrument = page.evaluate("() => Bokeh.documents[0].get_model_by_name('instrument').value")
    writer = open_writer(recording)
    last = writer.execute(
        "SELECT max(ts_ns) FROM metrics WHERE instrument = ?", (instrument,)
    ).fetchone()[0]
    new_ts = last + 5 * 10**9
    writer.execute(
        "INSERT INTO metrics (snapshot_id, timestamp, obi, cvd, best_bid, best_ask, "
        "instrument, ts_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (10**7, str(new_ts // 10**6), -0.987654, 12345.5, 2300.0, 2300.1, instrument, new_ts),
    )
    writer.close()
    page.wait_for_function(
        "(t) => { const c = Bokeh.documents[0].get_model_by_name('cvd').data['t'];"
        " return c[c.length - 1] === t; }",
        arg=new_ts / 1e6,
        timeout=15_000,
    )
    obi = source(page, "obi")  # the band's last bucket holds the new row, alone after a 5 s gap
    assert obi["lo"][-1] == obi["hi"][-1] == obi["mean"][-1] == -0.987654
    assert obi["t"][-1] <= new_ts / 1e6 < obi["t"][-1] + 5000
    cvd = source(page, "cvd")
    assert cvd["t"][-1] == new_ts / 1e6 and cvd["value"][-1] == 12345.5


def test_switching_database_changes_instruments_and_data(
    page: Page, recording: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    second = tmp_path_factory.mktemp("dash2") / "other.db"
    generate(second, SynthConfig(snapshots=1500, instruments=3, seed=5))
    Storage(second, quiet=True).build_booktick_from_db()
    port = free_port()
    log = second.with_suffix(".log")
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orderflow_services.dashboard.cli",
                str(recording),
                str(second),
                "--port",
                str(port),
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=server_env(log.parent),
        )
    model = "Bokeh.documents[0].get_model_by_name"
    tab = page.context.browser.new_page()  # the module's browser: one Playwright per thread
    try:
        tab.goto(proc.stdout.readline().split(": ", 1)[1].strip())
        tab.wait_for_function(
            f"() => window.Bokeh && Bokeh.documents.length > 0 &&"
            f" {model}('obi').data['t'].length > 0",
            timeout=30_000,
        )
        labels = tab.evaluate(f"() => {model}('database').options.map((o) => o[1])")
        assert labels[:2] == ["/".join(p.parts[-2:]) for p in (recording, second)]
        assert labels[2] == "all 2 files, one timeline"
        assert "SOL-USDT" not in tab.evaluate(f"() => {model}('instrument').options")
        shown = tab.evaluate(f"() => {model}('instrument').value")
        before = source(tab, "cvd")
        tab.evaluate(f"(v) => {{ {model}('database').value = v; }}", str(second))
        tab.wait_for_function(
            f"() => {model}('instrument').options.includes('SOL-USDT')", timeout=15_000
        )
        # The same instrument exists in both files: its data must be the second file's.
        assert tab.evaluate(f"() => {model}('instrument').value") == shown
        conn = sqlite3.connect(second)
        stored = conn.execute(
            "SELECT ts_ns, cvd FROM metrics WHERE instrument = ? ORDER BY ts_ns", (shown,)
        ).fetchall()
        conn.close()
        tab.wait_for_function(
            f"(n) => {model}('cvd').data['t'].length === n", arg=len(stored), timeout=15_000
        )
        after = source(tab, "cvd")  # few rows: M4 keeps every one
        assert after["value"] != before["value"]
        assert after["value"] == [cvd for _, cvd in stored]
        # both files as one timeline: the overlapping instruments' trades of both
        trades_before = sum(source(tab, "candles")["trades"])
        tab.evaluate(f"() => {{ {model}('database').value = '*timeline*'; }}")
        tab.wait_for_function(
            f"(n) => Array.from({model}('candles').data['trades']).reduce((a, b) => a + b, 0) > n",
            arg=trades_before,
            timeout=15_000,
        )
        assert "SOL-USDT" in tab.evaluate(f"() => {model}('instrument').options")
    finally:
        tab.close()
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
    assert "Traceback" not in log.read_text(), log.read_text()
