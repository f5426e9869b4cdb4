"""One range's metric rows as arrays: the shape a shard result travels and is written in.

A worker's result used to be a Python list per field, and the coordinator
zipped them back into a tuple per row. Now every numeric column is one numpy
array (int64 ids and instants, float64 values with NaN for SQL NULL, which is
safe because a valid metric is never NaN and SQLite binds NaN as NULL), the
instrument of each row is an int32 index into a short name list, and the raw
timestamp texts are one UTF-8 blob plus int64 offsets. The Python path fills
it with ``from_rows``; the native kernel allocates the same arrays and hands
them to the constructor, so both paths produce identical messages. The
coordinator adds CVD offsets to the ``cvd`` column as one array operation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import chain, pairwise
from typing import Any, NamedTuple

import numpy as np

from orderflow.store.metrics_repository import MetricRow
from orderflow.store.schema import FLOW_COLUMNS

__all__ = ["VALUE_COLUMNS", "MetricBatch", "ResultColumns"]

VALUE_COLUMNS = ("obi", "cvd", "best_bid", "best_ask", *FLOW_COLUMNS)
"""The float64 columns of ``ResultColumns.values``, row k of the matrix being column k."""
_CVD = VALUE_COLUMNS.index("cvd")
_OFI = VALUE_COLUMNS.index("ofi")
_MLOFI = VALUE_COLUMNS.index("mlofi")
# Where each value column sits in a MetricRow (snapshot_id, timestamp, obi, cvd,
# best_bid, best_ask, instrument, ts_ns, *FLOW_COLUMNS).
_ROW_POSITIONS = (2, 3, 4, 5, *range(8, 8 + len(FLOW_COLUMNS)))

I64 = np.dtype("<i8")
I32 = np.dtype("<i4")
F64 = np.dtype("<f8")


class MetricBatch(NamedTuple):
    """Some consecutive rows of one range (``RangeMetrics.batches``), partly as columns.

    ``instrument_index`` numbers instruments as ``RangeMetrics.instrument_names``
    does; ``values`` is ``(len(VALUE_COLUMNS), rows)`` float64, NaN for NULL.
    """

    snapshot_ids: list[int]
    timestamps: list[str]
    instrument_index: np.ndarray
    ts_ns: list[int]
    values: np.ndarray


class ResultColumns:
    """The metric rows of one range, column by column (see the module docstring).

    ``values`` has shape ``(len(VALUE_COLUMNS), rows)``; ``timestamp_offsets``
    has ``rows + 1`` entries, row i's text being ``timestamps[o[i]:o[i+1]]``.
    """

    __slots__ = (
        "instrument_index",
        "instrument_names",
        "snapshot_ids",
        "timestamp_offsets",
        "timestamps",
        "ts_ns",
        "values",
    )

    def __init__(
        self,
        snapshot_ids: np.ndarray,
        ts_ns: np.ndarray,
        instrument_index: np.ndarray,
        instrument_names: list[str],
        timestamps: bytes,
        timestamp_offsets: np.ndarray,
        values: np.ndarray,
    ) -> None:
        rows = len(snapshot_ids)
        if not (
            len(ts_ns) == len(instrument_index) == rows
            and len(timestamp_offsets) == rows + 1
            and values.shape == (len(VALUE_COLUMNS), rows)
        ):
            raise ValueError("result columns of different lengths")
        self.snapshot_ids = snapshot_ids
        self.ts_ns = ts_ns
        self.instrument_index = instrument_index
        self.instrument_names = instrument_names
        self.timestamps = timestamps
        self.timestamp_offsets = timestamp_offsets
        self.values = values

    def __len__(self) -> int:
        return len(self.snapshot_ids)

    @classmethod
    def from_rows(cls, rows: Sequence[MetricRow]) -> ResultColumns:
        """Pack ``RangeMetrics`` rows (None becomes NaN)."""
        count = len(rows)
        if not count:
            return cls(
                np.empty(0, I64),
                np.empty(0, I64),
                np.empty(0, I32),
                [],
                b"",
                np.zeros(1, I64),
                np.empty((len(VALUE_COLUMNS), 0), F64),
            )
        columns = list(zip(*rows, strict=True))
        index: dict[str, int] = {}
        instruments = np.fromiter(
            (index.setdefault(name, len(index)) for name in columns[6]), I32, count
        )
        stamps: tuple[str, ...] = columns[1]
        text = "".join(stamps)
        blob = text.encode()
        if len(blob) == len(text):  # ASCII: a character is a byte
            lengths = np.fromiter(map(len, stamps), I64, count)
        else:
            lengths = np.fromiter((len(s.encode()) for s in stamps), I64, count)
        offsets = np.zeros(count + 1, I64)
        np.cumsum(lengths, out=offsets[1:])
        values = np.array([columns[i] for i in _ROW_POSITIONS], F64)
        return cls(
            np.array(columns[0], I64),
            np.array(columns[7], I64),
            instruments,
            list(index),
            blob,
            offsets,
            values,
        )

    @classmethod
    def from_batches(cls, batches: Sequence[MetricBatch], names: list[str]) -> ResultColumns:
        """Join a range's batches; ``names`` are the range's ``instrument_names``."""
        if not batches:
            return cls.from_rows(())
        stamps = list(chain.from_iterable(b.timestamps for b in batches))
        text = "".join(stamps)
        blob = text.encode()
        if len(blob) == len(text):  # ASCII: a character is a byte
            lengths = np.array([len(s) for s in stamps], I64)
        else:
            lengths = np.array([len(s.encode()) for s in stamps], I64)
        offsets = np.zeros(len(stamps) + 1, I64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(
            np.array(list(chain.from_iterable(b.snapshot_ids for b in batches)), I64),
            np.array(list(chain.from_iterable(b.ts_ns for b in batches)), I64),
            np.concatenate([b.instrument_index for b in batches]).astype(I32),
            list(names),
            blob,
            offsets,
            np.concatenate([b.values for b in batches], axis=1).astype(F64),
        )

    # --- the wire form: raw little-endian bytes per column

    def buffers(self) -> dict[str, Any]:
        """The fields of a result message (``orderflow_services.protocol.Result``)."""
        return {
            "rows": len(self),
            "snapshot_ids": self.snapshot_ids.astype(I64, copy=False).tobytes(),
            "ts_ns": self.ts_ns.astype(I64, copy=False).tobytes(),
            "instrument_index": self.instrument_index.astype(I32, copy=False).tobytes(),
            "instrument_names": self.instrument_names,
            "timestamps": self.timestamps,
            "timestamp_offsets": self.timestamp_offsets.astype(I64, copy=False).tobytes(),
            "values": self.values.astype(F64, copy=False).tobytes(),
        }

    @classmethod
    def from_buffers(
        cls,
        rows: int,
        snapshot_ids: bytes,
        ts_ns: bytes,
        instrument_index: bytes,
        instrument_names: list[str],
        timestamps: bytes,
        timestamp_offsets: bytes,
        values: bytes,
    ) -> ResultColumns:
        """The columns of a received message; ``values`` is a writable copy (the
        coordinator adds CVD offsets and fills shard-edge OFI in place). Raises
        ValueError when the buffers do not fit ``rows``."""
        matrix = np.frombuffer(values, F64).copy()
        if matrix.size != len(VALUE_COLUMNS) * rows:
            raise ValueError(f"values hold {matrix.size} numbers, not {len(VALUE_COLUMNS)}x{rows}")
        index = np.frombuffer(instrument_index, I32)
        if rows and (index.min() < 0 or index.max() >= len(instrument_names)):
            raise ValueError("instrument index out of range")
        return cls(
            np.frombuffer(snapshot_ids, I64),
            np.frombuffer(ts_ns, I64),
            index,
            instrument_names,
            timestamps,
            np.frombuffer(timestamp_offsets, I64),
            matrix.reshape(len(VALUE_COLUMNS), rows),
        )

    # --- what the coordinator does with a result

    def add_cvd_offsets(self, offsets: dict[str, float]) -> None:
        """Shift each row's range-relative CVD by its instrument's offset."""
        if len(self):
            per_name = np.array([offsets.get(n, 0.0) for n in self.instrument_names], F64)
            self.values[_CVD] += per_name[self.instrument_index]

    def first_rows(self) -> dict[str, int]:
        """Each instrument's first row (where its OFI needs the previous range)."""
        found, first = np.unique(self.instrument_index, return_index=True)
        names = self.instrument_names
        return {names[i]: row for i, row in zip(found.tolist(), first.tolist(), strict=True)}

    def set_order_flow(self, row: int, ofi: float | None, mlofi: float | None) -> None:
        self.values[_OFI, row] = np.nan if ofi is None else ofi
        self.values[_MLOFI, row] = np.nan if mlofi is None else mlofi

    def timestamp_texts(self) -> list[str]:
        offsets = self.timestamp_offsets.tolist()
        blob = self.timestamps
        text = blob.decode()
        if len(text) == len(blob):
            return [text[a:b] for a, b in pairwise(offsets)]
        return [blob[a:b].decode() for a, b in pairwise(offsets)]

    def rows(self) -> Iterator[tuple]:
        """``MetricRow``-ordered tuples for the writer, NaN standing for NULL."""
        names = self.instrument_names
        values = self.values.tolist()
        return zip(
            self.snapshot_ids.tolist(),
            self.timestamp_texts(),
            *values[:4],
            map(names.__getitem__, self.instrument_index.tolist()),
            self.ts_ns.tolist(),
            *values[4:],
            strict=True,
        )
