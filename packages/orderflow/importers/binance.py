"""Binance combined-stream recordings (hftbacktest layout) replayed into full books.

Each line is ``<local receive ns> <json>``: combined-stream messages
(``<sym>@depth@100ms``/``@depth@0ms`` diffs, ``@trade``, ``@bookTicker``) and, at
(re)connects, one REST depth snapshot (``lastUpdateId``) whose covering diff was
already received. Diffs are therefore buffered per instrument until a snapshot
arrives, and Binance's sequencing rules are applied to the buffer and onward:

* spot: drop diffs with ``u <= lastUpdateId``; the first applied must satisfy
  ``U <= lastUpdateId + 1 <= u``; each later one ``U == previous u + 1``;
* futures (USD-M and COIN-M, recognised by ``pu``): drop ``u < lastUpdateId``;
  the first applied must satisfy ``U <= lastUpdateId <= u``; later ``pu == previous u``.

A break in either rule is a gap: the book is discarded and nothing is emitted for
that instrument until the next REST snapshot resynchronises it. Several files of
one recording continue each other when given in recording order (state carries
over from file to file).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec

from orderflow.importers.book import BookSide, OrderBook
from orderflow.importers.events import BookEvent, Event, TickerEvent, TradeEvent
from orderflow.importers.report import ImportReport
from orderflow.importers.source import iter_lines

__all__ = ["UNIT_NS", "iter_binance"]

UNIT_NS = 1_000_000  # exchange times are epoch milliseconds
_BUFFER_DIFFS = 20_000  # diffs kept while waiting for a snapshot (bounded memory)

PriceQty = tuple[str, str]


class _Line(msgspec.Struct):
    """Either a combined-stream envelope or a REST depth snapshot."""

    stream: str | None = None
    data: msgspec.Raw = msgspec.Raw()  # empty when absent: Raw cannot sit in a union
    lastUpdateId: int | None = None
    symbol: str | None = None
    bids: list[PriceQty] = []
    asks: list[PriceQty] = []


class _Diff(msgspec.Struct):
    E: int
    U: int
    u: int
    b: list[PriceQty]
    a: list[PriceQty]
    pu: int | None = None


class _Trade(msgspec.Struct):
    t: int
    p: str
    q: str
    T: int
    m: bool


class _Ticker(msgspec.Struct):
    u: int
    b: str
    B: str
    a: str
    A: str


_decode_line = msgspec.json.Decoder(_Line).decode
_decode_diff = msgspec.json.Decoder(_Diff).decode
_decode_trade = msgspec.json.Decoder(_Trade).decode
_decode_ticker = msgspec.json.Decoder(_Ticker).decode


class _State:
    """Sequencing state of one instrument: waiting, synced (snapshot loaded, no
    diff applied yet) or live."""

    __slots__ = ("book", "buffer", "last_u", "phase")

    def __init__(self) -> None:
        self.book = OrderBook()
        self.buffer: deque[tuple[_Diff, str]] = deque(maxlen=_BUFFER_DIFFS)
        self.last_u = 0
        self.phase = "wait"


def _apply_side(side: BookSide, levels: list[PriceQty]) -> None:
    for price, qty in levels:
        key = float(price)
        if float(qty) == 0.0:
            side.remove(key)
        else:
            side.set(key, (price, qty, "0", "0"))


class _Replayer:
    def __init__(self, report: ImportReport, instruments: set[str] | None) -> None:
        self.report = report
        self.instruments = instruments
        self.states: dict[str, _State] = {}

    def state(self, instrument: str) -> _State:
        st = self.states.get(instrument)
        if st is None:
            st = self.states[instrument] = _State()
        return st

    def wanted(self, instrument: str) -> bool:
        return self.instruments is None or instrument in self.instruments

    def diff(self, instrument: str, d: _Diff, where: str) -> Iterator[BookEvent]:
        st = self.state(instrument)
        if st.phase == "wait":
            st.buffer.append((d, where))
            return
        futures = d.pu is not None
        last = st.last_u
        if st.phase == "synced":
            if d.u < last or (not futures and d.u == last):
                return  # covered by the snapshot
            ok = d.U <= last <= d.u if futures else d.U <= last + 1 <= d.u
        else:
            if d.u <= last:
                return  # a repeat of what is already applied
            ok = d.pu == last if futures else last + 1 == d.U
        if not ok:
            self.report.problem("gaps", where)
            st.book.clear()
            st.phase = "wait"
            st.buffer.clear()
            st.buffer.append((d, where))
            return
        book = st.book
        _apply_side(book.bids, d.b)
        _apply_side(book.asks, d.a)
        st.last_u = d.u
        st.phase = "live"
        if book.crossed():
            self.report.problem("crossed", where)
        yield BookEvent(instrument, d.E, book, where, d.u)

    def snapshot(self, line: _Line, where: str) -> Iterator[BookEvent]:
        instrument = self._snapshot_owner(line)
        if instrument is None:
            if self.instruments is None:
                self.report.problem("malformed", where)
            return
        if not self.wanted(instrument):
            return
        st = self.state(instrument)
        if st.phase != "wait":
            return  # already in sync: the diffs are newer than any REST snapshot
        last = line.lastUpdateId or 0
        st.book.bids.load((float(p), (p, q, "0", "0")) for p, q in line.bids if float(q))
        st.book.asks.load((float(p), (p, q, "0", "0")) for p, q in line.asks if float(q))
        st.last_u = last
        st.phase = "synced"
        pending = list(st.buffer)
        st.buffer.clear()
        for d, w in pending:
            yield from self.diff(instrument, d, w)

    def _snapshot_owner(self, line: _Line) -> str | None:
        """The REST snapshot names its symbol only on COIN-M; otherwise it belongs
        to the waiting instrument whose buffered diffs reach its ``lastUpdateId``."""
        if line.symbol:
            return line.symbol.upper()
        last = line.lastUpdateId or 0
        waiting = [(k, s) for k, s in self.states.items() if s.phase == "wait" and s.buffer]
        covering = [k for k, s in waiting if s.buffer[0][0].U <= last + 1 <= s.buffer[-1][0].u]
        if len(covering) == 1:
            return covering[0]
        if len(waiting) == 1:
            return waiting[0][0]
        return None


def iter_binance(
    paths: Iterable[str | Path],
    report: ImportReport,
    instruments: set[str] | None = None,
) -> Iterator[Event]:
    """Replay Binance recordings in the given order (files continue each other).

    Yields a ``BookEvent`` after every applied diff of an in-sync book, a
    ``TradeEvent`` per trade and a ``TickerEvent`` per ``bookTicker``; counts
    messages, gaps, crossed books and malformed lines into ``report``.
    """
    rp = _Replayer(report, {i.upper() for i in instruments} if instruments else None)
    for path in paths:
        for where, _number, raw in iter_lines(path):
            _recv, sep, payload = raw.partition(b" ")
            try:
                if not sep:
                    raise ValueError("no receive time")
                line = _decode_line(payload)
                if line.lastUpdateId is not None:
                    report.messages += 1
                    yield from rp.snapshot(line, where)
                    continue
                if line.stream is None or not line.data:
                    raise ValueError("neither a stream message nor a snapshot")
                symbol, _, channel = line.stream.partition("@")
                instrument = symbol.upper()
                if not rp.wanted(instrument):
                    continue
                report.messages += 1
                kind = channel.partition("@")[0]
                if kind == "depth":
                    yield from rp.diff(instrument, _decode_diff(line.data), where)
                elif kind == "trade":
                    t = _decode_trade(line.data)
                    # m: the buyer was the maker, so the seller was the aggressor.
                    side = "sell" if t.m else "buy"
                    yield TradeEvent(instrument, str(t.t), t.p, t.q, side, t.T)
                elif kind == "bookTicker":
                    k = _decode_ticker(line.data)
                    yield TickerEvent(instrument, k.u, k.b, k.B, k.a, k.A, where)
            except (msgspec.DecodeError, ValueError):
                report.problem("malformed", where)
