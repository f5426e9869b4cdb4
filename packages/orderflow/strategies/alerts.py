"""Alert detection over stored metrics, and the ``alerts`` table it fills.

Three kinds, thresholds from the profile's ``alerts`` section:

- ``obi``: OBI beyond +x (or below -x) for at least k consecutive snapshots of
  one instrument. A run is a maximal stretch of consecutive snapshots on the
  same side of the threshold (a NULL OBI or a value within [-x, x] ends it; a
  jump from above +x to below -x starts a new run). One alert per run of
  length >= k, raised at its k-th snapshot: the first moment a live system
  could know. ``value`` is the OBI there; ``snapshots`` the run's full length.
- ``cvd``: |CVD change over the rolling window| > y, the change measured as in
  ``builtin.cvd_change`` (against the latest snapshot at least the window
  earlier). One alert per episode of consecutive snapshots with the change
  beyond y on the same side, raised at its first snapshot. Off when y is unset.
- ``ofi``: |OFI summed over the rolling window| > z (``builtin.ofi_sum``: the
  snapshots of the last ``ofi_window_s``), episodes as for ``cvd``. Off when z
  is unset or the metrics have no ``ofi`` column.

Detection is vectorised (run boundaries with ``np.diff``), so it costs a few
array passes per instrument whatever the number of alerts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import msgspec
import numpy as np

from orderflow.core.timestamps import format_instant_ns
from orderflow.profiles.profile import AlertSettings
from orderflow.store.connections import open_writer
from orderflow.strategies.batch import MetricsBatch
from orderflow.strategies.builtin import cvd_change, ofi_sum

__all__ = [
    "ALERTS_DDL",
    "Alert",
    "detect_alerts",
    "detect_cvd_alerts",
    "detect_obi_alerts",
    "detect_ofi_alerts",
    "read_alerts",
    "runs_of",
    "write_alerts",
]

ALERTS_DDL = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instrument TEXT NOT NULL,
    ts_ns INTEGER NOT NULL,
    timestamp TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('obi', 'cvd', 'ofi')),
    value REAL NOT NULL,
    threshold REAL NOT NULL,
    message TEXT NOT NULL,
    end_ts_ns INTEGER NOT NULL,
    snapshots INTEGER NOT NULL,
    snapshot_id INTEGER
);
CREATE INDEX IF NOT EXISTS idx_alerts_instrument_ts ON alerts(instrument, ts_ns);
"""

_COLUMNS = (
    "instrument, ts_ns, timestamp, kind, value, threshold, message, end_ts_ns, snapshots,"
    " snapshot_id"
)


class Alert(msgspec.Struct, frozen=True):
    """One alert; ``timestamp`` is ``ts_ns`` as ISO-8601 UTC, for people."""

    instrument: str
    ts_ns: int
    timestamp: str
    kind: str
    value: float
    threshold: float
    message: str
    end_ts_ns: int
    snapshots: int
    snapshot_id: int | None = None


