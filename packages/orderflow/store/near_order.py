"""Tables whose ids are only nearly in time order: a measured margin instead of a sort.

Merged or re-sequenced feeds hand out ids in arrival order, so a row's instant
can lag the instants of rows with smaller ids by up to the feed's jitter
(milliseconds to seconds). Such a table is not in time order, but it is in order
*within a margin* ``M``: for any rows ``a`` before ``b`` by id,
``ns(a) <= ns(b) + M``. That is enough to read any instant range by primary key,
without the scratch order index a shuffled table needs:

* the sparse index keeps, per sample, the running maximum of the sampled
  instants (``sample_ns``, non-decreasing) and the running minimum from the
  end (``sample_min``); a row between samples ``i`` and ``i + 1`` lies in
  ``[sample_ns[i] - M, sample_min[i + 1] + M]`` (the *envelope*);
* a range ``[start, end)`` then lies within the ids from the last sample whose
  ``sample_min`` is below ``start - M`` to the first whose ``sample_ns`` is at
  or above ``end + M`` (``OrderScan.id_bounds``);
* the reader orders that id range locally by ``(instant, id)`` with a buffer
  that releases a row once every later row is known to come after it
  (``reordered_batches``), so memory is bounded by the margin, not the file.

The margin of a full scan is exact. Probes estimate it (``probe_margin``) from
the sampled rows and from short runs of consecutive rows, with a safety factor;
whoever reads through such an unverified scan checks every row against the
envelope and raises ``TableOutOfOrder`` on a row outside it, as for an ordered
table, so an estimate that was too small can never give a wrong result.
"""

from __future__ import annotations

import bisect
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from itertools import accumulate

import numpy as np

from orderflow.core.errors import TableOutOfOrder
from orderflow.core.timestamps import parse_instants_ns

__all__ = [
    "MARGIN_FLOOR_SHARE",
    "MARGIN_SAFETY",
    "MAX_MARGIN_SHARE",
    "check_columns",
    "inversion_margin",
    "probe_margin",
    "readable_by_range",
    "reordered_batches",
    "sample_envelope",
]

MAX_MARGIN_SHARE = 16
"""A table whose margin exceeds 1/16 of its time span counts as shuffled: widened
reads would then cost more than sorting it once into an order index."""
MARGIN_SAFETY = 2
"""Probes see a sample of the rows; the margin they report is this multiple of the
largest lag they saw..."""
MARGIN_FLOOR_SHARE = 4096
"""...and at least 1/4096 of the table's time span once they saw any lag at all: a
merged feed's typical lag is far below its worst (with a uniform jitter, rows
close in time swap often, rows a jitter apart almost never), so a few thousand
probed rows see the former. A margin too small is caught by the readers, at the
price of a full scan and a restart; one this size makes each shard read rows
from 1/2048 of the file's time span more than it needs."""
WINDOWS = 16
"""Runs of consecutive rows the probes read, spread evenly over the ids."""
WINDOW_ROWS = 256
"""Rows per run at first; runs grow while their lag fills a large share of their span."""
MAX_WINDOW_ROWS = 4096
FETCH_ROWS = 2000


def inversion_margin(instants: Sequence[int], peak: int) -> tuple[int, int]:
    """(largest lag of a row behind the running maximum, new running maximum), the
    running maximum starting at ``peak``."""
    if instants and instants[0] >= peak and list(instants) == sorted(instants):
        return 0, instants[-1]  # in time order, as nearly every run is: no Python loop
    peaks = list(accumulate(instants, max, initial=peak))
    lag = max((p - ns for p, ns in zip(peaks, instants, strict=False)), default=0)
    return max(lag, 0), peaks[-1]


def sample_envelope(instants: Sequence[int]) -> tuple[list[int], list[int]]:
    """(running maximum, running minimum from the end) of sampled instants."""
    highs = list(accumulate(instants, max))
    lows = list(accumulate(reversed(instants), min))[::-1]
    return highs, lows


