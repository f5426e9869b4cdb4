"""One recording opened for querying: a DuckDB connection over one SQLite file.

The dashboard re-queries on every zoom, so it materialises the two columns
sets it aggregates (valid trades with parsed instants, and metrics) into
DuckDB tables once: the sqlite extension cannot push range filters down to
SQLite, and a full scan per zoom would cost a quarter second on a million
rows. New rows are then appended by ``refresh``: it reads only rows with an
id above the last one seen, through SQLite's own rowid index, so following a
coordinator that is writing costs milliseconds a tick. A notebook that asks
one question passes ``materialize=False`` and queries the file directly.

The materialised copy carries multi-resolution aggregates (``orderflow.query.
aggregates``) that answer coarse windows over long ranges. With ``store=True``
(the dashboard) the copy lives in a DuckDB file kept between runs
(``orderflow.query.store``): built once, then only extended, and read from disk
per query, so a server's start-up time and memory no longer grow with the
recording.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from orderflow.core.errors import InputFileError
from orderflow.query.aggregates import (
    POINT_COLUMNS,
    add_missing_aggregates,
    base_for,
    nice_width_ns,
    query_agg_band,
    query_agg_candle_flow,
    query_agg_candles,
    query_agg_points,
    refresh_aggregates,
)
from orderflow.query.bands import BAND_EXPRESSIONS, query_band
from orderflow.query.candle_flow import query_candle_flow
from orderflow.query.candles import query_candles
from orderflow.query.duckdb_connection import attach_sqlite, connect_duckdb, sqlite_read_error
from orderflow.query.file_rows import TableCopies, as_text, duckdb_cannot_read, read_rows
from orderflow.query.footprint import DEFAULT_IMBALANCE_RATIO, infer_tick, query_footprint
from orderflow.query.heatmap_ladder import build_heat_ladder, query_heat_ladder
from orderflow.query.instants import install_macros
from orderflow.query.series import query_series, query_window_sums
from orderflow.query.store import (
    STORE_VERSION,
    open_store,
    read_meta,
    release_store,
    store_alias,
    write_meta,
)
from orderflow.query.trade_aggregates import (
    TOP_TRADES,
    query_profile_bins,
    query_top_trades,
    whole_hours,
)
from orderflow.query.volume_profile import VolumeProfile, profile_of_bins, query_volume_profile
from orderflow.store.connections import open_readonly
from orderflow.store.schema import FLOW_COLUMNS

if TYPE_CHECKING:
    from orderflow.query.heatmap import HeatmapGrid

__all__ = ["ALERT_COLUMNS", "EQUITY_COLUMNS", "FILL_COLUMNS", "Dataset"]

ALERT_COLUMNS = ("instrument", "ts_ns", "kind", "value", "message")
"""The columns an ``alerts`` table must have for markers on the OBI panel."""
EQUITY_COLUMNS = ("run_id", "instrument", "ts_ns", "equity")
"""The columns a ``backtest_equity`` table must have for the equity panel."""
FILL_COLUMNS = ("run_id", "instrument", "ts_ns", "side", "quantity", "price")
"""The columns a ``backtest_trades`` table must have for entries and exits on the price panel."""
_SIDE_TABLES = {"alerts", "backtest_trades", "backtest_equity"}
"""Tables queried as ``<src alias>.<name>``: the attached file, or copies (query.file_rows)."""

_TRADES_SELECT = """
SELECT * FROM (
    SELECT id, instrument, instant_ns(timestamp) AS ts_ns, valid_amount(price) AS price,
           valid_amount(size) AS size, trade_sign(side) AS sign
    FROM {source}
) WHERE instrument IS NOT NULL AND ts_ns IS NOT NULL AND price IS NOT NULL
    AND size IS NOT NULL AND sign IS NOT NULL
