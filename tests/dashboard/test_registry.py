"""The server's registry checks every file at start, opens each when first shown, and
a later server reuses the stores."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import duckdb
import numpy as np
import pytest
from orderflow_services.dashboard.config import DashboardConfig
from orderflow_services.dashboard.registry import Registry

from orderflow.charts.panel_data import AUTO_WINDOW, ViewSettings, overview_data, panel_data
from orderflow.core.errors import InputFileError
from orderflow.query.dataset import Dataset
from orderflow.query.store import store_alias, store_path
from orderflow.query.timeline import Timeline
from orderflow.store.connections import open_writer
from orderflow.synth.generator import SynthConfig, generate
from tests.dashboard.browser_support import open_stores
from tests.dashboard.day_files import consecutive_days


def test_lazy_then_reused_by_the_next_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERFLOW_CACHE_DIR", str(tmp_path / "cache"))
    paths = []
    for n in range(3):
        path = tmp_path / f"day{n}.db"
        generate(path, SynthConfig(snapshots=300, instruments=1, seed=n))
        paths.append(str(path))
    registry = Registry()
    registry.open(DashboardConfig(databases=paths))
    assert registry.datasets == {}  # checked, none opened
    try:
        first = registry.get(paths[0])
        assert not first.reused and registry.get(paths[0]) is first
        registry.get(paths[1])
        assert set(registry.datasets) == set(paths[:2])
    finally:
        registry.close()
    later = Registry()  # the next server start
    later.open(DashboardConfig(databases=paths))
    try:
        again = later.get(paths[0])
        assert again.reused and again.instruments() == ["BTC-USDT"]
    finally:
        later.close()


def test_a_bad_file_fails_at_open(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_text("not sqlite")
    with pytest.raises(InputFileError):
        Registry().open(DashboardConfig(databases=[str(bad)]))
    empty = tmp_path / "empty.db"
    with sqlite3.connect(empty) as conn:
        conn.execute("CREATE TABLE book (id INTEGER)")
    conn.close()
    with pytest.raises(InputFileError, match="no 'trades' table"):
        Registry().open(DashboardConfig(databases=[str(empty)]))


def test_open_checks_the_schema_without_reading_rows(tmp_path: Path) -> None:
    """The start-up check reads no row (ten daily files took 15-24 s to scan): a
    file whose trades pages are unreadable passes it, and fails when first shown."""
    path = tmp_path / "day.db"
    generate(path, SynthConfig(snapshots=3000, instruments=1, seed=1))
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")
        root, pages = conn.execute(
            "SELECT rootpage, (SELECT page_count FROM pragma_page_count) FROM sqlite_master"
            " WHERE name = 'trades'"
        ).fetchone()
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with path.open("r+b") as f:  # overwrite the trades table's root page with garbage
        f.seek((root - 1) * size)
        f.write(b"\xff" * size)
    assert pages > root
    registry = Registry()
    registry.open(DashboardConfig(databases=[str(path)]))  # no error: no row was read
    with pytest.raises(Exception, match=r"malformed|not a database|corrupt"):
        Dataset(path, materialize=False).close()


def test_open_files_share_one_duckdb_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server's memory must not grow by an instance per file shown: every store is
    attached to one DuckDB instance, and a closed one is detached (its file free)."""
    monkeypatch.setenv("ORDERFLOW_CACHE_DIR", str(tmp_path / "cache"))
    paths = []
    for n in range(3):
        path = tmp_path / f"day{n}.db"
        generate(path, SynthConfig(snapshots=300, instruments=1, seed=n))
        paths.append(str(path))
    registry = Registry()
    registry.open(DashboardConfig(databases=paths))
    try:
        opened = [registry.get(p) for p in paths]
        assert all(d.persistent for d in opened)
        attached = {
            r[0]
            for r in opened[0]
            .con.execute("SELECT database_name FROM duckdb_databases()")
            .fetchall()
        }
        assert {store_alias(Path(p).resolve()) for p in paths} <= attached
        assert [d.instruments() for d in opened] == [["BTC-USDT"]] * 3  # each its own file
    finally:
        registry.close()
    for path in paths:  # detached: this process can open each store file again
        duckdb.connect(str(store_path(Path(path).resolve()))).close()


