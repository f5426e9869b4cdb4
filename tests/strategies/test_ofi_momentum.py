"""ofi-momentum and the OFI-sum alert: window sums by hand, stored alerts, old tables upgraded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from orderflow.profiles.profile import AlertSettings
from orderflow.strategies.alerts import detect_alerts, read_alerts, write_alerts
from orderflow.strategies.base import StrategyError
from orderflow.strategies.batch import MetricsBatch
from orderflow.strategies.builtin import OfiMomentum, ofi_sum

S = 1_000_000_000
NAN = float("nan")


def _batch(ofi: list[float] | None) -> MetricsBatch:
    ts = np.array([0, 1, 2, 3, 5], dtype=np.int64) * S + 1_709_251_200 * S
    n = len(ts)
    return MetricsBatch.from_columns(
        "X", ts, np.zeros(n), np.zeros(n), np.ones(n), np.ones(n) * 2, np.arange(1, n + 1), ofi
    )


def test_ofi_sum_over_the_window_by_hand() -> None:
    total = ofi_sum(_batch([NAN, 1.0, 2.0, -4.0, 3.0]), 2.0)
    # (t-2, t]: at 2 s rows 1-2 (1+2), at 3 s rows 2-3 (2-4), at 5 s row 5 (3);
    # before 2 s no snapshot is a full window old
    np.testing.assert_array_equal(total, [NAN, NAN, 3.0, -2.0, 3.0])


def test_ofi_momentum_targets_and_its_hold() -> None:
    batch = _batch([NAN, 1.0, 2.0, -4.0, 3.0])
    np.testing.assert_array_equal(
        OfiMomentum(window_s=2, threshold=1.0).on_metrics(batch), [0, 0, 1, -1, 1]
    )
    np.testing.assert_array_equal(
        OfiMomentum(window_s=2, threshold=2.5).on_metrics(batch), [0, 0, 1, 0, 1]
    )
    held = OfiMomentum(window_s=2, threshold=1.0, min_hold_s=2.5).on_metrics(batch)
    np.testing.assert_array_equal(held, [0, 0, 1, 1, 1])  # -1 at 3 s is inside the hold


def test_without_an_ofi_column_the_strategy_says_what_to_do() -> None:
    with pytest.raises(StrategyError, match="orderflow-coord --force"):
        OfiMomentum().on_metrics(_batch(None))


def test_ofi_alert_once_per_episode_and_off_by_default() -> None:
    batch = _batch([NAN, 1.0, 2.0, -4.0, 3.0])
    assert all(a.kind != "ofi" for a in detect_alerts(batch, AlertSettings()))
    settings = AlertSettings(ofi_window_s=2.0, ofi_sum_threshold=2.5, obi_threshold=1.0)
    alerts = [a for a in detect_alerts(batch, settings) if a.kind == "ofi"]
    assert [(a.ts_ns - batch.ts_ns[0]) // S for a in alerts] == [2, 5]
    assert [a.value for a in alerts] == [3.0, 3.0] and alerts[0].snapshot_id == 3
    assert "OFI summed to +3 over 2s (|sum| > 2.5" in alerts[0].message
    override = AlertSettings(ofi_sum_threshold=100.0, ofi_sum_thresholds={"X": 1.5}, ofi_window_s=2)
    assert len([a for a in detect_alerts(batch, override) if a.kind == "ofi"]) == 3


def test_an_alerts_table_from_before_ofi_is_upgraded_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY AUTOINCREMENT, instrument TEXT NOT NULL,
            ts_ns INTEGER NOT NULL, timestamp TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('obi', 'cvd')), value REAL NOT NULL,
            threshold REAL NOT NULL, message TEXT NOT NULL, end_ts_ns INTEGER NOT NULL,
            snapshots INTEGER NOT NULL, snapshot_id INTEGER);
        CREATE INDEX idx_alerts_instrument_ts ON alerts(instrument, ts_ns);
        INSERT INTO alerts VALUES (1, 'Y', 5, 't', 'cvd', 1.0, 0.5, 'old', 5, 1, NULL);
        """
    )
    conn.close()
    batch = _batch([NAN, 1.0, 2.0, -4.0, 3.0])
    settings = AlertSettings(ofi_window_s=2.0, ofi_sum_threshold=2.5, obi_threshold=1.0)
    write_alerts(path, detect_alerts(batch, settings), ["X"])
    with sqlite3.connect(path) as conn:
        kinds = sorted((a.instrument, a.kind) for a in read_alerts(conn))
    assert kinds == [("X", "ofi"), ("X", "ofi"), ("Y", "cvd")]
