"""The coordinator-worker wire protocol: constants, messages and their codec.

Both sides import this one module, so a message can only change in one place.
Every message is a frozen, array-like, tagged msgspec Struct (array-like halves
decode time; the tag lets one typed decoder tell the union apart), and anything
that does not decode into the union is reported as ``MalformedMessage`` for the
receiver to log and drop: a stray or hostile peer can never crash a run.

The shape is the zguide's ROUTER (coordinator) / DEALER (worker) pair with
heartbeats both ways. Results travel as columns of raw little-endian bytes
(``orderflow.pipeline.result_columns``), never as a message per snapshot.
"""

from __future__ import annotations

from typing import Any

import msgspec

from orderflow.core.heatmap import DEFAULT_BUCKET_MS, HeatmapPartials
from orderflow.core.order_flow import BookTop
from orderflow.pipeline.range_metrics import DEFAULT_OFI_LEVELS
from orderflow.pipeline.result_columns import ResultColumns
from orderflow.store.input_repository import OrderScan

__all__ = [
    "HEARTBEAT_INTERVAL_S",
    "HEARTBEAT_LIVENESS",
    "RECONNECT_MAX_S",
    "RECONNECT_MIN_S",
    "Disconnect",
    "Failed",
    "Heartbeat",
    "MalformedMessage",
    "Message",
    "MessageCodec",
    "OutOfOrder",
    "Ready",
    "Result",
    "Rows",
    "RowsRequest",
    "Task",
    "silence_limit_s",
]

HEARTBEAT_INTERVAL_S = 1.0
"""Seconds between heartbeats each side sends when it has nothing else to say."""
HEARTBEAT_LIVENESS = 3
"""Missed heartbeat intervals after which a peer counts as dead."""
RECONNECT_MIN_S = 0.5
"""First delay before a worker reconnects to a silent coordinator, seconds."""
RECONNECT_MAX_S = 8.0
"""Cap of the worker's doubling reconnect delay, seconds."""


def silence_limit_s() -> float:
    """How long a peer may stay silent before it is declared dead, seconds."""
    return HEARTBEAT_INTERVAL_S * HEARTBEAT_LIVENESS


class _Wire(msgspec.Struct, frozen=True, array_like=True, tag=True):
    """Base of every message: frozen, array-like, tagged by class name."""


class Ready(_Wire):
    """Worker -> coordinator, first message after (re)connecting."""

    pid: int
    host: str


class Heartbeat(_Wire):
    """Either way: 'I am alive' when there is nothing else to send."""


class Disconnect(_Wire):
    """Either way: the sender is leaving (or, to a worker, 'reconnect and say Ready')."""

    reason: str = ""


SHUTDOWN_REASON = "shutdown"
"""Disconnect reason with which a coordinator ends a run; workers then exit."""


class Task(_Wire):
    """Coordinator -> worker: compute one shard ``start_ns <= instant < end_ns``.

    The scans are trimmed to the samples around the shard, so a task stays a
    few hundred bytes however large the file is.
    """

    task_id: int
    path: str
    shard_no: int
    start_ns: int | None
    end_ns: int | None
    book_scan: OrderScan
    trade_scan: OrderScan
    depth: int | None
    instruments: list[str] | None
    order_index: str | None = None
    """Scratch (instant, id) index for tables whose ids are out of time order."""
    ofi_levels: int = DEFAULT_OFI_LEVELS
    """Levels of multi-level OFI (profile ``ofi_levels``)."""
    heatmap_ticks: dict[str, float] = {}
    """Heatmap bin width per instrument, decided for the whole run (empty: no heatmap)."""
    heatmap_bucket_ms: int = DEFAULT_BUCKET_MS


class RowsRequest(_Wire):
    """Worker -> coordinator: 'I cannot open the file; send me the shard's rows'."""

    task_id: int
    problem: str


class Rows(_Wire):
    """Coordinator -> worker: a shard's raw input rows, column by column.

    Columns follow ``BookRow``/``TradeRow`` of the input repository; price and
    size stay as stored (number or text) so the worker validates them exactly
    as it would reading the file.
    """

    task_id: int
    book_ids: list[int]
    book_instruments: list[Any]  # text, or NULL and BLOB cells the worker rejects
    book_bids: list[str | None]
    book_asks: list[str | None]
    book_timestamps: list[str]
    book_ns: list[int]
    trade_ids: list[int]
    trade_instruments: list[Any]
    trade_prices: list[Any]
    trade_sizes: list[Any]
    trade_sides: list[Any]
    trade_timestamps: list[str]
    trade_ns: list[int]
    book_unparseable: list[int] = []
    """Ids of the shard's book rows whose timestamp does not parse (unverified plans)."""
    trade_unparseable: list[int] = []


class Result(_Wire):
    """Worker -> coordinator: one shard's metrics as columns of raw bytes.

    The column fields are ``ResultColumns.buffers()`` (int64 ids and instants,
    int32 instrument index into ``instrument_names``, float64 ``values`` in
    ``VALUE_COLUMNS`` order with NaN for NULL, timestamps as one UTF-8 blob plus
    int64 offsets). ``cvd`` is relative to the shard start; ``signed_volume`` is
    each instrument's net traded size over the whole shard, the offset the next
    shard of that instrument starts from. ``ofi``/``mlofi`` are NULL at each
    instrument's first row; ``heads``/``tails`` are the ``BookTop`` of its first
    and last row, from which the coordinator fills that row.
    """

    task_id: int
    rows: int
    snapshot_ids: bytes
    ts_ns: bytes
    instrument_index: bytes
    instrument_names: list[str]
    timestamps: bytes
    timestamp_offsets: bytes
    values: bytes
    heads: dict[str, BookTop]
    tails: dict[str, BookTop]
    rejects: list[tuple[str, int, str]]
    signed_volume: dict[str, float]
    trades: int
    seconds: float
    heatmap: HeatmapPartials | None = None
    """The shard's depth-heatmap cells (sums and counts; edge buckets are completed
    by the coordinator from the neighbouring shard's part)."""

    def columns(self) -> ResultColumns:
        """The metric columns as arrays; raises ValueError when they do not fit."""
        return ResultColumns.from_buffers(
            self.rows,
            self.snapshot_ids,
            self.ts_ns,
            self.instrument_index,
            self.instrument_names,
            self.timestamps,
            self.timestamp_offsets,
            self.values,
        )


class OutOfOrder(_Wire):
    """Worker -> coordinator: a table the plan assumed in time order is not (the
    coordinator plans the file again from a full scan)."""

    task_id: int
    table: str
    row_id: int


class Failed(_Wire):
    """Worker -> coordinator: the shard cannot be computed (the message says why)."""

    task_id: int
    error: str


Message = Ready | Heartbeat | Disconnect | Task | RowsRequest | Rows | Result | Failed | OutOfOrder


class MalformedMessage(Exception):
    """A frame that is not one of ``Message``; receivers log it and drop it."""


class MessageCodec:
    """One encoder and one typed decoder, built once per socket."""

    def __init__(self) -> None:
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(Message)

    def encode(self, message: Message) -> bytes:
        return self._encoder.encode(message)

    def decode(self, frame: bytes) -> Message:
        try:
            return self._decoder.decode(frame)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise MalformedMessage(f"{len(frame)}-byte frame: {exc}") from None
