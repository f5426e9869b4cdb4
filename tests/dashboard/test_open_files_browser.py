"""A server showing several files keeps open only the ones on some page's screen.

The page moves from one daily file to the next, then to the timeline of all of
them, then zooms into one day, then closes; the server's open store files are
read from /proc after each step. Before, every file once shown stayed attached with its
cached blocks: the server's memory grew with the number of files looked at.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from orderflow.query.store import store_path
from tests.dashboard.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    dashboard_process,
    open_stores,
    server_env,
)
from tests.dashboard.day_files import consecutive_days

pytestmark = pytest.mark.browser

MODEL = "Bokeh.documents[0].get_model_by_name"
READY = (
    f"() => window.Bokeh && Bokeh.documents.length > 0 && {MODEL}('candles').data['t'].length > 0"
)
PATIENCE_S = 120
"""How long a condition may take on a loaded machine; met at once when all is well."""


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_only_the_files_on_screen_stay_open(tmp_path: Path) -> None:
    paths = consecutive_days(tmp_path, 3)
    cache = Path(server_env(tmp_path)["ORDERFLOW_CACHE_DIR"])
    stores = [store_path(Path(p).resolve()).name for p in paths]
    with dashboard_process([Path(p) for p in paths]) as (url, pid), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.goto(url)
        tab.wait_for_function(READY, timeout=PATIENCE_S * 1000)
        first_start = tab.evaluate(f"() => {MODEL}('x_range').start")
        wait_until(lambda: open_stores(pid, cache) == {stores[0]}, "the first file alone")
        start = first_start
        for path, store in zip(paths[1:], stores[1:], strict=True):  # the next day
            tab.evaluate(f"(v) => {{ {MODEL}('database').value = v; }}", path)
            tab.wait_for_function(
                f"(s) => {MODEL}('x_range').start > s", arg=start, timeout=PATIENCE_S * 1000
            )
            start = tab.evaluate(f"() => {MODEL}('x_range').start")
            wait_until(lambda s=store: open_stores(pid, cache) == {s}, f"{store} alone")
        tab.evaluate(f"() => {{ {MODEL}('database').value = '*timeline*'; }}")
        tab.wait_for_function(  # back to the first day: the three days in view
            f"(s) => {MODEL}('x_range').start <= s", arg=first_start, timeout=PATIENCE_S * 1000
        )
        wait_until(lambda: open_stores(pid, cache) == set(), "no file kept for three days")
        tab.evaluate(  # zoom into the second day: one change, so one redraw
            f"(s) => {{ {MODEL}('x_range').setv({{start: s, end: s + 30000}}); }}",
            tab.evaluate(f"() => {MODEL}('x_range').start") + 86_400_000,
        )
        wait_until(lambda: open_stores(pid, cache) == {stores[1]}, "the second day alone")
        tab.close()  # the server ends the page's session (about 30 s later): nothing shown
        wait_until(lambda: open_stores(pid, cache) == set(), "closed with the page's session")
        browser.close()
