"""Binance recordings by hftbacktest, checked against Binance's own bookTicker."""

from __future__ import annotations

import gzip
import itertools
import sqlite3
from pathlib import Path

import msgspec
import pytest
from tests.importers.importer_data import real_file

from orderflow.importers.binance import iter_binance
from orderflow.importers.cli import run_import
from orderflow.importers.events import BookEvent, TickerEvent, TradeEvent
from orderflow.importers.report import ImportReport

RECORDINGS = {
    "usdm-btcusdt": ["usdm/btcusdt_20240808.gz"],
    "usdm-ethusdt": ["usdm/ethusdt_20240808.gz"],
    "spot-btcusdt": ["spot/btcusdt_20240808.gz", "spot/btcusdt_20240809.gz"],
    "cm-btcusd_perp": ["cm/btcusd_perp_20240808.gz", "cm/btcusd_perp_20240809.gz"],
}


def _files(name: str) -> list[Path]:
    return [real_file("binance-hftbacktest", f) for f in RECORDINGS[name]]


def _ticker_checks(files: list[Path]) -> tuple[int, list[str], ImportReport]:
    """Hold the rebuilt best bid/ask against every bookTicker with the same update
    id. A ticker may arrive before or after the diff that ends at its id, so
    tickers ahead of the book wait until the book reaches (or passes) their id."""
    report = ImportReport()
    pending: dict[int, TickerEvent] = {}
    last_u: int | None = None
    last_book = None
    checked = 0
    wrong: list[str] = []

    def check(t: TickerEvent, book) -> None:
        nonlocal checked
        checked += 1
        bid, ask = book.bids.best(), book.asks.best()
        if (bid[0], bid[1], ask[0], ask[1]) != (t.bid, t.bid_size, t.ask, t.ask_size):
            wrong.append(t.where)

    for ev in iter_binance(files, report):
        if isinstance(ev, BookEvent):
            t = pending.pop(ev.update_id, None)
            if t is not None:
                check(t, ev.book)
            for u in [u for u in pending if u < ev.update_id]:
                del pending[u]
            last_u, last_book = ev.update_id, ev.book
        elif isinstance(ev, TickerEvent):
            if ev.update_id == last_u:
                check(ev, last_book)
            elif last_u is None or ev.update_id > last_u:
                pending[ev.update_id] = ev
    return checked, wrong, report


@pytest.mark.parametrize("name", ["usdm-btcusdt", "usdm-ethusdt"])
def test_futures_best_bid_ask_equals_every_book_ticker_with_same_update_id(name: str) -> None:
    checked, wrong, report = _ticker_checks(_files(name))
    assert report.gaps == 0 and report.crossed == 0 and report.malformed == 0
    assert checked > 500  # the exchange's own view, hundreds of times over
    assert wrong == []


@pytest.mark.parametrize("name", ["spot-btcusdt", "cm-btcusd_perp"])
def test_spot_and_coin_m_best_bid_ask_equals_book_ticker(name: str) -> None:
    checked, wrong, report = _ticker_checks(_files(name))
    assert report.gaps == 0 and report.crossed == 0 and report.malformed == 0
    assert checked > 1000
    assert wrong == []


def _count_lines(files: list[Path], needle: bytes) -> int:
    n = 0
    for f in files:
        with gzip.open(f, "rb") as fh:
            n += sum(needle in line for line in fh)
    return n


def test_spot_recording_imports_across_both_files(tmp_path: Path) -> None:
    files = _files("spot-btcusdt")
    out = tmp_path / "spot.db"
    report = run_import("binance", files, out, interval_ms=100, depth=25, instruments={"BTCUSDT"})
    assert (report.gaps, report.checksum_failures, report.crossed, report.malformed) == (0, 0, 0, 0)
    assert report.trades == _count_lines(files, b'@trade"')
    assert 640 < report.span_s < 660  # 2024-08-08 23:54 to 08-09 00:05
    with sqlite3.connect(out) as db:
        rows = db.execute(
            "SELECT instrument, bids, asks, timestamp FROM book ORDER BY id"
        ).fetchall()
        sides = db.execute("SELECT DISTINCT side FROM trades").fetchall()
    assert len(rows) == report.snapshots > 6000
    times = [int(r[3]) for r in rows]
    cells = [t // 100 for t in times]
    assert cells == sorted(set(cells))  # at most one row per 100 ms cell, in order
    # Rows continue over the file boundary (midnight) without a hole in the grid.
    assert max(b - a for a, b in itertools.pairwise(times)) < 2_000
    for instrument, bids_text, asks_text, _ts in rows[::500]:
        bids, asks = msgspec.json.decode(bids_text), msgspec.json.decode(asks_text)
        assert instrument == "BTCUSDT" and len(bids) == len(asks) == 25
        assert all(len(level) == 4 and level[2:] == ["0", "0"] for level in bids + asks)
        assert float(bids[0][0]) < float(asks[0][0])
        assert [float(b[0]) for b in bids] == sorted((float(b[0]) for b in bids), reverse=True)
    assert sorted(sides) == [("buy",), ("sell",)]


def test_trade_side_is_the_aggressor() -> None:
    trades = [
        ev
        for ev in iter_binance(_files("usdm-btcusdt")[:1], ImportReport())
        if isinstance(ev, TradeEvent)
    ]
    # First trade of the file: "m": false, the buyer took the offer.
    assert (trades[0].trade_id, trades[0].price, trades[0].side) == (
        "5266583935",
        "61800.30",
        "buy",
    )
