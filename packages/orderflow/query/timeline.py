"""Several recordings asked as one: daily files shown as one timeline.

Recorders roll their files (a file a day is common), and a month of them is one
history to a trader. A Timeline answers the questions the chart asks
(``orderflow.charts.panel_data``) by asking each file whose span meets the
range, and joins the answers: candles, order flow and bands concatenated (a
window cut by a file edge merged from its parts), the largest trades of all
parts, one volume profile summed over the parts, one heatmap image per part.
Each part answers from its own store and aggregates, so a month at hourly
candles reads a few hundred rows per file.

A part that no page shows is opened only while it is asked, and closed again
after (``release``): ``answers`` asks each part every question of a batch while it
is open, then closes it before opening the next, so a view of many files holds one
file's cached blocks at a time, however many files it spans. A redraw that kept every
file in view attached until it was done held 2-3.5 MiB of DuckDB blocks per file.

The files are expected to follow each other in time; where two overlap, their
rows are both drawn (CVD, which every file starts at zero, simply restarts).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.compute as pc

from orderflow.query.dataset import Dataset
from orderflow.query.heatmap import HeatmapGrid
from orderflow.query.store import return_freed_memory
from orderflow.query.volume_profile import VolumeProfile, value_area

__all__ = ["Timeline"]

_COLUMN_FIRST = {"band", "points"}
"""Range questions whose second argument is a column: the range is their third and fourth."""
_NO_EMPTY_PART = {"volume_profile", "heatmap"}
"""Range questions that answer a range meeting no part without asking one (the others
take an empty table, with its schema, from the first part)."""


class Timeline:
    """The recordings ``paths`` (opened through ``open_part``) as one history.

    ``opened`` says which parts are open now (None for a closed one) and ``release``
    closes one unless some page shows it: a part that was closed is closed again as
    soon as it has answered (one part open at a time, whatever the view spans),
    ``refresh`` takes new rows only into the open parts and tells a change of any
    part by its file's size and modification time, and the whole-history questions
    (instruments, extents, last instant, tick) are answered from what each part said
    when it was last asked. So a timeline left on screen opens no file to poll it,
    and its owner may close the parts it does not show. Without ``opened`` every
    part counts as open.
    """

    def __init__(
        self,
        paths: Sequence[str],
        open_part: Callable[[str], Dataset],
        opened: Callable[[str], Dataset | None] | None = None,
        release: Callable[[str], None] | None = None,
    ) -> None:
        self.paths = list(paths)
        self._open = open_part
        self._opened = opened or open_part
        self._release = release
        self._facts: dict[str, dict[tuple[str, str], object]] = {}
        """Per part, the answers to whole-history questions, dropped when the part changes."""
        self._marks = {path: _file_mark(path) for path in self.paths}
        """Per part, its file's state when ``refresh`` last looked."""
        self.version = 0
        """Counts the refreshes that found a change."""
        self._ticks: dict[tuple[str, str], float | None] = {}
        """Kept across changes, like a Dataset's: the tick bins every profile and footprint."""
        self._asked: dict[tuple[str, str, tuple], object] = {}
        """The parts' answers to the batch ``answers`` is asking, by (part, method, arguments)."""
        self._closed = False
        """Whether a part was closed since the freed memory was last given back."""

    # -- the parts ------------------------------------------------------------------------

    @contextmanager
    def _part(self, path: str) -> Iterator[Dataset]:
        """Part ``path``, open while in the block; closed after (``release``) if it was
        closed before."""
        was_open = self._opened(path) is not None
        try:
            yield self._open(path)
        finally:
            if not was_open and self._release is not None:
                self._release(path)
                self._closed = True

    def _give_back(self) -> None:
        """After the parts a question or a batch opened are closed: hand what their blocks
        used back to the system, once (orderflow.query.store.return_freed_memory)."""
        if self._closed:
            return_freed_memory()
            self._closed = False

    def _fact(self, path: str, question: str, instrument: str = "") -> object:
        """What part ``path`` answers to ``question`` about ``instrument`` (None for an
        instrument it lacks). Every answer of a part is asked at once."""
        if path not in self._facts:
            with self._part(path) as part:
                facts: dict[tuple[str, str], object] = {("instruments", ""): part.instruments()}
                for name in facts[("instruments", "")]:
                    facts[("extent", name)] = part.extent(name)
                    facts[("last", name)] = part.last_metric_ns(name)
                    facts[("median", name)] = part.median_interval_ns(name)
                    if self._ticks.get((path, name)) is None:
                        self._ticks[(path, name)] = part.tick(name)
            self._facts[path] = facts
        return self._facts[path].get((question, instrument))

    def _extent_of(self, path: str, instrument: str) -> tuple[int, int] | None:
        return self._fact(path, "extent", instrument)

    def paths_meeting(self, instrument: str, start: int, end: int) -> list[str]:
        """The parts whose span of ``instrument`` meets [start, end), in time order."""
        met = []
        for path in self.paths:
            extent = self._extent_of(path, instrument)
            if extent is not None and extent[0] < end and extent[1] >= start:
                met.append((extent[0], path))
        return [path for _, path in sorted(met)]

    def _calls(self, name: str, args: tuple) -> list[tuple[str, tuple]]:
        """(part, its arguments) for each part that range question ``name`` asks."""
        if name == "values_at":  # each instant from the last file begun by then
            instrument, column, ts_ns = args
            owned: dict[str, list[int]] = {}
            for ts in ts_ns:
                begun = [
                    (extent[0], path)
                    for path in self.paths
                    if (extent := self._extent_of(path, instrument)) is not None and extent[0] <= ts
                ]
                if begun:
                    owned.setdefault(max(begun)[1], []).append(ts)
            return [(path, (instrument, column, ts)) for path, ts in owned.items()]
        ends = (2, 3) if name in _COLUMN_FIRST else (1, 2)
        instrument, start, end = args[0], args[ends[0]], args[ends[1]]
        met = self.paths_meeting(instrument, start, end)
        if name == "heatmap":  # one grid per part, each with its share of the columns
            span, max_columns = max(1, end - start), args[3]
            calls = []
            for path in met:
                extent = self._extent_of(path, instrument) or (start, end)
                share = (min(end, extent[1] + 1) - max(start, extent[0])) / span
                calls.append((path, (*args[:3], max(1, round(max_columns * share)), *args[4:])))
            return calls
        if not met and name not in _NO_EMPTY_PART:  # an empty answer with its schema
            empty = list(args)
            empty[ends[1]] = start
            return [(self.paths[0], tuple(empty))]
        return [(path, args) for path in met]

    def _answered(self, name: str, args: tuple) -> list[tuple[tuple, object]]:
        """(a part's arguments, its answer) for each part that range question ``name``
        asks, in time order: from the batch ``answers`` asked, else from each part
        opened in turn."""
        out = []
        for path, part_args in self._calls(name, args):
            key = (path, name, _hashable(part_args))
            if key in self._asked:
                out.append((part_args, self._asked[key]))
            else:
                with self._part(path) as part:
                    out.append((part_args, getattr(part, name)(*part_args)))
        self._give_back()
        return out

    def _ask(self, name: str, *args: object) -> list:
        """The answers of the parts that range question ``name`` asks, in time order."""
        return [answer for _, answer in self._answered(name, args)]

    def answers(self, questions: Mapping[str, tuple[str, tuple]]) -> dict[str, object]:
        """Each question (a range method's name and positional arguments) answered, by
        key, as the method answers it. The parts are asked one after the other, each
        every question of the batch while it is open, so a redraw opens a closed part
        once and holds one part's cached blocks at a time (not one per file in view)."""
        asked: dict[str, list[tuple[str, tuple]]] = {}
        for name, args in questions.values():
            for path, part_args in self._calls(name, args):
                asked.setdefault(path, []).append((name, part_args))
        try:
            for path, calls in asked.items():
                with self._part(path) as part:
                    for name, args in calls:
                        key = (path, name, _hashable(args))
                        if key not in self._asked:
                            self._asked[key] = getattr(part, name)(*args)
            return {key: getattr(self, name)(*args) for key, (name, args) in questions.items()}
        finally:
            self._asked.clear()
            self._give_back()

    def refresh(self) -> bool:
        """Take new rows into the open parts; True when any part's file was written since
        the last call (whoever took the rows in: one Dataset serves every page)."""
        changed = False
        for path in self.paths:
            mark = _file_mark(path)  # before taking rows in: a write after it is seen next time
            part = self._opened(path)
            if part is not None:
                part.refresh()
            if mark != self._marks[path]:
                self._marks[path] = mark
                self._facts.pop(path, None)
                changed = True
        self.version += changed
        return changed

    # -- whole-history questions ----------------------------------------------------------

    def instruments(self) -> list[str]:
        found = (self._fact(p, "instruments") for p in self.paths)
        return sorted({i for names in found for i in names})

    def extent(self, instrument: str) -> tuple[int, int] | None:
        spans = [e for p in self.paths if (e := self._extent_of(p, instrument)) is not None]
        return (min(s[0] for s in spans), max(s[1] for s in spans)) if spans else None

    def last_metric_ns(self, instrument: str) -> int | None:
        ends = [self._fact(p, "last", instrument) for p in self.paths]
        known = [e for e in ends if e is not None]
        return max(known) if known else None

    def median_interval_ns(self, instrument: str) -> int | None:
        for path in self.paths:
            if self._extent_of(path, instrument) is not None:
                return self._fact(path, "median", instrument)
        return None

    def tick(self, instrument: str) -> float | None:
        for path in self.paths:  # asked with the facts (again after a change, while None)
            self._fact(path, "instruments")
        ticks = [t for p in self.paths if (t := self._ticks.get((p, instrument))) is not None]
        return min(ticks) if ticks else None

    # -- range questions ------------------------------------------------------------------

    def candles(self, instrument: str, start: int, end: int, window: int) -> pa.Table:
        tables = self._ask("candles", instrument, start, end, window)
        return _merge_equal_ts(pa.concat_tables(tables), _CANDLE)

    def candle_flow(self, instrument: str, start: int, end: int, window: int) -> pa.Table:
        tables = self._ask("candle_flow", instrument, start, end, window)
        return _merge_equal_ts(pa.concat_tables(tables), _SUMS)

    def band(self, instrument: str, column: str, start: int, end: int, width: int) -> pa.Table:
        tables = self._ask("band", instrument, column, start, end, width)
        return _merge_equal_ts(pa.concat_tables(tables), _BAND)

    def points(self, instrument: str, column: str, start: int, end: int, buckets: int) -> pa.Table:
        return pa.concat_tables(self._ask("points", instrument, column, start, end, buckets))

    def footprint(self, instrument: str, start: int, end: int, *args: float) -> pa.Table:
        return pa.concat_tables(self._ask("footprint", instrument, start, end, *args))

    def equity(self, instrument: str, start: int, end: int, buckets: int) -> pa.Table:
        return pa.concat_tables(self._ask("equity", instrument, start, end, buckets))

    def alerts(
        self, instrument: str, start: int, end: int, limit: int, kind: str | None = None
    ) -> pa.Table:
        tables = self._ask("alerts", instrument, start, end, limit, kind)
        return pa.concat_tables(tables).slice(0, limit)

    def fills(self, instrument: str, start: int, end: int, limit: int) -> pa.Table:
        return pa.concat_tables(self._ask("fills", instrument, start, end, limit)).slice(0, limit)

    def large_trades(
        self, instrument: str, start: int, end: int, min_size: float, limit: int
    ) -> pa.Table:
        table = pa.concat_tables(self._ask("large_trades", instrument, start, end, min_size, limit))
        if table.num_rows <= limit:
            return table
        top = pc.sort_indices(table, [("size", "descending"), ("ts_ns", "ascending")])
        kept = table.take(top[:limit])
        return kept.take(pc.sort_indices(kept, [("ts_ns", "ascending")]))

    def values_at(self, instrument: str, column: str, ts_ns: list[int]) -> list[float | None]:
        """Each instant's value from the last file that had begun by then."""
        found: dict[int, float | None] = {}
        for (_, _, owned), values in self._answered("values_at", (instrument, column, ts_ns)):
            found.update(zip(owned, values, strict=True))
        return [found.get(ts) for ts in ts_ns]

    def volume_profile(self, instrument: str, start: int, end: int, tick: float) -> VolumeProfile:
        """The parts' bins summed, then the POC and value area of the sum."""
        volume: dict[int, list[float]] = {}
        for p in self._ask("volume_profile", instrument, start, end, tick):
            for b, buy, sell in zip(p.bins, p.buy, p.sell, strict=True):
                cell = volume.setdefault(b, [0.0, 0.0])
                cell[0] += buy
                cell[1] += sell
        bins = sorted(volume)
        buys = [volume[b][0] for b in bins]
        sells = [volume[b][1] for b in bins]
        totals = [b + s for b, s in zip(buys, sells, strict=True)]
        area = value_area(bins, totals)
        poc, low, high = area if area is not None else (None, None, None)
        return VolumeProfile(tick, bins, buys, sells, totals, poc, low, high)

    def heatmap(
        self, instrument: str, start: int, end: int, max_columns: int, max_rows: int
    ) -> list[HeatmapGrid]:
        """One grid per part, each with its share of the columns."""
        grids = self._ask("heatmap", instrument, start, end, max_columns, max_rows)
        return [grid for grid in grids if grid is not None]