"""
_METRIC_VALUES = ("obi", "cvd", "best_bid", "best_ask", *FLOW_COLUMNS)
_METRICS_SELECT = "SELECT id, snapshot_id, instrument, ts_ns, {values} FROM {source}"
_METRICS_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("snapshot_id", pa.int64()),
        ("instrument", pa.string()),
        ("ts_ns", pa.int64()),
        *((name, pa.float64()) for name in _METRIC_VALUES),
    ]
)
# Raw trade cells go to DuckDB as text (repr of a float round-trips exactly) so the same
# validation SQL judges every row; prices and sizes stored as REAL (nearly all) come as
# numbers beside the text column, which spares a repr per cell.
_RAW_TRADES_SQL = (
    "SELECT id, instrument, "
    "CASE typeof(price) WHEN 'real' THEN price END, "
    "CASE WHEN typeof(price) IN ('text', 'integer') THEN CAST(price AS TEXT) END, "
    "CASE typeof(size) WHEN 'real' THEN size END, "
    "CASE WHEN typeof(size) IN ('text', 'integer') THEN CAST(size AS TEXT) END, "
    "side, timestamp FROM trades"
)
_RAW_TRADES_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("instrument", pa.string()),
        ("price_real", pa.float64()),
        ("price_text", pa.string()),
        ("size_real", pa.float64()),
        ("size_text", pa.string()),
        ("side", pa.string()),
        ("timestamp", pa.string()),
    ]
)
_RAW_TRADES = (
    "(SELECT id, instrument, coalesce(price_real, TRY_CAST(price_text AS DOUBLE)) AS price, "
    "coalesce(size_real, TRY_CAST(size_text AS DOUBLE)) AS size, side, timestamp FROM {rows})"
)


class Dataset:
    """Trades, metrics, alerts and equity of one SQLite recording, queried with DuckDB.

    Methods take and return instants as int ns UTC and return Arrow tables.
    One instance serves one thread at a time (a lock guards the connection).
    """

    def __init__(self, path: str | Path, *, materialize: bool = True, store: bool = False) -> None:
        self.path = Path(path).resolve()
        self.materialize = materialize or store
        self._lock = threading.Lock()
        self._sqlite: sqlite3.Connection = open_readonly(self.path)
        self._tables = self._sqlite_tables()
        if "trades" not in self._tables:
            self._sqlite.close()
            raise InputFileError(self.path, "has no 'trades' table")
        self.persistent = False
        if store:
            self.con, self.persistent = open_store(self.path)
        else:
            self.con = connect_duckdb()
        self._temp = "" if self.persistent else "TEMP "
        # the recording's alias: unique where stores share one DuckDB instance
        self._src = store_alias(self.path).replace("store_", "src_") if self.persistent else "src"
        self._macros = False
        """Whether the timestamp macros are on ``con``: installed when trades are first
        read (a reused store with nothing new never needs them; they cost a quarter
        of reopening it)."""
        self._copies: TableCopies | None = None
        if self.materialize or duckdb_cannot_read(self.path):
            self.materialize = True  # everything through our SQLite (query.file_rows)
            self._copies = TableCopies(self._sqlite, self.con, self._src)
            self._copies.refresh(self._tables & _SIDE_TABLES)
        else:
            attach_sqlite(self.con, self.path, self._src)
        self._seen = {"trades": (0, 0), "metrics": (0, 0)}
        # Counts the refreshes that changed anything. One Dataset serves every page of a
        # server, and only the first page to call refresh() hears True: the others tell
        # a change by this count moving past the one they drew.
        self.version = 0
        self._run: str | None = None
        self._ticks: dict[str, float | None] = {}
        try:
            self.reused = self._reuse_store()
            """True when the rows came from a kept store (only newer rows were read)."""
            if not self.reused:
                self._load()
        except duckdb.Error as exc:
            self.close()
            raise sqlite_read_error(self.path, exc) from None

    # -- the kept copy ----------------------------------------------------------------------

    def _fingerprint(self) -> dict[str, str]:
        """What identifies the copied rows: id bounds, and the text of the first and last
        row of each table (a replaced recording with the same ids differs there)."""
        meta = {"version": STORE_VERSION, "source": str(self.path)}
        for table, cols in (("trades", "id, price, size, side, timestamp"),
                            ("metrics", "id, snapshot_id, ts_ns, cvd")):  # fmt: skip
            lo, hi = self._id_bounds(table)
            meta[f"{table}_ids"] = f"{lo}:{hi}"
            if table in self._tables:
                rows = self._sqlite.execute(
                    f"SELECT {cols} FROM {table} WHERE id IN (?, ?) ORDER BY id", (lo, hi)
                ).fetchall()
                meta[f"{table}_ends"] = repr(rows)
        meta["metric_columns"] = self._metric_values()
        return meta

    def _reuse_store(self) -> bool:
        """Take the store's rows when they are this recording's (then only the rows
        written since are read); False when there is nothing to reuse."""
        if not self.persistent:
            return False
        stored = read_meta(self.con)
        now = self._fingerprint()
        same = all(stored.get(k) == now[k] for k in ("version", "source", "metric_columns"))
        for table in ("trades", "metrics"):
            if stored.get(f"{table}_ids") is None:
                return False
            lo, hi = (int(v) for v in stored[f"{table}_ids"].split(":"))
            now_lo, now_hi = (int(v) for v in now[f"{table}_ids"].split(":"))
            same = same and lo == now_lo and hi <= now_hi
            if hi == now_hi:
                same = same and stored.get(f"{table}_ends") == now.get(f"{table}_ends")
            self._seen[table] = (lo, hi)
        if not same:
            self._seen = {"trades": (0, 0), "metrics": (0, 0)}
            return False
        self._run = self._run_id()  # the ids match, so the stored rows are this run's
        add_missing_aggregates(self.con)
        if not self._take_new_rows():
            self._heat_ladder(full=False)  # heatmap rows may have come without new metrics
        return True

    def _save_meta(self) -> None:
        if not self.persistent:
            return
        meta = self._fingerprint()
        for table in ("trades", "metrics"):  # what is copied, which may trail the file
            lo, hi = self._seen[table]
            meta[f"{table}_ids"] = f"{lo}:{hi}"
            if self._seen[table] != self._id_bounds(table):
                meta.pop(f"{table}_ends", None)
        write_meta(self.con, meta)
        self.con.execute(f"CHECKPOINT {store_alias(self.path)}")

    # -- loading and following ------------------------------------------------------------

    def _sqlite_tables(self) -> set[str]:
        rows = self._sqlite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {r[0] for r in rows}

    def _load(self) -> None:
        self._load_trades()
        self._load_metrics()
        if self.materialize:
            refresh_aggregates(self.con, not self.persistent, None)
            self._heat_ladder(full=True)
        self._save_meta()

    def _heat_ladder(self, *, full: bool) -> None:
        """Decode the recording's depth heatmap (new buckets only unless ``full``) into
        the ladder (orderflow.query.heatmap_ladder)."""
        if "metrics_heatmap_grid" in self._tables:
            build_heat_ladder(self.con, self.path, not self.persistent, full=full)

    def _create(self, name: str, select: str, *, materialize: bool | None = None) -> None:
        table = self.materialize if materialize is None else materialize
        kind = "TABLE" if table else "VIEW"
        order = " ORDER BY instrument, ts_ns" if table else ""
        temp = self._temp if table else "TEMP "
        self.con.execute(f"CREATE OR REPLACE {temp}{kind} {name} AS {select}{order}")

    def _need_macros(self) -> None:
        if not self._macros:
            install_macros(self.con)
            self._macros = True

    def _load_trades(self) -> None:
        self._need_macros()
        if self.materialize:  # one SQLite library per file and process (query.file_rows)
            bounds = self._id_bounds("trades")
            source = _RAW_TRADES.format(rows="file_rows")
            self._copy("trades", bounds[1], _TRADES_SELECT.format(source=source))
            self._seen["trades"] = bounds
            return
        try:
            if not self.materialize:  # a view would only meet bad cells at query time
                self.con.execute(
                    f"SELECT count(price), count(size) FROM {self._src}.trades"
                ).fetchone()
            self._create("trades", _TRADES_SELECT.format(source=f"{self._src}.trades"))
        except duckdb.Error as exc:
            if "Mismatch Type" not in str(exc):
                raise
            self._load_trades_as_text()
        self._seen["trades"] = self._id_bounds("trades")

    def _load_trades_as_text(self) -> None:
        """Text in a REAL column (an invalid trade) stops DuckDB's typed scan, so the
        trades are read once with every column as text and judged by valid_amount, into
        a table even for a notebook query (the setting applies at scan time). SQLite
        renders REALs with 15 significant digits on this path."""
        self.con.execute("SET sqlite_all_varchar = true")
        try:
            self._create(
                "trades", _TRADES_SELECT.format(source=f"{self._src}.trades"), materialize=True
            )
        finally:
            self.con.execute("SET sqlite_all_varchar = false")

    def _metric_values(self) -> str:
        """The value columns to read; NULL for order-flow columns a table written by
        an earlier version lacks (until orderflow-coord upgrades and recomputes it)."""
        have = {r[1] for r in self._sqlite.execute("PRAGMA table_info(metrics)")}
        return ", ".join(c if c in have else f"CAST(NULL AS DOUBLE) AS {c}" for c in _METRIC_VALUES)

    def _load_metrics(self) -> None:
        # Bounds first, then rows up to them: a run commits while we copy, and rows that
        # land between a copy and a later bounds read would be skipped for good.
        bounds = self._id_bounds("metrics")
        self._run = self._run_id()
        if "metrics" in self._tables and self.materialize:
            self._copy("metrics", bounds[1], "SELECT * FROM file_rows")
        elif "metrics" in self._tables:
            select = _METRICS_SELECT.format(
                values=self._metric_values(), source=f"{self._src}.metrics"
            )
            self._create("metrics", f"{select} WHERE id <= {int(bounds[1])}")
        else:
            # No metrics yet (the coordinator has not started): an empty table to append to.
            self.con.register("no_rows", _METRICS_SCHEMA.empty_table())
            self.con.execute(
                f"CREATE OR REPLACE {self._temp}TABLE metrics AS SELECT * FROM no_rows"
            )
            self.con.unregister("no_rows")
        self._seen["metrics"] = bounds

    def _run_id(self) -> str | None:
        """Which run wrote the metrics: a ``--force`` recompute starts a new one, whose
        rows replace the old ones, so the copy must be reloaded, not extended."""
        if "metrics_runs" not in self._tables:
            return None
        row = self._sqlite.execute(
            "SELECT group_concat(config_key || '@' || started_at) FROM metrics_runs"
        ).fetchone()
        return row[0]

    def _id_bounds(self, table: str) -> tuple[int, int]:
        if table not in self._tables:
            return (0, 0)
        # Two subqueries: SQLite answers a lone min() or max() from the rowid index, but
        # scans the whole table for min(id), max(id) in one SELECT.
        lo, hi = self._sqlite.execute(
            f"SELECT (SELECT min(id) FROM {table}), (SELECT max(id) FROM {table})"
        ).fetchone()
        return (lo or 0, hi or 0)

    def refresh(self) -> bool:
        """Take in rows written since the last call; True when anything changed.

        Rows are recognised by id: rows above the highest id seen are appended. If
        rows below it vanished (a ``--force`` recompute), the table is reloaded.
        """
        with self._lock:
            if self._copies is None:  # not materialised: queries read the file itself
                return False
            changed = self._take_in_changes()
            self.version += changed
            return changed

    def _take_in_changes(self) -> bool:
        tables = self._sqlite_tables()
        side = self._copies.refresh(tables & _SIDE_TABLES)
        if tables != self._tables:
            self._tables = tables
            self._load()
            return True
        return self._take_new_rows() or side

    def _take_new_rows(self) -> bool:
        changed = False
        for table in ("trades", "metrics"):
            old_lo, old_hi = self._seen[table]
            lo, hi = self._id_bounds(table)
            rerun = table == "metrics" and self._run_id() != self._run
            if (lo, hi) == (old_lo, old_hi) and not rerun:
                continue
            changed = True
            if lo > old_lo or hi < old_hi or rerun:
                self._load_trades() if table == "trades" else self._load_metrics()
                refresh_aggregates(self.con, not self.persistent, None, (table,))
                continue
            since = self._append(table, old_hi, hi)
            refresh_aggregates(self.con, not self.persistent, since, (table,))
            self._seen[table] = (lo, hi)
        if changed:
            self._heat_ladder(full=False)
            self._save_meta()
        return changed

    def _file_rows(self, table: str, after_id: int, up_to_id: int) -> pa.Table:
        """The file's rows of ``table`` with ``after_id < id <= up_to_id``, read through
        our own SQLite connection (never DuckDB's extension: query.file_rows)."""
        if table == "metrics":
            select = _METRICS_SELECT.format(values=self._metric_values(), source="metrics")
            sql, schema, convert = select, _METRICS_SCHEMA, None
        else:
            sql, schema, convert = _RAW_TRADES_SQL, _RAW_TRADES_SCHEMA, as_text
        return read_rows(
            self._sqlite,
            f"{sql} WHERE id > ? AND id <= ? ORDER BY id",
            (after_id, up_to_id),
            schema,
            convert,
        )

    def _copy(self, table: str, up_to_id: int, select: str) -> None:
        """Materialise ``table`` as ``select`` over the file's rows up to ``up_to_id``."""
        self.con.register("file_rows", self._file_rows(table, -(2**63), up_to_id))
        try:
            self._create(table, select)
        finally:
            self.con.unregister("file_rows")

    def _append(self, table: str, after_id: int, up_to_id: int) -> dict[str, int]:
        """Copy the rows with ``after_id < id <= up_to_id`` (rows committed since the
        bounds were read come with the next call, not twice); returns each
        instrument's earliest new instant (where its aggregates must be rebuilt from)."""
        self._need_macros()
        self.con.register("new_rows", self._file_rows(table, after_id, up_to_id))
        if table == "metrics":
            self.con.execute("INSERT INTO metrics SELECT * FROM new_rows")
        else:
            source = _RAW_TRADES.format(rows="new_rows")
            self.con.execute("INSERT INTO trades " + _TRADES_SELECT.format(source=source))
        since = dict(
            self.con.execute(
                "SELECT instrument, min("
                + ("ts_ns" if table == "metrics" else "instant_ns(timestamp)")
                + ") FROM new_rows WHERE instrument IS NOT NULL GROUP BY 1"
            ).fetchall()
        )
        self.con.unregister("new_rows")
        return {k: v for k, v in since.items() if v is not None}

    # -- questions --------------------------------------------------------------------------

    def answers(self, questions: Mapping[str, tuple[str, tuple]]) -> dict[str, object]:
        """Each question (a method's name and positional arguments) answered, by key: a
        page's questions asked as one batch, which a Timeline answers one file at a time
        (orderflow.query.timeline); here simply each method called."""
        return {key: getattr(self, name)(*args) for key, (name, args) in questions.items()}

    def instruments(self) -> list[str]:
        with self._lock:
            rows = self.con.execute(
                "SELECT DISTINCT instrument FROM (SELECT instrument FROM metrics "
                "UNION ALL SELECT instrument FROM trades) ORDER BY 1"
            ).fetchall()
        return [r[0] for r in rows]

    def extent(self, instrument: str) -> tuple[int, int] | None:
        """(first, last) instant in ns of any trade or metric of ``instrument``."""
        with self._lock:
            lo, hi = self.con.execute(
                "SELECT min(lo), max(hi) FROM ("
                "SELECT min(ts_ns) lo, max(ts_ns) hi FROM metrics WHERE instrument = $i "
                "UNION ALL SELECT min(ts_ns), max(ts_ns) FROM trades WHERE instrument = $i)",
                {"i": instrument},
            ).fetchone()
        return None if lo is None else (lo, hi)

    def last_metric_ns(self, instrument: str) -> int | None:
        with self._lock:
            row = self.con.execute(
                "SELECT max(ts_ns) FROM metrics WHERE instrument = $i", {"i": instrument}
            ).fetchone()
        return row[0]

    def _base(self, width_ns: int) -> int | None:
        """The aggregate base answering ``width_ns``, when there are aggregates."""
        return base_for(width_ns) if self.materialize else None

    def candles(self, instrument: str, start_ns: int, end_ns: int, window_ns: int) -> pa.Table:
        """OHLC candles; windows of whole seconds come from the aggregates (whole base
        windows at the range's ends), others from the trades."""
        base = self._base(window_ns)
        with self._lock:
            if base is not None:
                return query_agg_candles(self.con, instrument, start_ns, end_ns, window_ns, base)
            return query_candles(self.con, "trades", instrument, start_ns, end_ns, window_ns)

    def points(
        self, instrument: str, column: str, start_ns: int, end_ns: int, buckets: int
    ) -> pa.Table:
        """(ts_ns, value) of ``column`` reduced to about ``buckets`` buckets for a line:
        M4 over the rows, or its equivalent from the aggregates once a bucket spans a
        second or more (``cvd``, ``mid`` and the best bid and ask)."""
        width = nice_width_ns(end_ns - start_ns, buckets)
        base = self._base(width) if column in POINT_COLUMNS else None
        if base is None:
            return self.series(instrument, column, start_ns, end_ns, buckets).select(
                ["ts_ns", "value"]
            )
        with self._lock:
            return query_agg_points(self.con, instrument, column, start_ns, end_ns, width, base)

    def footprint(
        self,
        instrument: str,
        start_ns: int,
        end_ns: int,
        window_ns: int,
        tick: float,
        ratio: float = DEFAULT_IMBALANCE_RATIO,
    ) -> pa.Table:
        """Footprint cells (orderflow.query.footprint) of [start_ns, end_ns)."""
        with self._lock:
            return query_footprint(
                self.con, "trades", instrument, start_ns, end_ns, window_ns, tick, ratio
            )

    def volume_profile(
        self, instrument: str, start_ns: int, end_ns: int, tick: float
    ) -> VolumeProfile:
        """Volume per bin, POC and value area of [start_ns, end_ns): from the hourly
        aggregates and the trades of the partial hours at the ends, when the range
        holds a whole hour."""
        hours = whole_hours(start_ns, end_ns) if self.materialize else None
        with self._lock:
            if hours is None:
                return query_volume_profile(self.con, "trades", instrument, start_ns, end_ns, tick)
            bins = query_profile_bins(self.con, instrument, start_ns, end_ns, hours, tick)
        return profile_of_bins(bins, tick)

    def tick(self, instrument: str) -> float | None:
        """The instrument's inferred price tick (smallest gap between distinct trade
        prices), computed once per instrument and kept: it bins every footprint and
        profile, which must not shift as trades arrive."""
        if self._ticks.get(instrument) is None:
            with self._lock:
                self._ticks[instrument] = infer_tick(self.con, "trades", instrument)
        return self._ticks[instrument]

    def series(
        self, instrument: str, column: str, start_ns: int, end_ns: int, buckets: int | None
    ) -> pa.Table:
        with self._lock:
            return query_series(self.con, "metrics", instrument, column, start_ns, end_ns, buckets)

    def window_sums(
        self, instrument: str, column: str, start_ns: int, end_ns: int, buckets: int
    ) -> pa.Table:
        """Per-bucket sums of a flow column (``ofi``, ``mlofi``); see query_window_sums."""
        with self._lock:
            return query_window_sums(
                self.con, "metrics", instrument, column, start_ns, end_ns, buckets
            )

    def candle_flow(self, instrument: str, start_ns: int, end_ns: int, window_ns: int) -> pa.Table:
        """OFI and MLOFI summed per candle window (orderflow.query.candle_flow)."""
        base = self._base(window_ns)
        with self._lock:
            if base is not None:
                return query_agg_candle_flow(
                    self.con, instrument, start_ns, end_ns, window_ns, base
                )
            return query_candle_flow(self.con, "metrics", instrument, start_ns, end_ns, window_ns)

    def heatmap(
        self, instrument: str, start_ns: int, end_ns: int, max_columns: int, max_rows: int
    ) -> HeatmapGrid | None:
        """The stored depth heatmap over [start_ns, end_ns) at about ``max_columns`` x
        ``max_rows`` cells (orderflow.query.heatmap); None without one. A materialised
        Dataset answers from its ladder of decoded buckets, a notebook query from the
        recording's ``metrics_heatmap`` rows."""
        from orderflow.query.heatmap import heatmap  # it imports the notebook API, which imports us

        if "metrics_heatmap_grid" not in self._tables:
            return None
        if self.materialize:
            with self._lock:
                return query_heat_ladder(
                    self.con, instrument, start_ns, end_ns, max_columns, max_rows
                )
        return heatmap(self.path, instrument, start_ns, end_ns, max_columns, max_rows)

    def band(
        self, instrument: str, column: str, start_ns: int, end_ns: int, width_ns: int
    ) -> pa.Table:
        """Min, max and mean of ``column`` per epoch-aligned bucket (orderflow.query.bands)."""
        base = self._base(width_ns) if column == "obi" else None
        with self._lock:
            if base is not None:
                return query_agg_band(self.con, instrument, start_ns, end_ns, width_ns, base)
            return query_band(self.con, "metrics", instrument, column, start_ns, end_ns, width_ns)

    def large_trades(
        self, instrument: str, start_ns: int, end_ns: int, min_size: float, limit: int
    ) -> pa.Table:
        """(ts_ns, price, size, sign) of the ``limit`` largest trades of at least
        ``min_size`` in range, in time order: the price panel's bubbles (from the
        hourly largest trades and the trades of the partial hours at the ends, when the
        range holds a whole hour)."""
        hours = whole_hours(start_ns, end_ns) if self.materialize else None
        with self._lock:
            if hours is not None and limit <= TOP_TRADES:
                return query_top_trades(
                    self.con, instrument, start_ns, end_ns, hours, min_size, limit
                )
            return self.con.execute(
                "SELECT ts_ns, price, size, sign FROM (SELECT ts_ns, id, price, size, sign "
                "FROM trades WHERE instrument = $i AND ts_ns >= $s AND ts_ns < $e "
                "AND size >= $m ORDER BY size DESC, ts_ns, id LIMIT $n) ORDER BY ts_ns, id",
                {"i": instrument, "s": start_ns, "e": end_ns, "m": min_size, "n": limit},
            ).to_arrow_table()

    def values_at(self, instrument: str, column: str, ts_ns: list[int]) -> list[float | None]:
        """The last stored ``column`` value at or before each instant (None before the
        first): where a CVD alert sits on the CVD line."""
        if not ts_ns:
            return []
        value = BAND_EXPRESSIONS[column]
        with self._lock:
            self.con.register("probe_ts", pa.table({"ts_ns": pa.array(ts_ns, pa.int64())}))
            try:
                rows = self.con.execute(
                    f"SELECT p.ts_ns, m.v FROM probe_ts p ASOF LEFT JOIN "
                    f"(SELECT ts_ns, {value} AS v FROM metrics WHERE instrument = $i) m "
                    "ON p.ts_ns >= m.ts_ns ORDER BY p.ts_ns",
                    {"i": instrument},
                ).fetchall()
            finally:
                self.con.unregister("probe_ts")
        found = dict(rows)
        return [found.get(t) for t in ts_ns]

    def median_interval_ns(self, instrument: str) -> int | None:
        """The typical gap between snapshots (the median over the first 10,000): the
        dashboard stops zooming in at a few of them."""
        with self._lock:
            row = self.con.execute(
                "SELECT median(gap) FROM (SELECT ts_ns - lag(ts_ns) OVER (ORDER BY ts_ns) AS gap "
                "FROM (SELECT ts_ns FROM metrics WHERE instrument = $i ORDER BY ts_ns LIMIT 10000))"
                " WHERE gap > 0",
                {"i": instrument},
            ).fetchone()
        return None if row[0] is None else int(row[0])

    def fills(self, instrument: str, start_ns: int, end_ns: int, limit: int) -> pa.Table:
        """The latest backtest run's fills in range as (ts_ns, side, quantity, price,
        entry): ``entry`` is true when the fill moves the position away from zero."""
        if not self.has_table("backtest_trades", FILL_COLUMNS):
            return _FILL_SCHEMA.empty_table()
        with self._lock:
            return self.con.execute(
                "SELECT ts_ns, side, quantity, price, abs(after) > abs(after - signed) AS entry "
                "FROM (SELECT CAST(ts_ns AS BIGINT) AS ts_ns, CAST(side AS VARCHAR) AS side, "
                "CAST(quantity AS DOUBLE) AS quantity, CAST(price AS DOUBLE) AS price, "
                "CASE WHEN lower(side) = 'buy' THEN quantity ELSE -quantity END AS signed, "
                "sum(signed) OVER (ORDER BY ts_ns, rowid) AS after FROM "
                f"{self._src}.backtest_trades WHERE instrument = $i AND run_id = "
                f"(SELECT max(run_id) FROM {self._src}.backtest_trades "
                "WHERE instrument = $i)) WHERE ts_ns >= $s AND ts_ns < $e ORDER BY ts_ns LIMIT $n",
                {"i": instrument, "s": start_ns, "e": end_ns, "n": limit},
            ).to_arrow_table()

    def metric_rows(self, instrument: str, start_ns: int, end_ns: int) -> pa.Table:
        with self._lock:
            return self.con.execute(
                f"SELECT snapshot_id, ts_ns, {', '.join(_METRIC_VALUES)} FROM metrics "
                "WHERE instrument = $i AND ts_ns >= $s AND ts_ns < $e ORDER BY ts_ns, snapshot_id",
                {"i": instrument, "s": start_ns, "e": end_ns},
            ).to_arrow_table()

    def has_table(self, name: str, columns: tuple[str, ...]) -> bool:
        """True when the SQLite file has table ``name`` with at least ``columns``."""
        if name not in self._tables:
            return False
        have = {r[1] for r in self._sqlite.execute(f"PRAGMA table_info({name})")}
        return set(columns) <= have

    def alerts(
        self, instrument: str, start_ns: int, end_ns: int, limit: int, kind: str | None = None
    ) -> pa.Table:
        """Alert rows in range (the earliest ``limit``), of one ``kind`` if given
        (the OBI panel marks only OBI alerts: CVD values would fall off its scale);
        empty when the file has no alerts."""
        if not self.has_table("alerts", ALERT_COLUMNS):
            return pa.table({c: pa.array([], t) for c, t in _ALERT_TYPES.items()})
        with self._lock:
            return self.con.execute(
                "SELECT CAST(ts_ns AS BIGINT) AS ts_ns, CAST(kind AS VARCHAR) AS kind, "
                "CAST(value AS DOUBLE) AS value, CAST(message AS VARCHAR) AS message "
                f"FROM {self._src}.alerts WHERE instrument = $i AND ts_ns >= $s AND ts_ns < $e "
                "AND ($k IS NULL OR kind = $k) ORDER BY ts_ns LIMIT $n",
                {"i": instrument, "s": start_ns, "e": end_ns, "n": limit, "k": kind},
            ).to_arrow_table()

    def equity(self, instrument: str, start_ns: int, end_ns: int, buckets: int) -> pa.Table:
        """The latest backtest run's equity curve, M4-reduced; empty without the table."""
        if not self.has_table("backtest_equity", EQUITY_COLUMNS):
            return _EQUITY_SCHEMA.empty_table()
        with self._lock:
            self.con.execute(
                "CREATE OR REPLACE TEMP VIEW equity_series AS "
                "SELECT CAST(ts_ns AS BIGINT) AS ts_ns, "
                "row_number() OVER (ORDER BY ts_ns) AS snapshot_id, instrument, "
                f"CAST(equity AS DOUBLE) AS obi FROM {self._src}.backtest_equity e "
                f"WHERE run_id = (SELECT max(run_id) FROM {self._src}.backtest_equity l "
                "WHERE l.instrument = e.instrument)"
            )
            table = query_series(
                self.con, "equity_series", instrument, "obi", start_ns, end_ns, buckets
            )
        return table.select(["ts_ns", "value"])

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._sqlite.close()
            if self.persistent:  # the shared instance keeps what is attached until detached
                self.con.execute(f"DETACH {self._src}")
                release_store(self.path, self.con)
            else:
                self.con.close()


_EQUITY_SCHEMA = pa.schema([("ts_ns", pa.int64()), ("value", pa.float64())])
_FILL_SCHEMA = pa.schema(
    [
        ("ts_ns", pa.int64()),
        ("side", pa.string()),
        ("quantity", pa.float64()),
        ("price", pa.float64()),
        ("entry", pa.bool_()),
    ]
)
_ALERT_TYPES = {
    "ts_ns": pa.int64(),
    "kind": pa.string(),
    "value": pa.float64(),
    "message": pa.string(),
}
