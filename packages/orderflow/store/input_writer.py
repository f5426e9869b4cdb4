"""Writes recordings in the seed's input schema, for the generator and the importers.

Rows are buffered and inserted in batches inside transactions, so writing a
million snapshots costs a few hundred commits rather than a million.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import msgspec

from orderflow.core.errors import OutputFileError
from orderflow.store.schema import INPUT_DDL

__all__ = ["InputWriter"]

_encode = msgspec.json.Encoder().encode
Level = Sequence[str | float | int]


INTEGER_TIMESTAMPS_DDL = INPUT_DDL.replace("timestamp TEXT", "timestamp INTEGER")
"""The input tables as many recorders make them: epoch timestamps in INTEGER columns."""


class InputWriter:
    """Append ``book`` and ``trades`` rows to a (new or existing) SQLite file.

    ``integer_timestamps`` creates the tables with INTEGER ``timestamp`` columns
    and stores integer epochs as integers (a TEXT column would convert them to
    text), so tests and benchmarks see the cell types real recorders write.
    ``durable=False`` writes without a journal or fsync, about twice as fast,
    for a new file made in one go (the generator): an interrupted write leaves
    a broken file, to be generated again. It requires ``overwrite``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        overwrite: bool = False,
        batch_size: int = 5000,
        integer_timestamps: bool = False,
        durable: bool = True,
    ):
        if not durable and not overwrite:
            raise ValueError("durable=False is only for a new file (overwrite=True)")
        self.path = Path(path)
        try:
            self._conn = self._open(overwrite, durable, integer_timestamps)
        except (OSError, sqlite3.Error) as exc:  # SQLite's "unable to open" names nothing
            text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            where = self.path.resolve().parent
            why = "" if os.access(where, os.W_OK) else f"; {where} is not writable by this user"
            raise OutputFileError(self.path, f"cannot be written ({text}{why})") from None
        self._batch_size = batch_size
        self._stamp: type[int] | type[str] = int if integer_timestamps else str
        self._books: list[tuple[str, str, str, str | int]] = []
        self._trades: list[tuple[str, str, float, float, str, str | int]] = []
        self.snapshots_written = 0
        self.trades_written = 0

    def _open(self, overwrite: bool, durable: bool, integer_timestamps: bool) -> sqlite3.Connection:
        if overwrite:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute(f"PRAGMA journal_mode = {'WAL' if durable else 'OFF'}")
            conn.execute(f"PRAGMA synchronous = {'NORMAL' if durable else 'OFF'}")
            conn.executescript(INTEGER_TIMESTAMPS_DDL if integer_timestamps else INPUT_DDL)
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    def add_snapshot(
        self,
        instrument: str,
        timestamp: str | int,
        bids: Sequence[Level],
        asks: Sequence[Level],
    ) -> None:
        """Queue one snapshot; levels are ``[price, size, liq_count, order_count]``."""
        self._books.append(
            (instrument, _encode(bids).decode(), _encode(asks).decode(), self._stamp(timestamp))
        )
        if len(self._books) >= self._batch_size:
            self.flush()

    def add_snapshot_json(
        self, instrument: str, timestamp: str | int, bids: str, asks: str
    ) -> None:
        """Queue one snapshot whose sides are already JSON text (the generator's fast path)."""
        self._books.append((instrument, bids, asks, self._stamp(timestamp)))
        if len(self._books) >= self._batch_size:
            self.flush()

    def add_trade(
        self,
        instrument: str,
        trade_id: str,
        price: float,
        size: float,
        side: str,
        timestamp: str | int,
    ) -> None:
        self._trades.append((instrument, str(trade_id), price, size, side, self._stamp(timestamp)))
        if len(self._trades) >= self._batch_size:
            self.flush()

    def flush(self) -> None:
        if not self._books and not self._trades:
            return
        with self._conn:
            self._conn.execute("BEGIN")
            self._conn.executemany(
                "INSERT INTO book (instrument, bids, asks, timestamp) VALUES (?, ?, ?, ?)",
                self._books,
            )
            self._conn.executemany(
                "INSERT INTO trades (instrument, trade_id, price, size, side, timestamp)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                self._trades,
            )
        self.snapshots_written += len(self._books)
        self.trades_written += len(self._trades)
        self._books.clear()
        self._trades.clear()

    def close(self) -> None:
        self.flush()
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.execute("PRAGMA journal_mode = DELETE")
        self._conn.close()

    def __enter__(self) -> InputWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
