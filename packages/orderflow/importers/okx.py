"""OKX ``books`` channel recordings (cryptofeed layout) replayed with checksum checks.

cryptofeed writes one websocket frame per line, ``<unix seconds>: <json>``, with
the connection's URL in front of the opening and outgoing lines. The ``books``
channel sends a 400-level snapshot and then incremental updates, each carrying a
CRC32 of the top 25 levels *after* it is applied; that checksum is the only way
to know a replayed book matches the exchange's, so every message is verified.
A failed checksum (or, on feeds that carry it, a ``prevSeqId`` that does not
follow the last ``seqId``) discards the book until the next snapshot.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec

from orderflow.importers.book import BookSide, Level, OrderBook
from orderflow.importers.events import BookEvent, Event, TradeEvent
from orderflow.importers.report import ImportReport
from orderflow.importers.source import iter_lines

__all__ = ["CHECKSUM_DEPTH", "UNIT_NS", "iter_okx", "okx_checksum"]

UNIT_NS = 1_000_000  # OKX ``ts`` is epoch milliseconds
CHECKSUM_DEPTH = 25


class _Arg(msgspec.Struct):
    channel: str
    instId: str = ""


class _Frame(msgspec.Struct):
    arg: _Arg | None = None
    action: str | None = None
    data: msgspec.Raw = msgspec.Raw()


class _BookData(msgspec.Struct):
    asks: list[list[str]]
    bids: list[list[str]]
    ts: str
    checksum: int | None = None
    seqId: int | None = None
    prevSeqId: int | None = None


class _Trade(msgspec.Struct):
    instId: str
    tradeId: str
    px: str
    sz: str
    side: str
    ts: str


_decode_frame = msgspec.json.Decoder(_Frame).decode
_decode_books = msgspec.json.Decoder(list[_BookData]).decode
_decode_trades = msgspec.json.Decoder(list[_Trade]).decode


def okx_checksum(bids: list[Level], asks: list[Level]) -> int:
    """OKX's book checksum: CRC32 of ``bid1px:bid1sz:ask1px:ask1sz:...`` over the
    top 25 levels a side (a side that runs out simply stops contributing), using
    the exchange's own strings, as a signed 32-bit integer."""
    parts: list[str] = []
    for i in range(CHECKSUM_DEPTH):
        if i < len(bids):
            parts += (bids[i][0], bids[i][1])
        if i < len(asks):
            parts += (asks[i][0], asks[i][1])
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def _level(raw: list[str]) -> Level:
    price, size = raw[0], raw[1]
    liq = raw[2] if len(raw) > 2 else "0"
    orders = raw[3] if len(raw) > 3 else "0"
    return (price, size, liq, orders)


def _apply(side: BookSide, levels: list[list[str]]) -> None:
    for raw in levels:
        key = float(raw[0])
        if float(raw[1]) == 0.0:
            side.remove(key)
        else:
            side.set(key, _level(raw))


class _State:
    __slots__ = ("book", "seq", "valid")

    def __init__(self) -> None:
        self.book = OrderBook()
        self.valid = False
        self.seq: int | None = None


def _book_message(st: _State, action: str, d: _BookData, report: ImportReport, where: str) -> bool:
    """Apply one books message; True when the book is in sync afterwards."""
    book = st.book
    if action == "snapshot":
        book.clear()
        _apply(book.bids, d.bids)
        _apply(book.asks, d.asks)
        st.valid = True
    elif not st.valid:
        return False
    else:
        if d.prevSeqId is not None and st.seq is not None and d.prevSeqId != st.seq:
            report.problem("gaps", where)
            st.valid = False
            book.clear()
            return False
        _apply(book.bids, d.bids)
        _apply(book.asks, d.asks)
    st.seq = d.seqId
    if d.checksum is not None:
        ours = okx_checksum(book.bids.top(CHECKSUM_DEPTH), book.asks.top(CHECKSUM_DEPTH))
        if ours != d.checksum:
            report.problem("checksum_failures", where)
            st.valid = False
            book.clear()
            return False
    if book.crossed():
        report.problem("crossed", where)
    return True


def iter_okx(
    paths: Iterable[str | Path],
    report: ImportReport,
    instruments: set[str] | None = None,
) -> Iterator[Event]:
    """Replay OKX recordings; yields a ``BookEvent`` after every books message
    whose checksum verified, and a ``TradeEvent`` per trade."""
    wanted = {i.upper() for i in instruments} if instruments else None
    states: dict[str, _State] = {}
    for path in paths:
        for where, _number, raw in iter_lines(path):
            brace = raw.find(b"{")
            if brace < 0:
                if b"<->" not in raw:  # the connection-opened marker has no payload
                    report.problem("malformed", where)
                continue
            try:
                frame = _decode_frame(raw[brace:])
                if frame.arg is None or not frame.data:
                    continue  # requests and subscribe acknowledgements
                inst = frame.arg.instId
                if wanted is not None and inst.upper() not in wanted:
                    continue
                report.messages += 1
                channel = frame.arg.channel
                if channel.startswith("books") and channel != "books5":
                    st = states.get(inst)
                    if st is None:
                        st = states[inst] = _State()
                    for d in _decode_books(frame.data):
                        if _book_message(st, frame.action or "update", d, report, where):
                            yield BookEvent(inst, int(d.ts), st.book, where, d.seqId)
                elif channel == "trades":
                    for t in _decode_trades(frame.data):
                        yield TradeEvent(inst, t.tradeId, t.px, t.sz, t.side, int(t.ts))
            except (msgspec.DecodeError, ValueError, IndexError):
                report.problem("malformed", where)
