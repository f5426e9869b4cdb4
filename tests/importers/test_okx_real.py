"""OKX books recording (cryptofeed sample): every exchange checksum must verify."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
from tests.importers.importer_data import real_file

from orderflow.importers.cli import run_import
from orderflow.importers.events import BookEvent, TradeEvent
from orderflow.importers.okx import iter_okx, okx_checksum
from orderflow.importers.report import ImportReport

OKX = ("cryptofeed", "OKX.ws.1.0")


def _book_frames(path: Path) -> list[dict]:
    frames = []
    for line in path.read_bytes().splitlines():
        brace = line.find(b"{")
        if brace >= 0 and b'"action"' in line:
            frames.append(msgspec.json.decode(line[brace:]))
    return frames


def test_every_okx_checksum_verifies() -> None:
    path = real_file(*OKX)
    frames = _book_frames(path)
    report = ImportReport()
    events = list(iter_okx([path], report))
    books = [e for e in events if isinstance(e, BookEvent)]
    assert report.checksum_failures == 0 and report.gaps == 0 and report.malformed == 0
    # One verified book per books message: 3 snapshots and 287 updates.
    assert len(books) == len(frames) == 290
    assert sorted({e.instrument for e in books}) == ["BTC-USD-220527", "BTC-USDT", "UNI-USD-SWAP"]
    assert report.crossed == 0
    trades = [e for e in events if isinstance(e, TradeEvent)]
    assert trades and {t.side for t in trades} == {"buy", "sell"}


def test_okx_checksum_of_a_snapshot_as_the_exchange_sent_it() -> None:
    """The first snapshot is sorted as sent, so the checksum needs no book at all."""
    frame = _book_frames(real_file(*OKX))[0]
    data = frame["data"][0]
    assert frame["action"] == "snapshot"
    assert okx_checksum(data["bids"], data["asks"]) == data["checksum"]


def test_okx_import_writes_books_and_trades(tmp_path: Path) -> None:
    out = tmp_path / "okx.db"
    report = run_import("okx", [real_file(*OKX)], out, interval_ms=100, depth=25)
    with sqlite3.connect(out) as db:
        counts = dict(db.execute("SELECT instrument, count(*) FROM book GROUP BY instrument"))
        (asks,) = db.execute(
            "SELECT asks FROM book WHERE instrument = 'BTC-USDT' ORDER BY id LIMIT 1"
        ).fetchone()
    assert sum(counts.values()) == report.snapshots and len(counts) == 3
    level = msgspec.json.decode(asks)[0]
    assert len(level) == 4 and all(isinstance(x, str) for x in level)  # OKX's own strings
    assert report.trades > 0