def _hashable(args: tuple) -> tuple:
    """``args`` as a key: lists (the instants of ``values_at``) as tuples."""
    return tuple(tuple(a) if isinstance(a, list) else a for a in args)


def _file_mark(path: str) -> tuple[tuple[int, int] | None, ...]:
    """(modification time, size) of the file and of its write-ahead log: a commit
    changes one of them."""
    marks = []
    for name in (path, f"{path}-wal"):
        try:
            st = os.stat(name)
        except OSError:
            marks.append(None)
        else:
            marks.append((st.st_mtime_ns, st.st_size))
    return tuple(marks)


def _first(a: object, b: object) -> object:
    return a


def _last(a: object, b: object) -> object:
    return b


def _sum(a: float, b: float) -> float:
    return a + b


_CANDLE = {
    "open": _first, "high": max, "low": min, "close": _last, "buy_volume": _sum,
    "sell_volume": _sum, "trades": _sum,
}  # fmt: skip
_SUMS = {"ofi": _sum, "mlofi": _sum, "snapshots": _sum}


def _merge_band(a: dict, b: dict) -> dict:
    n = a["samples"] + b["samples"]
    return {
        "lo": min(a["lo"], b["lo"]),
        "hi": max(a["hi"], b["hi"]),
        "mean": (a["mean"] * a["samples"] + b["mean"] * b["samples"]) / n,
        "samples": n,
    }


_BAND = _merge_band


def _merge_equal_ts(table: pa.Table, how: dict | Callable[[dict, dict], dict]) -> pa.Table:
    """Rows sharing a ``ts_ns`` (a window cut by a file edge) merged, earlier part first."""
    ts = table["ts_ns"].to_pylist()
    if len(set(ts)) == len(ts):
        return table
    rows = table.to_pylist()
    merged: list[dict] = []
    for row in rows:
        if merged and merged[-1]["ts_ns"] == row["ts_ns"]:
            prev = merged[-1]
            if callable(how):
                prev.update(how(prev, row))
            else:
                for column, combine in how.items():
                    prev[column] = combine(prev[column], row[column])
        else:
            merged.append(dict(row))
    return pa.Table.from_pylist(merged, schema=table.schema)
