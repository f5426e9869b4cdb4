"""Tardis.dev CSV exports: ``book_snapshot_N`` and ``trades``.

Tardis has already rebuilt the book, so each snapshot row simply replaces the
instrument's book; there is nothing to sequence, but a row whose best bid is at
or above its best ask is still counted as crossed (and not written). Files are
told apart by their header, so book and trade files can be given in any order.
Times are Tardis's exchange ``timestamp`` in epoch microseconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from orderflow.importers.book import OrderBook
from orderflow.importers.events import BookEvent, Event, TradeEvent
from orderflow.importers.report import ImportReport
from orderflow.importers.source import InputError, iter_lines

__all__ = ["UNIT_NS", "iter_tardis"]

UNIT_NS = 1_000  # Tardis timestamps are epoch microseconds
_LEVEL = re.compile(r"^(asks|bids)\[(\d+)\]\.(price|amount)$")
_TRADE_COLUMNS = ("symbol", "timestamp", "id", "side", "price", "amount")


def _level_columns(header: list[str]) -> dict[str, list[tuple[int, int]]]:
    """Column indices of (price, amount) per level and side, best level first."""
    found: dict[tuple[str, int], dict[str, int]] = {}
    for i, name in enumerate(header):
        m = _LEVEL.match(name)
        if m:
            found.setdefault((m[1], int(m[2])), {})[m[3]] = i
    out: dict[str, list[tuple[int, int]]] = {"asks": [], "bids": []}
    for (side, _n), cols in sorted(found.items()):
        if "price" in cols and "amount" in cols:
            out[side].append((cols["price"], cols["amount"]))
    return out


def _snapshots(
    lines: Iterator[tuple[str, int, bytes]],
    header: list[str],
    report: ImportReport,
    wanted: set[str] | None,
) -> Iterator[Event]:
    cols = _level_columns(header)
    sym_i, ts_i = header.index("symbol"), header.index("timestamp")
    books: dict[str, OrderBook] = {}
    for where, _number, raw in lines:
        cells = raw.decode(errors="replace").split(",")
        if len(cells) != len(header):
            report.problem("malformed", where)
            continue
        symbol = cells[sym_i]
        if wanted is not None and symbol.upper() not in wanted:
            continue
        report.messages += 1
        try:
            t = int(cells[ts_i])
            sides = {
                side: [
                    (float(cells[p]), (cells[p], cells[a], "0", "0"))
                    for p, a in pairs
                    if cells[p] and cells[a] and float(cells[a]) > 0
                ]
                for side, pairs in cols.items()
            }
        except ValueError:
            report.problem("malformed", where)
            continue
        book = books.get(symbol)
        if book is None:
            book = books[symbol] = OrderBook()
        book.bids.load(sides["bids"])
        book.asks.load(sides["asks"])
        if book.crossed():
            report.problem("crossed", where)
        yield BookEvent(symbol, t, book, where)


def _trades(
    lines: Iterator[tuple[str, int, bytes]],
    header: list[str],
    report: ImportReport,
    wanted: set[str] | None,
) -> Iterator[Event]:
    idx = [header.index(c) for c in _TRADE_COLUMNS]
    for where, _number, raw in lines:
        cells = raw.decode(errors="replace").split(",")
        if len(cells) != len(header):
            report.problem("malformed", where)
            continue
        symbol, ts, trade_id, side, price, amount = (cells[i] for i in idx)
        if wanted is not None and symbol.upper() not in wanted:
            continue
        report.messages += 1
        try:
            t = int(ts)
            float(price), float(amount)
        except ValueError:
            report.problem("malformed", where)
            continue
        if side in ("buy", "sell"):  # "unknown" aggressor: no side to give CVD
            yield TradeEvent(symbol, trade_id, price, amount, side, t)


def iter_tardis(
    paths: Iterable[str | Path],
    report: ImportReport,
    instruments: set[str] | None = None,
) -> Iterator[Event]:
    """Replay Tardis CSV files in the given order."""
    wanted = {i.upper() for i in instruments} if instruments else None
    for path in paths:
        lines = iter_lines(path)
        first = next(lines, None)
        if first is None:
            continue
        header = first[2].decode(errors="replace").split(",")
        if _level_columns(header)["asks"] and "symbol" in header and "timestamp" in header:
            yield from _snapshots(lines, header, report, wanted)
        elif all(c in header for c in _TRADE_COLUMNS):
            yield from _trades(lines, header, report, wanted)
        else:
            raise InputError(f"{path}: not a Tardis book_snapshot_N or trades CSV header")
