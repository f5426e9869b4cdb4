"""DDL for the input tables (seed schema) and the output tables Orderflow creates.

The metrics table keeps the seed's columns first so seed-era queries still work,
then adds ``instrument`` and ``ts_ns`` (the parsed instant) because the raw
``timestamp`` text can mix units and formats and so cannot be range-queried,
then the order-flow family (``FLOW_COLUMNS``). A table written by an earlier
version lacks columns added since; ``UPGRADE_COLUMNS`` lists them per table so
the writer can add them in place (``ALTER TABLE ... ADD COLUMN``).
"""

from __future__ import annotations

__all__ = [
    "BOOK_COLUMNS",
    "FLOW_COLUMNS",
    "INPUT_DDL",
    "METRICS_DDL",
    "METRICS_TABLE",
    "OUTPUT_TABLES",
    "REJECTS_DDL",
    "REJECTS_TABLE",
    "RETIRED_INDEXES",
    "RUNS_DDL",
    "RUNS_TABLE",
    "SHARDS_DDL",
    "SHARDS_TABLE",
    "TRADE_COLUMNS",
    "UPGRADE_COLUMNS",
]

BOOK_COLUMNS = ("id", "instrument", "bids", "asks", "timestamp")
TRADE_COLUMNS = ("id", "instrument", "trade_id", "price", "size", "side", "timestamp")

INPUT_DDL = """
CREATE TABLE IF NOT EXISTS book (
    id INTEGER PRIMARY KEY,
    instrument TEXT,
    bids TEXT,
    asks TEXT,
    timestamp TEXT
);
CREATE TABLE IF NOT EXISTS trades (
    id INTEGER PRIMARY KEY,
    instrument TEXT,
    trade_id TEXT,
    price REAL,
    size REAL,
    side TEXT,
    timestamp TEXT
);
"""

FLOW_COLUMNS = (
    "spread",
    "mid",
    "weighted_mid",
    "bid_size_1",
    "ask_size_1",
    "obi_l1",
    "obi_l5",
    "obi_l10",
    "ofi",
    "mlofi",
)
"""The order-flow family's ``metrics`` columns (metrics.md), REAL and nullable, in order."""

METRICS_TABLE = "metrics"
REJECTS_TABLE = "metrics_rejects"
RUNS_TABLE = "metrics_runs"
SHARDS_TABLE = "metrics_shards"
OUTPUT_TABLES = (METRICS_TABLE, REJECTS_TABLE, RUNS_TABLE, SHARDS_TABLE)

METRICS_DDL = """
CREATE TABLE IF NOT EXISTS metrics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    snapshot_id INTEGER NOT NULL,
    timestamp TEXT,
    obi REAL,
    cvd REAL,
    best_bid REAL,
    best_ask REAL,
    instrument TEXT NOT NULL,
    ts_ns INTEGER NOT NULL,
    spread REAL,
    mid REAL,
    weighted_mid REAL,
    bid_size_1 REAL,
    ask_size_1 REAL,
    obi_l1 REAL,
    obi_l5 REAL,
    obi_l10 REAL,
    ofi REAL,
    mlofi REAL,
    FOREIGN KEY (snapshot_id) REFERENCES book(id)
);
CREATE INDEX IF NOT EXISTS idx_metrics_timestamp ON metrics(timestamp);
CREATE UNIQUE INDEX IF NOT EXISTS idx_metrics_snapshot_id ON metrics(snapshot_id);
CREATE INDEX IF NOT EXISTS idx_metrics_ts_instrument ON metrics(ts_ns, instrument);
"""
# The per-instrument index leads with the instant, not the instrument: rows arrive in
# time order, so every insert lands on the b-tree's right edge, which SQLite reaches
# without a search. Keyed (instrument, ts_ns), each instrument but the last is
# appended in the middle of the tree, a search from the root per row: 5.3k
# instructions of a coordinator's row insert (about 19k) with two instruments,
# against 2.0k keyed by time (callgrind, 50k snapshots). A query for one instrument
# over a time range also reads the other instruments' index entries of that range:
# cheap for the one to three instruments a recording usually holds.

RETIRED_INDEXES = ("idx_metrics_instrument_ts",)
"""Indexes of ``metrics`` that earlier versions created and ``create_metrics_table``
drops (after creating their replacement, so a file never lacks both)."""

REJECTS_DDL = """
CREATE TABLE IF NOT EXISTS metrics_rejects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source_table TEXT NOT NULL,
    row_id INTEGER NOT NULL,
    reason TEXT NOT NULL,
    UNIQUE (source_table, row_id)
);
"""

# One row per processing configuration of this file: a finished run with the same
# config key is skipped on re-run, and the coordinator records its committed
# shards against the same key so a killed run can resume.
RUNS_DDL = """
CREATE TABLE IF NOT EXISTS metrics_runs (
    config_key TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    snapshots INTEGER NOT NULL DEFAULT 0,
    rejects INTEGER NOT NULL DEFAULT 0
);
"""

# The coordinator's ledger: one row per planned shard, committed in the same
# transaction as the shard's metrics, so a resumed run knows exactly what is done
# and each instrument's CVD offset at every shard edge; ``tails`` holds the
# ``BookTop`` of each instrument's last snapshot in the shard (JSON), from which
# the next shard's first OFI of that instrument is computed.
SHARDS_DDL = """
CREATE TABLE IF NOT EXISTS metrics_shards (
    config_key TEXT NOT NULL,
    shard_no INTEGER NOT NULL,
    start_ns INTEGER,
    end_ns INTEGER,
    input_key TEXT NOT NULL,
    committed_at TEXT,
    snapshots INTEGER,
    rejects INTEGER,
    trades INTEGER,
    signed_volume TEXT,
    worker TEXT,
    tails TEXT,
    PRIMARY KEY (config_key, shard_no)
);
"""

UPGRADE_COLUMNS = {
    METRICS_TABLE: tuple(f"{name} REAL" for name in FLOW_COLUMNS),
    SHARDS_TABLE: ("tails TEXT",),
}
"""Columns added since the first released schema, per output table, with their types."""
