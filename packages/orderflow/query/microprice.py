"""``microprice(db, instrument, start, end)``: Stoikov's G*(I, S) fitted over stored metrics.

Reads the order-flow columns (best prices, top sizes) of one instrument in
(instant, snapshot id) order, fits ``orderflow.analytics.microprice`` and, unless
told not to, stores the fit (``microprice_fits``, one row per fit with its
parameters; ``microprice_states``, G* and the sample size per state) so the
report can print it. The tick is the heatmap's for the instrument, else the
smallest gap between distinct best prices in the range.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from orderflow.analytics.microprice import MicropriceFit, fit_microprice, state_of
from orderflow.core.errors import InputFileError
from orderflow.core.heatmap import infer_tick
from orderflow.query.api import Instant, to_instant_ns
from orderflow.store.connections import open_readonly, open_writer

__all__ = ["MICROPRICE_DDL", "fit_table", "microprice", "read_latest_fit"]

MICROPRICE_DDL = """
CREATE TABLE IF NOT EXISTS microprice_fits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instrument TEXT NOT NULL,
    start_ns INTEGER,
    end_ns INTEGER,
    n_imbalance INTEGER NOT NULL,
    max_spread INTEGER NOT NULL,
    tick REAL NOT NULL,
    observations INTEGER NOT NULL,
    terms INTEGER NOT NULL,
    fitted_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS microprice_states (
    fit_id INTEGER NOT NULL REFERENCES microprice_fits(id),
    imbalance_bucket INTEGER NOT NULL,
    spread_ticks INTEGER NOT NULL,
    g_star REAL,
    g1 REAL,
    samples INTEGER NOT NULL,
    PRIMARY KEY (fit_id, imbalance_bucket, spread_ticks)
);
"""


def _read(
    db: Path, instrument: str, start: int | None, end: int | None
) -> tuple[np.ndarray, float | None]:
    """(rows of best bid, best ask, bid size 1, ask size 1; the heatmap's tick or None)."""
    conn = open_readonly(db)  # falls back to an immutable open in a read-only directory
    try:
        rows = conn.execute(
            "SELECT best_bid, best_ask, bid_size_1, ask_size_1 FROM metrics"
            " WHERE instrument = ? AND ts_ns >= ? AND ts_ns < ? ORDER BY ts_ns, snapshot_id",
            (instrument, -(2**63) if start is None else start, 2**63 - 1 if end is None else end),
        ).fetchall()
        grid = (
            conn.execute(
                "SELECT tick FROM metrics_heatmap_grid WHERE instrument = ?", (instrument,)
            ).fetchone()
            if _has_table(conn, "metrics_heatmap_grid")
            else None
        )
    finally:
        conn.close()
    data = np.array(rows, dtype=np.float64).reshape(-1, 4)
    return data, (grid[0] if grid else None)


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        is not None
    )


def fit_table(fit: MicropriceFit, tick: float) -> pd.DataFrame:
    """One row per state: imbalance range, spread, G* in price units and ticks, samples."""
    b, s = np.meshgrid(np.arange(fit.n_imbalance), np.arange(fit.max_spread), indexing="ij")
    return pd.DataFrame(
        {
            "imbalance_lo": (b / fit.n_imbalance).ravel(),
            "imbalance_hi": ((b + 1) / fit.n_imbalance).ravel(),
            "spread_ticks": (s + 1).ravel(),
            "g_star": (fit.g_star_ticks * tick).ravel(),
            "g_star_ticks": fit.g_star_ticks.ravel(),
            "g1_ticks": fit.g1_ticks.ravel(),
            "samples": fit.samples.ravel(),
        }
    )


