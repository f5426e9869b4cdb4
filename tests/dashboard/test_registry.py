"""The server's registry checks every file at start, opens each when first shown, and
a later server reuses the stores."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import duckdb
import pytest
from orderflow_services.dashboard.config import DashboardConfig
from orderflow_services.dashboard.registry import Registry

from orderflow.charts.panel_data import AUTO_WINDOW, ViewSettings, panel_data
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
        assert len(open_stores(os.getpid(), cache)) == 4  # while drawing
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