def test_only_the_files_on_screen_stay_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every file once shown stayed attached, with its cached blocks (75 MiB more after
    ten daily files than after two): now a file no viewer shows is closed, and a
    timeline polled for new rows opens no file to do it."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("ORDERFLOW_CACHE_DIR", str(cache))
    paths = consecutive_days(tmp_path, 4)
    stores = [store_path(Path(p).resolve()).name for p in paths]
    registry = Registry()
    registry.open(DashboardConfig(databases=paths))
    trades = 0
    try:
        for path, store in zip(paths, stores, strict=True):  # one file after the other
            shown = registry.get(path)
            lo, hi = shown.extent("BTC-USDT")
            data, _ = panel_data(shown, "BTC-USDT", lo, hi + 1, AUTO_WINDOW, ViewSettings())
            trades += sum(data["candles"]["trades"])
            registry.show("page", [path])
            assert open_stores(os.getpid(), cache) == {store}
        timeline = Timeline(paths, registry.get, registry.opened, registry.release)
        lo, hi = timeline.extent("BTC-USDT")  # each file asked, and closed again after
        assert open_stores(os.getpid(), cache) == {stores[-1]}  # still on screen
        data, _ = panel_data(timeline, "BTC-USDT", lo, hi + 1, AUTO_WINDOW, ViewSettings())
        assert sum(data["candles"]["trades"]) == trades  # every day drawn
        assert open_stores(os.getpid(), cache) == {stores[-1]}  # each closed once asked
        registry.show("page", [])  # too many files in view to keep
        assert open_stores(os.getpid(), cache) == set() and registry.datasets == {}
        assert not timeline.refresh()  # polled: nothing new, and nothing opened
        assert open_stores(os.getpid(), cache) == set()
        last = timeline.last_metric_ns("BTC-USDT")
        writer = open_writer(Path(paths[-1]))  # a row written into a closed file
        writer.execute(
            "INSERT INTO metrics (snapshot_id, timestamp, obi, cvd, best_bid, best_ask, "
            "instrument, ts_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (10**7, str((last + 10**9) // 10**6), 0.5, 1.0, 99.0, 101.0, "BTC-USDT", last + 10**9),
        )
        writer.close()
        assert timeline.refresh() and timeline.last_metric_ns("BTC-USDT") == last + 10**9
        registry.show("page", [paths[-1]])
        registry.show("other", [paths[0]])  # a second page shows the first day
        registry.get(paths[0])
        registry.forget("page")
        assert open_stores(os.getpid(), cache) == {stores[0]}
        registry.forget("other")
        assert open_stores(os.getpid(), cache) == set()
    finally:
        registry.close()


def test_a_timeline_redraw_holds_one_file_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A redraw of a timeline of many files kept every file in view attached until it was
    done, each with 2-3.5 MiB of DuckDB's cached blocks: the server's memory grew with
    the number of files one view spans (hundreds of MiB for a year of daily files).
    Now each file is asked every question of a batch and closed before the next is
    opened: beside the file a page shows, one more store at most is attached at any
    moment, each file is opened at most twice a redraw, and the panels are exactly
    those of a timeline holding every file open."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("ORDERFLOW_CACHE_DIR", str(cache))
    paths = consecutive_days(tmp_path, 6)
    registry = Registry()
    registry.open(DashboardConfig(databases=paths))
    opens: list[str] = []
    most = 0

    def get(path: str) -> Dataset:
        nonlocal most
        if registry.opened(path) is None:
            opens.append(path)
        dataset = registry.get(path)
        most = max(most, len(open_stores(os.getpid(), cache)))
        return dataset

    try:
        registry.get(paths[2])
        registry.show("page", [paths[2]])  # a page shows the third day
        timeline = Timeline(paths, get, registry.opened, registry.release)
        everything = Timeline(paths, registry.get)  # every part open, never released
        lo, hi = timeline.extent("BTC-USDT")
        day = 86_400 * 10**9
        for start, end in ((lo, hi + 1), (lo + day // 2, lo + 3 * day + day // 2)):
            opens.clear()
            data, drawn = panel_data(timeline, "BTC-USDT", start, end, AUTO_WINDOW, ViewSettings())
            assert most == 2
            assert max(opens.count(p) for p in paths) == 2 and paths[2] not in opens
            assert open_stores(os.getpid(), cache) == {store_path(Path(paths[2]).resolve()).name}
            overview = overview_data(timeline, "BTC-USDT", 500)
            assert most == 2
            want, want_drawn = panel_data(
                everything, "BTC-USDT", start, end, AUTO_WINDOW, ViewSettings()
            )
            assert overview == overview_data(everything, "BTC-USDT", 500)
            registry.show("page", [paths[2]])  # closes what ``everything`` opened
            assert data["candles"]["t"] and data["heatmap"]["image"]
            assert same(data, want) and drawn == want_drawn
    finally:
        registry.close()


def same(a: object, b: object) -> bool:
    """Equal panel data: images compared as arrays, NaN equal to NaN."""
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
    return a == b or (a != a and b != b)
