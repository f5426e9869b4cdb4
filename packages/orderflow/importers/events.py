"""What a format module hands to the sink: book changes, trades and tickers.

Every format reduces to the same three events so that sampling, writing and
reporting live in one place; a format module only has to say when its book is
trustworthy (it yields ``BookEvent`` only then).
"""

from __future__ import annotations

from orderflow.importers.book import OrderBook

__all__ = ["BookEvent", "Event", "TickerEvent", "TradeEvent"]


class BookEvent:
    """The live book of ``instrument`` right after an applied update at ``time``.

    ``book`` is the importer's own object and keeps changing: copy what you need
    before advancing the iterator. ``update_id`` is the feed's sequence number of
    the last applied update where it has one (Binance ``u``), else ``None``.
    """

    __slots__ = ("book", "instrument", "time", "update_id", "where")

    def __init__(
        self,
        instrument: str,
        time: int,
        book: OrderBook,
        where: str,
        update_id: int | None = None,
    ) -> None:
        self.instrument = instrument
        self.time = time
        self.book = book
        self.where = where
        self.update_id = update_id


class TradeEvent:
    """One trade; ``side`` is the aggressor's ("buy" lifts the ask)."""

    __slots__ = ("instrument", "price", "side", "size", "time", "trade_id")

    def __init__(
        self, instrument: str, trade_id: str, price: str, size: str, side: str, time: int
    ) -> None:
        self.instrument = instrument
        self.trade_id = trade_id
        self.price = price
        self.size = size
        self.side = side
        self.time = time


class TickerEvent:
    """An exchange-side best bid/offer (Binance ``bookTicker``): not written, but
    passed through so tests can hold the rebuilt book against the exchange's own."""

    __slots__ = ("ask", "ask_size", "bid", "bid_size", "instrument", "update_id", "where")

    def __init__(
        self,
        instrument: str,
        update_id: int,
        bid: str,
        bid_size: str,
        ask: str,
        ask_size: str,
        where: str,
    ) -> None:
        self.instrument = instrument
        self.update_id = update_id
        self.bid = bid
        self.bid_size = bid_size
        self.ask = ask
        self.ask_size = ask_size
        self.where = where


Event = BookEvent | TradeEvent | TickerEvent
