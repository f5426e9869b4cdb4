"""The order-flow screen in headless Chromium, on the demo data and a real Binance recording.

Each recording is served by the real ``orderflow-dashboard`` and read back from
``Bokeh.documents[0]``: every panel has data, the volume profile's POC is the
query's for the visible range, zooming in refines the candles and brings the
footprint cells, the crosshair runs through every panel and the readout shows
every panel's value, and the page logs no error. With ORDERFLOW_SCREENSHOT_DIR
set, screenshots at 1600x1000 and 1280x800 are written there (docs/ holds two).
"""

from __future__ import annotations

import io
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, sync_playwright

from orderflow.query.dataset import Dataset
from orderflow.synth.generator import SynthConfig, generate
from tests.dashboard.browser_support import CHROMIUM, CHROMIUM_ARGS, dashboard_server, source
from tests.dashboard.heatmap_data import write_heatmap_tables
from tests.importers.importer_data import REAL

pytestmark = pytest.mark.browser

DEMO_PROFILE = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"
BINANCE = ("spot/btcusdt_20240808.gz", "spot/btcusdt_20240809.gz")
MODEL = "Bokeh.documents[0].get_model_by_name"
LINKED = ("panel_candles", "panel_volume", "panel_obi", "panel_ofi", "panel_cvd")


def _cli(name: str, *args: object) -> None:
    exe = Path(sys.executable).parent / name
    subprocess.run([str(exe), *map(str, args)], check=True, stdout=subprocess.DEVNULL)


def _real_data() -> Path:
    """The shared recordings: beside the repository, or beside the main checkout when
    this is a git worktree under ``wt/``."""
    for base in (REAL, REAL.resolve().parents[3] / "shared" / "data" / "real"):
        if (base / "binance-hftbacktest").is_dir():
            return base / "binance-hftbacktest"
    raise AssertionError(f"real recordings missing: {REAL} (clone shared/ beside the repo)")