def microprice(
    db: str | Path,
    instrument: str,
    start: Instant = None,
    end: Instant = None,
    *,
    n_imbalance: int = 10,
    max_spread: int = 3,
    store: bool = True,
) -> pd.DataFrame:
    """Fit G*(I, S) over ``[start, end)`` and return it per state (``fit_table``).

    The frame's ``attrs`` carry the fit's parameters (tick, observations, terms).
    Raises InputFileError when the fit cannot be stored (a read-only file or
    directory); ``store=False`` fits without writing.
    """
    path = Path(db)
    lo, hi = to_instant_ns(start), to_instant_ns(end)
    data, tick = _read(path, instrument, lo, hi)
    bid, ask, q_b, q_a = data.T
    two_sided = np.isfinite(bid) & np.isfinite(ask) & (q_b + q_a > 0)
    if tick is None:
        tick = infer_tick(np.r_[bid[two_sided], ask[two_sided]])
    if tick is None:
        raise ValueError(f"{instrument}: too few two-sided snapshots to fit a micro-price")
    spread_ticks = np.where(two_sided, np.rint((ask - bid) / tick), -1)
    with np.errstate(invalid="ignore"):
        bucket, spread = state_of(q_b, q_a, spread_ticks, n_imbalance)
    mid_ticks = np.where(two_sided, (bid + ask) / 2 / tick, np.nan)
    fit = fit_microprice(bucket, spread, mid_ticks, n_imbalance, max_spread, valid=two_sided)
    table = fit_table(fit, tick)
    table.attrs.update(
        instrument=instrument, tick=tick, observations=fit.observations, terms=fit.terms
    )
    if store:
        try:
            _store(path, instrument, lo, hi, fit, tick)
        except InputFileError as exc:  # an archive or a read-only share: fit it all the same
            raise InputFileError(
                path, f"{exc.problem}; pass store=False to fit without storing the fit"
            ) from None
    return table


def _store(
    path: Path, instrument: str, lo: int | None, hi: int | None, fit: MicropriceFit, tick: float
) -> None:
    conn = open_writer(path)
    try:
        conn.executescript(MICROPRICE_DDL)
        conn.execute("BEGIN IMMEDIATE")
        try:
            fit_id = conn.execute(
                "INSERT INTO microprice_fits (instrument, start_ns, end_ns, n_imbalance,"
                " max_spread, tick, observations, terms, fitted_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    instrument,
                    lo,
                    hi,
                    fit.n_imbalance,
                    fit.max_spread,
                    tick,
                    fit.observations,
                    fit.terms,
                    datetime.now(UTC).isoformat(timespec="seconds"),
                ),
            ).lastrowid
            conn.executemany(
                "INSERT INTO microprice_states (fit_id, imbalance_bucket, spread_ticks, g_star,"
                " g1, samples) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        fit_id,
                        b,
                        s + 1,
                        _real(fit.g_star_ticks[b, s] * tick),
                        _real(fit.g1_ticks[b, s] * tick),
                        int(fit.samples[b, s]),
                    )
                    for b in range(fit.n_imbalance)
                    for s in range(fit.max_spread)
                ],
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.close()


def _real(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def read_latest_fit(conn: sqlite3.Connection, instrument: str) -> pd.DataFrame | None:
    """The instrument's most recent stored fit per state, or None (no fit stored)."""
    if not _has_table(conn, "microprice_fits"):
        return None
    row = conn.execute(
        "SELECT id, n_imbalance, tick, observations FROM microprice_fits WHERE instrument = ?"
        " ORDER BY id DESC LIMIT 1",
        (instrument,),
    ).fetchone()
    if row is None:
        return None
    fit_id, n, tick, observations = row
    frame = pd.read_sql_query(
        "SELECT imbalance_bucket, spread_ticks, g_star, g1, samples FROM microprice_states"
        " WHERE fit_id = ? ORDER BY spread_ticks, imbalance_bucket",
        conn,
        params=(fit_id,),
    )
    frame.insert(0, "imbalance_lo", frame.pop("imbalance_bucket") / n)
    frame.insert(1, "imbalance_hi", frame["imbalance_lo"] + 1 / n)
    frame.attrs.update(instrument=instrument, tick=tick, observations=observations)
    return frame
