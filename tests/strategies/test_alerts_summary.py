"""Alerts on metrics with known runs, and summaries against numpy computed here."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from orderflow.profiles.profile import AlertSettings
from orderflow.strategies.alerts import detect_alerts, detect_obi_alerts, read_alerts, write_alerts
from orderflow.strategies.batch import MetricsBatch
from orderflow.strategies.summary import summarize_metrics

S = 1_000_000_000


def planted_obi(rng, runs, n=2000, theta=0.6):
    """Background |OBI| < theta with planted runs {start: (length, sign)}."""
    obi = rng.uniform(-theta + 0.01, theta - 0.01, n)
    for start, (length, sign) in runs.items():
        obi[start : start + length] = sign * rng.uniform(theta + 0.01, 1.0, length)
    return obi


def test_obi_alerts_fire_once_per_run_at_its_kth_snapshot():
    rng = np.random.default_rng(11)
    runs = {100: (5, 1), 300: (4, 1), 500: (12, -1), 900: (7, 1), 907: (6, -1), 1500: (30, 1)}
    obi = planted_obi(rng, runs)
    obi[1510] = np.nan  # splits the last run into 10 and 19
    ts = np.arange(len(obi), dtype=np.int64) * S // 10
    b = MetricsBatch.from_columns(
        "X", ts, obi, np.zeros(len(obi)), np.ones(len(obi)), np.ones(len(obi))
    )
    alerts = detect_obi_alerts(b, 0.6, 5)
    # run lengths >= 5: 100 (5), 500 (12), 900 (7, +), 907 (6, -), 1500 (10), 1511 (19)
    expected = [(100, 5), (500, 12), (900, 7), (907, 6), (1500, 10), (1511, 19)]
    assert [(int(a.ts_ns // (S // 10)) - 4, a.snapshots) for a in alerts] == expected
    assert [a.value for a in alerts] == [obi[s + 4] for s, _ in expected]
    assert all(a.kind == "obi" and a.threshold == 0.6 for a in alerts)
    assert [a.end_ts_ns // (S // 10) for a in alerts] == [s + n - 1 for s, n in expected]


def test_cvd_alerts_one_per_episode_beyond_the_window_change():
    ts = np.arange(0, 400, dtype=np.int64) * S  # one snapshot per second
    cvd = np.zeros(400)
    cvd[100:] += 30.0  # a jump of +30 at t=100: change over 60 s is 30 for t in [100, 160)
    cvd[250:] -= 50.0  # -50 at t=250: change -50 for t in [250, 310)
    b = MetricsBatch.from_columns("X", ts, np.zeros(400), cvd, np.ones(400), np.ones(400))
    settings = AlertSettings(obi_threshold=0.6, cvd_window_s=60, cvd_change_threshold=25)
    alerts = detect_alerts(b, settings)
    assert [(a.kind, a.ts_ns // S, a.end_ts_ns // S, a.value) for a in alerts] == [
        ("cvd", 100, 159, 30.0),
        ("cvd", 250, 309, -50.0),
    ]
    assert detect_alerts(b, AlertSettings(cvd_change_threshold=None)) == []
    per_instrument = AlertSettings(cvd_change_threshold=25, cvd_change_thresholds={"X": 40})
    assert [a.value for a in detect_alerts(b, per_instrument)] == [-50.0]  # X's own threshold
    other = AlertSettings(cvd_change_threshold=None, cvd_change_thresholds={"Y": 1})
    assert detect_alerts(b, other) == []  # an override for another instrument changes nothing


def test_summary_matches_numpy(tmp_path):
    rng = np.random.default_rng(5)
    n = 5000
    ts = np.cumsum(rng.integers(1, 300, n)).astype(np.int64) * 1_000_000
    obi = rng.uniform(-1, 1, n)
    obi[rng.integers(0, n, 50)] = np.nan
    cvd = np.cumsum(rng.normal(0, 3, n))
    b = MetricsBatch.from_columns("X", ts, obi, cvd, np.ones(n), np.ones(n))
    settings = AlertSettings(obi_threshold=0.7, cvd_window_s=5, cvd_change_threshold=10)
    s = summarize_metrics(b, settings)
    valid = obi[~np.isnan(obi)]
    assert (s.obi_min, s.obi_max) == (valid.min(), valid.max())
    assert s.obi_mean == pytest.approx(valid.mean()) and s.obi_std == pytest.approx(valid.std())
    assert s.obi_count == n - np.isnan(obi).sum()
    assert (s.cvd_start, s.cvd_end) == (cvd[0], cvd[-1])
    assert s.cvd_change == pytest.approx(cvd[-1] - cvd[0])
    # time beyond: each snapshot holds until the next; loop written independently
    beyond = sum(
        (ts[i + 1] - ts[i]) for i in range(n - 1) if not np.isnan(obi[i]) and abs(obi[i]) > 0.7
    )
    assert s.obi_beyond_s == pytest.approx(beyond / 1e9)
    assert s.obi_beyond_fraction == pytest.approx(beyond / (ts[-1] - ts[0]))
    cvd_beyond = 0
    for i in range(n - 1):
        older = [k for k in range(i + 1) if ts[k] <= ts[i] - 5 * S]
        if older and abs(cvd[i] - cvd[older[-1]]) > 10:
            cvd_beyond += ts[i + 1] - ts[i]
    assert s.cvd_beyond_s == pytest.approx(cvd_beyond / 1e9)


def test_stored_alerts_are_replaced_per_instrument_on_rerun(tmp_path):
    path = tmp_path / "a.db"
    sqlite3.connect(path).close()
    rng = np.random.default_rng(2)
    obi = planted_obi(rng, {10: (6, 1), 40: (8, -1)}, n=100)
    ts = np.arange(100, dtype=np.int64) * S
    b = MetricsBatch.from_columns("X", ts, obi, np.zeros(100), np.ones(100), np.ones(100))
    alerts = detect_alerts(b, AlertSettings())
    other = detect_alerts(
        MetricsBatch.from_columns("Y", ts, -obi, np.zeros(100), np.ones(100), np.ones(100)),
        AlertSettings(),
    )
    write_alerts(path, alerts + other, ["X", "Y"])
    write_alerts(path, alerts, ["X"])  # re-run of X only
    conn = sqlite3.connect(path)
    stored = read_alerts(conn)
    count = conn.execute("SELECT count(*) FROM alerts").fetchone()[0]
    conn.close()
    assert count == 4 and len(alerts) == 2
    assert sorted((a.instrument, a.ts_ns) for a in stored) == sorted(
        (a.instrument, a.ts_ns) for a in alerts + other
    )