@pytest.fixture(scope="module", params=["demo", "binance"])
def recording(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A processed recording with a stored backtest and alerts (orderflow-backtest)."""
    folder = tmp_path_factory.mktemp(request.param)
    path = folder / f"{request.param}.db"
    if request.param == "demo":
        generate(path, SynthConfig(snapshots=6000, instruments=2, seed=4))
        profile: tuple[str, ...] = ("--profile", str(DEMO_PROFILE))
    else:
        real = _real_data()
        _cli("orderflow-import", "binance", *(real / f for f in BINANCE), "--out", path,
             "--instrument", "BTCUSDT")  # fmt: skip
        profile = ()
    _cli("orderflow-coord", "--workers", "0", "--quiet", path)
    _cli("orderflow-backtest", *profile, path, "--quiet")
    write_heatmap_tables(path)
    return path


@pytest.fixture(scope="module")
def page(recording: Path) -> Iterator[Page]:
    errors: list[str] = []
    with dashboard_server([recording]) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1600, "height": 1000})
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        tab.goto(url)
        tab.wait_for_function(
            f"() => window.Bokeh && Bokeh.documents.length > 0 && "
            f"{MODEL}('profile').data['y'].length > 0",
            timeout=30_000,
        )
        tab.wait_for_timeout(600)  # the first layout reports the width (a re-fit if far off)
        tab.errors = errors  # type: ignore[attr-defined]
        yield tab
        browser.close()
    assert not errors, errors


def visible_ns(page: Page) -> tuple[int, int]:
    """The server's reading of the view (main.visible_ns): whole microseconds around it."""
    start, end = page.evaluate(f"() => [{MODEL}('x_range').start, {MODEL}('x_range').end]")
    return math.floor(start * 1000) * 1000, (math.ceil(end * 1000) + 1) * 1000


def zoom_to(page: Page, seconds: float) -> None:
    """Zoom the shared axis to ``seconds`` about the middle and wait for the re-query."""
    before = page.evaluate(f"() => {MODEL}('status').text")
    page.evaluate(
        f"(s) => {{ const r = {MODEL}('x_range'); const m = (r.start + r.end) / 2;"
        " r.setv({start: m - s * 500, end: m + s * 500}); }",
        seconds,
    )
    page.wait_for_function(f"(old) => {MODEL}('status').text !== old", arg=before, timeout=15_000)
    page.wait_for_timeout(300)


def window_ms(page: Page) -> float:
    candles = source(page, "candles")
    return candles["t"][1] - candles["t"][0]


def test_every_panel_renders_with_data(page: Page, recording: Path) -> None:
    for name in ("candles", "obi", "cvd", "profile", "trades", "overview", "fills", "flow"):
        assert source(page, name)["t" if name != "profile" else "y"], name
    obi = source(page, "obi")
    assert all(lo <= m <= hi for lo, m, hi in zip(obi["lo"], obi["mean"], obi["hi"], strict=True))
    assert page.evaluate(f"() => {MODEL}('last_price').visible")
    assert page.evaluate(f"() => {MODEL}('last_price').text") != ""
    assert page.evaluate(f"() => {MODEL}('panel_equity').visible")  # the stored backtest
    assert page.evaluate(f"() => {MODEL}('panel_ofi').visible")  # order-flow columns
    title = page.evaluate(f"() => {MODEL}('panel_candles').title.text")
    assert "(USDT)" in title
    # one time axis: only the bottom panel shows it
    shown = page.evaluate(
        f"(ns) => ns.map((n) => {MODEL}(n).below.filter((a) => a.visible).length)", list(LINKED)
    )
    assert shown == [0, 0, 0, 0, 1]
    scientific = page.evaluate(
        f"(ns) => ns.map((n) => {MODEL}(n).left[0].formatter.use_scientific)", list(LINKED)
    )
    assert scientific == [False] * len(LINKED)  # 43,250 not 4.325e+4
    # the profile beside the price panel: its plot area spans the same pixels vertically
    frames = page.evaluate(
        "() => ['panel_candles', 'panel_profile'].map((n) => {"
        f" const m = {MODEL}(n); const v = [...Bokeh.index.all_views()].find((v) => v.model === m);"
        " const r = v.el.getBoundingClientRect(); return [r.top + v.frame.bbox.top,"
        " v.frame.bbox.height, r.right]; })"
    )
    assert frames[0][:2] == pytest.approx(frames[1][:2], abs=1)
    assert frames[1][2] > 1500  # the chart uses the window's width
    # the overview strip spans the same time axis pixels as the panels above it
    strips = page.evaluate(
        "() => ['panel_cvd', 'panel_overview'].map((n) => {"
        f" const m = {MODEL}(n); const v = [...Bokeh.index.all_views()].find((v) => v.model === m);"
        " const r = v.el.getBoundingClientRect(); return [r.left + v.frame.bbox.left,"
        " v.frame.bbox.width]; })"
    )
    assert strips[0] == pytest.approx(strips[1], abs=1)


def test_heatmap_image_behind_the_candles(page: Page, recording: Path) -> None:
    """Non-empty, a finite colour range clipped below the largest cell, at the view's
    resolution, with the best bid and ask lines."""
    heat = page.evaluate(
        f"() => {{ const d = {MODEL}('heatmap').data; const img = d.image[0];"
        " const v = Array.from(img).filter((x) => Number.isFinite(x));"
        " return {n: img.length, shape: [d.dh[0], d.dw[0], d.row_height[0], d.column_ms[0]],"
        " finite: v.length, positive: v.filter((x) => x > 0).length,"
        " max: Math.max(...v)}; }"
    )
    assert heat["n"] > 100 and heat["positive"] > 50, heat
    low, high = page.evaluate(
        f"() => [{MODEL}('heatmap_colors').low, {MODEL}('heatmap_colors').high]"
    )
    assert math.isfinite(low) and math.isfinite(high) and 0 < low < high <= heat["max"]
    start, end = visible_ns(page)
    dh, dw, row_height, column_ms = heat["shape"]
    assert dw / column_ms <= 600 and dh / row_height <= 130  # the pixel budget
    assert dw >= (end - start) / 1e6 - column_ms  # spans the view
    bid, ask = source(page, "best_bid"), source(page, "best_ask")
    assert bid["value"] and ask["value"] and min(ask["value"]) > 0
    renderers = page.evaluate(f"() => {MODEL}('panel_candles').renderers.map((r) => r.name)")
    assert renderers[0] == "heatmap_image"  # drawn first: behind everything


def test_profile_poc_equals_the_query(page: Page, recording: Path) -> None:
    start, end = visible_ns(page)
    profile = source(page, "profile")
    drawn_poc = [b for b, p in zip(profile["bin"], profile["poc"], strict=True) if p]
    instrument = page.evaluate(f"() => {MODEL}('instrument').value")
    with Dataset(recording, materialize=False) as dataset:
        want = dataset.volume_profile(instrument, start, end, profile["bin_width"][0])
    assert drawn_poc == [want.poc]
    assert profile["bin"] == want.bins and profile["total"] == pytest.approx(want.total)
    inside = [b for b, v in zip(profile["bin"], profile["value_area"], strict=True) if v]
    assert (min(inside), max(inside)) == (want.value_area_low, want.value_area_high)


def test_zoom_refines_candles_then_shows_footprint(page: Page) -> None:
    wide = window_ms(page)
    assert source(page, "footprint")["t"] == []
    zoom_to(page, 60)
    finer = window_ms(page)
    assert finer < wide
    title = page.evaluate(f"() => {MODEL}('window').title")
    assert f"{finer / 1000:g} s (auto)" in title
    zoom_to(page, 8)
    cells = source(page, "footprint")
    assert len(cells["t"]) > 5
    for t in set(cells["t"]):  # one POC per footprint candle
        assert sum(p for p, c in zip(cells["poc"], cells["t"], strict=True) if c == t) == 1
    assert any(label for label in cells["label"])  # few candles: the numbers are written


def test_crosshair_and_readout_span_the_panels(page: Page) -> None:
    page.set_viewport_size({"width": 1600, "height": 1500})  # every panel on screen
    page.wait_for_timeout(800)
    boxes = page.evaluate(
        "(names) => names.map((n) => {"
        f" const m = {MODEL}(n); const v = [...Bokeh.index.all_views()].find((v) => v.model === m);"
        " const r = v.el.getBoundingClientRect(); const f = v.frame.bbox;"
        " return [r.left + f.left, r.top + f.top, f.width, f.height]; })",
        list(LINKED),
    )
    left, top, width, height = boxes[0]
    x = int(left + width * 0.37)
    page.mouse.move(x, int(top + height / 2))
    page.wait_for_timeout(300)
    readout = page.evaluate(f"() => {MODEL}('readout').text")
    assert "candle" in readout and "OBI" in readout and "CVD" in readout
    image = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    for name, (_, pt, _, ph) in zip(LINKED[1:], boxes[1:], strict=True):
        rows = range(int(pt) + 2, int(pt + ph) - 2)
        on_line = _crosshair_pixels([image.getpixel((x, y)) for y in rows])
        beside = _crosshair_pixels([image.getpixel((x + 23, y)) for y in rows])
        assert on_line - beside > len(rows) * 0.3, f"{name}: no crosshair ({on_line}, {beside})"
    page.mouse.move(5, 5)


def _crosshair_pixels(column: list[tuple[int, int, int]]) -> int:
    """Pixels of the dotted crosshair (#546e7a) or its anti-aliased half tone."""
    tones = ((84, 110, 122), (170, 183, 189))
    return sum(
        1 for rgb in column if any(sum(abs(a - b) for a, b in zip(rgb, t, strict=True)) < 40
                                   for t in tones)
    )  # fmt: skip


def test_trade_size_filter(page: Page) -> None:
    sizes = source(page, "trades")["size"]
    cut = sorted(sizes)[len(sizes) // 2]
    page.evaluate(f"(v) => {{ {MODEL}('min_trade_size').value = v; }}", cut)
    page.wait_for_function(
        f"(c) => Array.from({MODEL}('trades').data['size']).every((s) => s >= c)",
        arg=cut,
        timeout=15_000,
    )
    page.evaluate(f"() => {{ {MODEL}('min_trade_size').value = 0; }}")


def test_page_loads_only_the_bundles_it_uses(page: Page) -> None:
    """No MathJax, tables or WebGL bundle (2.3 MB the page never runs), and still no error."""
    scripts = page.evaluate("() => [...document.scripts].map((s) => s.src).filter((s) => s)")
    assert any("/bokeh.min.js" in s for s in scripts), scripts
    assert not [s for s in scripts if re.search(r"bokeh-(mathjax|tables|gl)", s)], scripts
    assert not page.errors  # type: ignore[attr-defined]


def _requeried(page: Page, act: Callable[[], None], within: str = "true") -> tuple[int, str]:
    """Do ``act``, wait for the server to send new candles (``within`` true of their
    times ``t``: an earlier test's re-query may still be on its way); their number
    and window."""
    page.evaluate(f"() => {{ window.shown = {MODEL}('candles').data; }}")
    act()
    page.wait_for_function(
        f"() => {{ const d = {MODEL}('candles').data; const t = Array.from(d['t']);"
        f" return d !== window.shown && ({within}); }}",
        timeout=30_000,
    )
    candles = source(page, "candles")
    return len(candles["t"]), candles["window"][0]


def test_a_narrower_window_refits_the_candles(page: Page) -> None:
    """Candles stay about 9 px wide: a window narrowed by more than a fifth re-queries
    with fewer, longer candles (60 at least), and widened again gets them back."""
    start = source(page, "overview")["t"][0]
    wide = _requeried(
        page,
        lambda: page.evaluate(
            f"(t) => {MODEL}('x_range').setv({{start: t, end: t + 120e3}})", start
        ),
        f"t.length > 0 && t[0] >= {start} - 60e3 && t[t.length - 1] <= {start} + 120e3",
    )
    narrow = _requeried(page, lambda: page.set_viewport_size({"width": 700, "height": 1000}))
    assert narrow[0] <= 60 and narrow[0] < wide[0] and narrow[1] != wide[1], (narrow, wide)
    again = _requeried(page, lambda: page.set_viewport_size({"width": 1600, "height": 1000}))
    assert again == wide


def test_screenshots(page: Page, recording: Path) -> None:
    """1600x1000 and 1280x800 (the page fits the width), the whole recording and a
    footprint zoom; written where ORDERFLOW_SCREENSHOT_DIR says."""
    target = os.environ.get("ORDERFLOW_SCREENSHOT_DIR")
    overview = source(page, "overview")["t"]
    for width, height in ((1600, 1000), (1280, 800)):
        page.set_viewport_size({"width": width, "height": height})
        for label, seconds in (("whole", (overview[-1] - overview[0]) / 1000 + 1), ("zoom", 15)):
            # new candles, even when the status reads the same (run alone, the page
            # already shows the whole recording)
            _requeried(page, lambda s=seconds, w=label == "whole": page.evaluate(
                f"(t) => {MODEL}('x_range').setv({{start: t[0], end: t[1]}})",
                [overview[0], overview[0] + s * 1000] if w else
                [overview[len(overview) // 2], overview[len(overview) // 2] + s * 1000],
            ))  # fmt: skip
            page.wait_for_timeout(800)
            png = page.screenshot(full_page=True)
            assert Image.open(io.BytesIO(png)).size[0] == width
            if target:
                Path(target, f"{recording.stem}-{label}-{width}x{height}.png").write_bytes(png)