def runs_of(state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, length) of each maximal run of equal non-zero values in ``state``."""
    if len(state) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    edges = np.flatnonzero(np.diff(state)) + 1
    starts = np.r_[0, edges]
    lengths = np.diff(np.r_[starts, len(state)])
    keep = state[starts] != 0
    return starts[keep], lengths[keep]


def _side_state(values: np.ndarray, threshold: float) -> np.ndarray:
    """+1 above +threshold, -1 below -threshold, 0 otherwise (NaN included)."""
    with np.errstate(invalid="ignore"):
        return np.where(values > threshold, 1, np.where(values < -threshold, -1, 0)).astype(np.int8)


def _snapshot_id(batch: MetricsBatch, i: int) -> int | None:
    return None if batch.snapshot_id is None else int(batch.snapshot_id[i])


def detect_obi_alerts(batch: MetricsBatch, threshold: float, min_snapshots: int) -> list[Alert]:
    starts, lengths = runs_of(_side_state(batch.obi, threshold))
    alerts = []
    for start, length in zip(starts, lengths, strict=True):
        if length < min_snapshots:
            continue
        fire = int(start + min_snapshots - 1)
        end = int(start + length - 1)
        value = float(batch.obi[fire])
        side = ">" if value > 0 else "<"
        bound = threshold if value > 0 else -threshold
        alerts.append(
            Alert(
                batch.instrument,
                int(batch.ts_ns[fire]),
                format_instant_ns(int(batch.ts_ns[fire])),
                "obi",
                value,
                threshold,
                f"{batch.instrument}: OBI {side} {bound:+.3f} for {min_snapshots} snapshots"
                f" (now {value:+.3f}; run lasted {int(length)} snapshots)",
                int(batch.ts_ns[end]),
                int(length),
                _snapshot_id(batch, fire),
            )
        )
    return alerts


def detect_cvd_alerts(batch: MetricsBatch, threshold: float, window_s: float) -> list[Alert]:
    return _episode_alerts(batch, "cvd", cvd_change(batch, window_s), threshold, window_s)


def detect_ofi_alerts(batch: MetricsBatch, threshold: float, window_s: float) -> list[Alert]:
    return _episode_alerts(batch, "ofi", ofi_sum(batch, window_s), threshold, window_s)


def _episode_alerts(
    batch: MetricsBatch, kind: str, change: np.ndarray, threshold: float, window_s: float
) -> list[Alert]:
    """One alert per run of snapshots with ``change`` beyond the threshold on one side."""
    what = "CVD changed" if kind == "cvd" else "OFI summed to"
    starts, lengths = runs_of(_side_state(change, threshold))
    alerts = []
    for start, length in zip(starts, lengths, strict=True):
        fire, end = int(start), int(start + length - 1)
        value = float(change[fire])
        alerts.append(
            Alert(
                batch.instrument,
                int(batch.ts_ns[fire]),
                format_instant_ns(int(batch.ts_ns[fire])),
                kind,
                value,
                threshold,
                f"{batch.instrument}: {what} {value:+,.4g} over {window_s:g}s"
                f" (|{'change' if kind == 'cvd' else 'sum'}| > {threshold:g};"
                f" lasted {int(length)} snapshots)",
                int(batch.ts_ns[end]),
                int(length),
                _snapshot_id(batch, fire),
            )
        )
    return alerts


def detect_alerts(batch: MetricsBatch, settings: AlertSettings) -> list[Alert]:
    """Every kind the settings turn on, for one instrument, in time order."""
    alerts = detect_obi_alerts(batch, settings.obi_threshold, settings.obi_min_snapshots)
    cvd_threshold = settings.cvd_threshold_for(batch.instrument)
    if cvd_threshold is not None:
        alerts += detect_cvd_alerts(batch, cvd_threshold, settings.cvd_window_s)
    ofi_threshold = settings.ofi_threshold_for(batch.instrument)
    if ofi_threshold is not None and batch.ofi is not None:
        alerts += detect_ofi_alerts(batch, ofi_threshold, settings.ofi_window_s)
    alerts.sort(key=lambda a: (a.ts_ns, a.kind))
    return alerts


def write_alerts(path: str | Path, alerts: Sequence[Alert], instruments: Iterable[str]) -> None:
    """Replace the stored alerts of ``instruments`` with ``alerts``, in one transaction.

    Re-running with the same settings therefore leaves the same rows; other
    instruments' alerts are kept.
    """
    conn = open_writer(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            _upgrade_alerts_table(conn)
            for statement in ALERTS_DDL.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.executemany(
                "DELETE FROM alerts WHERE instrument = ?", [(name,) for name in instruments]
            )
            conn.executemany(
                f"INSERT INTO alerts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [msgspec.structs.astuple(a) for a in alerts],
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.close()


def _upgrade_alerts_table(conn: sqlite3.Connection) -> None:
    """An ``alerts`` table from before OFI alerts only admits 'obi'/'cvd': rebuild it
    with the wider CHECK, rows kept (inside the caller's transaction)."""
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'alerts'")
    sql = row.fetchone()
    if sql is None or "'ofi'" in sql[0]:
        return
    conn.execute("ALTER TABLE alerts RENAME TO alerts_before_ofi")
    conn.execute("DROP INDEX IF EXISTS idx_alerts_instrument_ts")
    for statement in ALERTS_DDL.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(
        f"INSERT INTO alerts (id, {_COLUMNS}) SELECT id, {_COLUMNS} FROM alerts_before_ofi"
    )
    conn.execute("DROP TABLE alerts_before_ofi")


def read_alerts(conn: sqlite3.Connection) -> list[Alert]:
    """Every stored alert in (ts_ns, id) order; empty when the table does not exist."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alerts'"
    ).fetchone()
    if not exists:
        return []
    rows = conn.execute(f"SELECT {_COLUMNS} FROM alerts ORDER BY ts_ns, id").fetchall()
    return [Alert(*row) for row in rows]
