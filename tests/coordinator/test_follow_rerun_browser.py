"""End to end: a dashboard page open while ``orderflow-coord --force`` recomputes the
file, twice, ends up drawing what a server started afterwards draws.

Real parts only: the coordinator and its workers as processes, the dashboard
server from its CLI, Debian's chromium reading ``Bokeh.documents[0]``. A rerun
used to leave a permanent hole in OBI and CVD (a straight line), in the open
page and in every page opened later, because the server's shared copy missed
rows. The reference server reads a copy of the finished file under another
name, so it builds its own store instead of reusing the followed one.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.coordinator.harness import run_coord, start_coord
from tests.dashboard.browser_support import CHROMIUM, CHROMIUM_ARGS, dashboard_server, source

pytestmark = pytest.mark.browser

PANEL_SOURCES = ("obi", "cvd")
MODEL = "Bokeh.documents[0].get_model_by_name"
SETTLE_S = 30


def _open(browser: Browser, url: str) -> Page:
    page = browser.new_page(viewport={"width": 1180, "height": 1150})
    page.goto(url)
    page.wait_for_function(
        f"() => window.Bokeh && Bokeh.documents.length > 0 && {MODEL}('obi').data['t'].length > 0",
        timeout=60_000,
    )
    return page


def _drawn(page: Page) -> dict[str, dict[str, list]]:
    return {name: source(page, name) for name in PANEL_SOURCES}


def _view(page: Page) -> tuple[float, float]:
    return tuple(page.evaluate(f"() => [{MODEL}('x_range').start, {MODEL}('x_range').end]"))


def _view_settles_to(page: Page, expected: tuple[float, float]) -> tuple[float, float]:
    """The page's time range once it equals ``expected`` (or after SETTLE_S): a page
    opened while the server is taking the last commit in shows it a refresh later."""
    deadline = time.monotonic() + SETTLE_S
    view = _view(page)
    while view != expected and time.monotonic() < deadline:
        time.sleep(0.5)
        view = _view(page)
    return view


def _settles_to(page: Page, expected: dict[str, dict[str, list]]) -> dict[str, dict[str, list]]:
    """The page's OBI and CVD once they equal ``expected`` (or after SETTLE_S)."""
    deadline = time.monotonic() + SETTLE_S
    drawn = _drawn(page)
    while drawn != expected and time.monotonic() < deadline:
        time.sleep(0.5)
        drawn = _drawn(page)
    return drawn


def _reference_drawing(
    browser: Browser, db: Path, folder: Path
) -> tuple[dict[str, dict[str, list]], tuple[float, float]]:
    """What a server started now draws of ``db`` (OBI and CVD, and the time range): it
    reads a copy under another name, so it builds its own store."""
    folder.mkdir()
    shutil.copy(db, folder / db.name)
    with dashboard_server([folder / db.name]) as url:
        reference = _open(browser, url)
        return _drawn(reference), _view(reference)


def _last_ts_ms(db: Path, instrument: str) -> float:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        (last,) = conn.execute(
            "SELECT max(ts_ns) FROM metrics WHERE instrument = ?", (instrument,)
        ).fetchone()
    conn.close()
    return last / 1e6


def test_a_page_following_forced_reruns_draws_what_a_new_server_draws(
    tmp_path: Path, synth_db: Path
) -> None:
    db = tmp_path / "followed" / "rec.db"
    db.parent.mkdir()
    shutil.copy(synth_db, db)
    assert run_coord("--workers", 0, "--quiet", db).returncode == 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            with dashboard_server([db]) as url:
                followed = _open(browser, url)
                instrument = followed.evaluate(f"() => {MODEL}('instrument').value")
                for rerun in range(2):
                    log = tmp_path / f"rerun{rerun}.log"
                    coord = start_coord(log, "--workers", 2, "--shard-rows", 200, "--force", db)
                    assert coord.wait(timeout=300) == 0, log.read_text()
                # the page has taken the rerun in once its CVD reaches the file's last row
                followed.wait_for_function(
                    f"(t) => {{ const c = {MODEL}('cvd').data['t']; return c.at(-1) === t; }}",
                    arg=_last_ts_ms(db, instrument),
                    timeout=SETTLE_S * 1000,
                )
                fresh = _open(browser, url)
                expected, view = _reference_drawing(browser, db, tmp_path / "reference")
                assert _view_settles_to(fresh, view) == view
                assert _settles_to(fresh, expected) == expected, "a page opened after the reruns"
                followed.evaluate(
                    f"(v) => {{ {MODEL}('x_range').setv({{start: v[0], end: v[1]}}); }}", view
                )
                assert _settles_to(followed, expected) == expected, "the page that followed"
        finally:
            browser.close()


def test_every_page_open_mid_run_ends_where_a_page_opened_later_ends(
    tmp_path: Path, synth_db: Path
) -> None:
    """Two pages open on one server while a run is half written. Each page used to hear
    of new rows only when it was the first to ask the shared copy, so one of them kept
    a stale picture; and following ended the view at the last metric where a page
    opened later ends at the last trade (CI caught the two 33 ms apart)."""
    db = tmp_path / "followed" / "rec.db"
    db.parent.mkdir()
    shutil.copy(synth_db, db)
    assert run_coord("--workers", 0, "--quiet", db).returncode == 0
    with sqlite3.connect(db) as conn:
        conn.execute(
            "DELETE FROM metrics WHERE ts_ns > (SELECT (min(ts_ns) + max(ts_ns)) / 2 FROM metrics)"
        )
        # a trade recorded after the last book snapshot, as recorders leave them
        conn.execute(
            "INSERT INTO trades (instrument, trade_id, price, size, side, timestamp)"
            " SELECT instrument, trade_id || '-late', price, size, side,"
            " CAST(CAST(timestamp AS INTEGER) + 5000 AS TEXT) FROM trades"
            " WHERE id = (SELECT max(id) FROM trades)"
        )
    conn.close()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            with dashboard_server([db]) as url:
                pages = [_open(browser, url), _open(browser, url)]
                log = tmp_path / "rerun.log"
                coord = start_coord(log, "--workers", 2, "--shard-rows", 500, "--force", db)
                assert coord.wait(timeout=300) == 0, log.read_text()
                expected, view = _reference_drawing(browser, db, tmp_path / "reference")
                for n, page in enumerate(pages):
                    assert _view_settles_to(page, view) == view, f"page {n}"
                    assert _settles_to(page, expected) == expected, f"page {n}"
        finally:
            browser.close()
