"""LOBSTER message + orderbook files replayed into books and trades.

The message file is the event stream (time in seconds after midnight, New York,
of the date in the file name; type; order id; size; price x 10000; direction) and
the orderbook file is LOBSTER's own top-``L`` book after each event. The book is
rebuilt from the messages (type 1 adds, 2/3/4 remove size, 5 is a hidden
execution and leaves the visible book alone) and held against every orderbook
row: wherever the previous row and this one both show the whole book (prices up
to the worse of their last levels), the rebuilt levels must equal the row's, and
a difference is a gap after which the row is taken as the snapshot to resync
from. Prices the previous row could not show (beyond its ``L``-th level) are
learned from the row, since no message file can reveal orders placed before it
starts. The emitted book is the part of the rebuilt book the row covers, so
nothing unverifiable is ever written; trades are executions (types 4 and 5),
with the aggressor opposite to the resting order's direction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from orderflow.importers.book import BookSide, OrderBook
from orderflow.importers.events import BookEvent, Event, TradeEvent
from orderflow.importers.report import ImportReport
from orderflow.importers.source import InputError, iter_lines

__all__ = ["UNIT_NS", "iter_lobster", "lobster_pairs"]

UNIT_NS = 1  # nanoseconds: LOBSTER times carry nine decimals
_NAME = re.compile(r"^(?P<ticker>[^_]+)_(?P<date>\d{4}-\d{2}-\d{2})_\d+_\d+_(?:message|orderbook)_")
_EMPTY = 9_999_999_999  # LOBSTER's price for a level that does not exist
_NEW_YORK = ZoneInfo("America/New_York")
Row = list[tuple[int, int]]


def lobster_pairs(paths: Iterable[str | Path]) -> list[tuple[Path, Path]]:
    """Pair each message file with its orderbook file (given, or lying beside it)."""
    pairs: dict[Path, Path] = {}
    for p in map(Path, paths):
        if "_message_" in p.name:
            msg, ob = p, p.with_name(p.name.replace("_message_", "_orderbook_"))
        elif "_orderbook_" in p.name:
            msg, ob = p.with_name(p.name.replace("_orderbook_", "_message_")), p
        else:
            raise InputError(f"not a LOBSTER message/orderbook file name: {p}")
        for q in (msg, ob):
            if not q.is_file():
                raise InputError(f"LOBSTER needs both files; missing {q}")
        if not _NAME.match(msg.name):
            raise InputError(f"cannot read ticker and date from LOBSTER file name {msg.name}")
        pairs[msg] = ob
    return list(pairs.items())


def _price(p: int) -> str:
    whole, frac = divmod(p, 10_000)
    return f"{whole}.{frac:04d}".rstrip("0").rstrip(".")


def _parse_row(text: str) -> tuple[Row, Row]:
    v = [int(x) for x in text.replace(";", ",").split(",")]
    if not v or len(v) % 4:
        raise ValueError("orderbook row is not a multiple of 4 columns")
    asks = [(v[i], v[i + 1]) for i in range(0, len(v), 4) if abs(v[i]) < _EMPTY and v[i + 1] > 0]
    bids = [
        (v[i + 2], v[i + 3]) for i in range(0, len(v), 4) if abs(v[i + 2]) < _EMPTY and v[i + 3] > 0
    ]
    return asks, bids


def _adjust(side: BookSide, price: int, delta: int) -> None:
    level = side.levels.get(price)
    size = (int(level[1]) if level else 0) + delta
    if size > 0:
        side.set(price, (_price(price), str(size), "0", "0"))
    else:
        side.remove(price)


class _Side:
    """Reconciles one rebuilt side with the rows; ``cap`` is the last price the
    previous row showed when it was full (``None``: it showed the whole side)."""

    def __init__(self, side: BookSide, levels: int) -> None:
        self.side = side
        self.levels = levels
        self.cap: int | None = None
        self.sign = -1 if side.descending else 1  # compare as "price * sign <= cap * sign"

    def window_cap(self, row: Row) -> int | None:
        return row[-1][0] if len(row) >= self.levels else None

    def inside(self, price: int, cap: int | None) -> bool:
        return cap is None or price * self.sign <= cap * self.sign

    def check_and_sync(self, row: Row) -> bool:
        cur = self.window_cap(row)
        prev = self.cap
        caps = [c for c in (prev, cur) if c is not None]
        both = min(caps, key=lambda c: c * self.sign) if caps else None
        ours = [
            (k, int(self.side.levels[k][1]))
            for k in self.side.top_keys(self.levels + 1)
            if self.inside(k, both)
        ]
        theirs = [lv for lv in row if self.inside(lv[0], both)]
        ok = ours == theirs
        if cur is None:
            self.side.clear()
        else:
            for k in [k for k in self.side.top_keys(len(self.side)) if self.inside(k, cur)]:
                self.side.remove(k)
        for p, s in row:
            self.side.set(p, (_price(p), str(s), "0", "0"))
        self.cap = cur
        return ok


def _replay_pair(
    msg_path: Path, ob_path: Path, report: ImportReport, instruments: set[str] | None
) -> Iterator[Event]:
    m = _NAME.match(msg_path.name)
    assert m is not None  # checked by lobster_pairs
    ticker = m["ticker"]
    if instruments is not None and ticker.upper() not in instruments:
        return
    midnight = datetime.fromisoformat(m["date"]).replace(tzinfo=_NEW_YORK)
    midnight_ns = int(midnight.timestamp()) * 1_000_000_000
    rebuilt = OrderBook()
    sides: dict[int, _Side] = {}
    out = OrderBook()
    first = True
    for (where, number, mline), (_w, _n, oline) in zip(
        iter_lines(msg_path), iter_lines(ob_path), strict=False
    ):
        report.messages += 1
        try:
            t_s, kind_s, _oid, size_s, price_s, dir_s = mline.decode().split(",")[:6]
            kind, size, price, direction = int(kind_s), int(size_s), int(price_s), int(dir_s)
            whole, _, frac = t_s.partition(".")
            t = midnight_ns + int(whole) * 1_000_000_000 + int(frac[:9].ljust(9, "0"))
            asks, bids = _parse_row(oline.decode())
        except (ValueError, UnicodeDecodeError):
            report.problem("malformed", where)
            continue
        levels = max(len(asks), len(bids), 1)
        if first:
            levels = len(oline.replace(b";", b",").split(b",")) // 4
            sides = {-1: _Side(rebuilt.asks, levels), 1: _Side(rebuilt.bids, levels)}
            # The state before the first event is the first row with that event undone.
            sides[-1].check_and_sync(asks)
            sides[1].check_and_sync(bids)
            undo = {1: -size, 2: size, 3: size, 4: size}.get(kind, 0)
            if undo and direction in sides:
                _adjust(sides[direction].side, price, undo)
            first = False
        delta = {1: size, 2: -size, 3: -size, 4: -size}.get(kind, 0)
        if delta and direction in sides:
            _adjust(sides[direction].side, price, delta)
        ok_asks = sides[-1].check_and_sync(asks)
        ok_bids = sides[1].check_and_sync(bids)
        if not (ok_asks and ok_bids):
            report.problem("gaps", where)
        if rebuilt.crossed():
            report.problem("crossed", where)
        if kind in (4, 5):
            side = "sell" if direction == 1 else "buy"
            yield TradeEvent(ticker, str(number), _price(price), str(size), side, t)
        out.asks.load((k, rebuilt.asks.levels[k]) for k in rebuilt.asks.top_keys(len(asks)))
        out.bids.load((k, rebuilt.bids.levels[k]) for k in rebuilt.bids.top_keys(len(bids)))
        yield BookEvent(ticker, t, out, where, number)


def iter_lobster(
    paths: Iterable[str | Path],
    report: ImportReport,
    instruments: set[str] | None = None,
) -> Iterator[Event]:
    """Replay LOBSTER file pairs; yields the verified book after every event (use
    ``--interval-ms 0`` to write them all) and a ``TradeEvent`` per execution."""
    wanted = {i.upper() for i in instruments} if instruments else None
    for msg_path, ob_path in lobster_pairs(paths):
        yield from _replay_pair(msg_path, ob_path, report, wanted)