def readable_by_range(margin_ns: int, first_ns: int | None, last_ns: int | None) -> bool:
    """A margin small against the table's span: read by id range and order locally."""
    if margin_ns == 0 or first_ns is None or last_ns is None:
        return True
    return margin_ns * MAX_MARGIN_SHARE <= last_ns - first_ns


def probe_margin(
    conn: sqlite3.Connection, table: str, min_id: int, max_id: int, sampled: Sequence[int]
) -> int:
    """Estimated margin from the sampled instants (in id order) and from runs of
    consecutive rows; 0 when everything probed is in time order.

    ``table`` must already have passed ``check_input_table``.
    """
    lag, _ = inversion_margin(sampled, -(2**63))
    rows = WINDOW_ROWS
    while True:
        widest, narrow = lag, False
        for start in _window_starts(min_id, max_id):
            batch = conn.execute(
                f"SELECT timestamp FROM {table} WHERE id >= ? ORDER BY id LIMIT ?",
                (start, rows),
            ).fetchall()
            instants = [ns for ns in parse_instants_ns([r[0] for r in batch]) if ns is not None]
            if len(instants) < 2:
                continue
            seen, _ = inversion_margin(instants, instants[0])
            widest = max(widest, seen)
            narrow = narrow or (seen > 0 and seen * 4 > max(instants) - min(instants))
        if not narrow or rows >= MAX_WINDOW_ROWS or rows > max_id - min_id:
            break
        rows *= 4
    if not widest:
        return 0
    span = max(sampled) - min(sampled)
    return max(widest * MARGIN_SAFETY, span // MARGIN_FLOOR_SHARE)


def _window_starts(min_id: int, max_id: int) -> list[int]:
    span = max_id - min_id
    return sorted({min_id + span * k // WINDOWS for k in range(WINDOWS)})


class _Envelope:
    """Where each row of an id range must lie, from the samples bracketing it."""

    def __init__(self, ids: list[int], highs: list[int], lows: list[int], margin: int) -> None:
        self.ids, self.highs, self.lows, self.margin = ids, highs, lows, margin
        self.after = 0  # index of the first sample with id > the last row seen

    def advance(self, row_id: int) -> None:
        ids = self.ids
        self.after = bisect.bisect_right(ids, row_id, self.after)

    def floor(self) -> int:
        """Every row after the last one seen has an instant at or above this."""
        i = self.after - 1
        return self.highs[i] - self.margin if i >= 0 else -(2**63)

    def ceiling(self) -> int:
        j = self.after
        return self.lows[j] + self.margin if j < len(self.lows) else 2**63


def reordered_batches(
    cursor: sqlite3.Cursor,
    table: str,
    ids: list[int],
    highs: list[int],
    lows: list[int],
    margin: int,
    span: tuple[int, int],
    wanted: set[str] | None,
    *,
    check: bool,
    unparseable: Callable[[int], None] | None = None,
) -> Iterator[list[tuple]]:
    """Rows of an id-ordered cursor (instant text last) with ``span[0] <= instant <
    span[1]``, in (instant, id) order, each with its instant appended.

    With ``check``, rows outside the envelope raise ``TableOutOfOrder``, and rows
    whose timestamp does not parse go to ``unparseable`` when the nearest parseable
    row before them by id falls in ``span`` (one range per such row, as for an
    ordered table).
    """
    lo_ns, hi_ns = span
    envelope = _Envelope(ids, highs, lows, margin)
    pending: list[tuple] = []
    previous = -(2**63)  # instant of the last parseable row by id
    while batch := cursor.fetchmany(FETCH_ROWS):
        instants = parse_instants_ns([row[-1] for row in batch])
        if None in instants:
            report = unparseable if check else None
            previous = _check_rows(table, batch, instants, envelope, span, previous, report)
        else:
            if check:
                _check_segments(table, batch, instants, envelope)  # type: ignore[arg-type]
            envelope.advance(batch[-1][0])
            previous = instants[-1]  # type: ignore[assignment]
        kept = [
            (*row, ns)
            for row, ns in zip(batch, instants, strict=True)
            if ns is not None and lo_ns <= ns < hi_ns
        ]
        if wanted is not None:
            kept = [row for row in kept if row[1] in wanted]
        pending += kept
        if pending:
            pending.sort(key=_instant_then_id)
            cut = bisect.bisect_left(pending, envelope.floor(), key=_instant)
            if cut:
                yield pending[:cut]
                del pending[:cut]
    if pending:
        pending.sort(key=_instant_then_id)
        yield pending


def _check_segments(
    table: str, batch: list[tuple], instants: list[int], envelope: _Envelope
) -> None:
    """The envelope check a run of rows between two samples at a time (all parsed)."""
    row_ids = [row[0] for row in batch]
    start, count = 0, len(row_ids)
    while start < count:
        envelope.advance(row_ids[start])
        after = envelope.after
        end = count
        if after < len(envelope.ids):
            end = bisect.bisect_left(row_ids, envelope.ids[after], start)
        segment = instants[start:end]
        floor, ceiling = envelope.floor(), envelope.ceiling()
        if min(segment) < floor or max(segment) > ceiling:
            bad = next(i for i, ns in enumerate(segment) if not floor <= ns <= ceiling)
            raise TableOutOfOrder(table, row_ids[start + bad])
        start = end


def _check_rows(
    table: str,
    batch: list[tuple],
    instants: list[int | None],
    envelope: _Envelope,
    span: tuple[int, int],
    previous: int,
    unparseable: Callable[[int], None] | None,
) -> int:
    """Row by row, for a batch with unparseable timestamps: the envelope check, and
    the unparseable rows that are this range's go to ``unparseable`` (None for a
    verified scan, whose unparseable rows were rejected up front and whose exact
    margin makes the check a formality); returns the last parsed instant."""
    lo_ns, hi_ns = span
    for row, ns in zip(batch, instants, strict=True):
        envelope.advance(row[0])
        if ns is None:
            if unparseable is not None and lo_ns <= previous < hi_ns:
                unparseable(row[0])
            continue
        if not envelope.floor() <= ns <= envelope.ceiling():
            raise TableOutOfOrder(table, row[0])
        previous = ns
    return previous


def _instant_then_id(row: tuple) -> tuple[int, int]:
    return row[-1], row[0]


def _instant(row: tuple) -> int:
    return row[-1]


def check_columns(
    table: str,
    ids: np.ndarray,
    ns: np.ndarray,
    parsed: np.ndarray,
    scan_samples: tuple[list[int], list[int], list[int]],
    margin: int,
    span: tuple[int, int],
) -> list[int]:
    """``reordered_batches``' checks over one id range's columns (ids ascending; ``ns``
    of unparsed rows ignored): raises ``TableOutOfOrder`` for the first row outside
    the envelope, else returns the ids of unparseable rows that belong to ``span``."""
    sample_ids, highs, lows = scan_samples
    after = np.searchsorted(np.asarray(sample_ids, dtype=np.int64), ids, side="right")
    high = np.concatenate(([-(2**62)], np.asarray(highs, dtype=np.int64) - margin))
    low = np.concatenate((np.asarray(lows, dtype=np.int64) + margin, [2**62]))
    outside = parsed & ((ns < high[after]) | (ns > low[after]))
    if outside.any():
        raise TableOutOfOrder(table, int(ids[np.argmax(outside)]))
    last = np.maximum.accumulate(np.where(parsed, np.arange(len(ns)), -1))
    previous = np.where(last >= 0, ns[np.maximum(last, 0)], -(2**63))
    mine = ~parsed & (previous >= span[0]) & (previous < span[1])
    return ids[mine].tolist()
