"""The report's tables as (headers, rows), rendered alike as Markdown and as HTML.

One definition of which numbers a report shows, so the Markdown, which people
read in a terminal or a pull request, and the HTML page, which opens in a
browser above the charts, cannot drift apart.
"""

from __future__ import annotations

from orderflow.core.timestamps import format_instant_ns
from orderflow.reports.content import DatabaseReport, MicropriceTable

__all__ = [
    "ALERTS_LISTED",
    "DEFINITIONS",
    "Table",
    "alert_heading",
    "alert_table",
    "backtest_line",
    "backtest_table",
    "format_cell",
    "microprice_cell",
    "microprice_heading",
    "microprice_table",
    "summary_table",
]

ALERTS_LISTED = 50

Table = tuple[list[str], list[list[object]]]


def format_cell(value: object) -> str:
    """Floats with thousands separators and 4 decimals (whole numbers past a million)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def summary_table(report: DatabaseReport) -> Table:
    headers = [
        "instrument", "snapshots", "from", "to", "OBI min", "OBI max", "OBI mean", "OBI std",
        "CVD start", "CVD end", "CVD change", "time OBI beyond ±x", "time ΔCVD beyond ±y",
    ]  # fmt: skip
    rows: list[list[object]] = [
        [
            s.instrument,
            s.snapshots,
            format_instant_ns(s.start_ns)[:19],
            format_instant_ns(s.end_ns)[:19],
            s.obi_min,
            s.obi_max,
            s.obi_mean,
            s.obi_std,
            s.cvd_start,
            s.cvd_end,
            s.cvd_change,
            f"{s.obi_beyond_s:,.1f}s ({s.obi_beyond_fraction:.1%}, x={s.obi_threshold:g})",
            "-"
            if s.cvd_threshold is None
            else f"{s.cvd_beyond_s:,.1f}s ({s.cvd_beyond_fraction:.1%}, y={s.cvd_threshold:g})",
        ]
        for s in report.summaries
    ]
    return headers, rows


def alert_table(report: DatabaseReport, limit: int = ALERTS_LISTED) -> Table:
    """The first ``limit`` alerts in time order."""
    return (
        ["time (UTC)", "instrument", "kind", "value", "message"],
        [
            [format_instant_ns(a.ts_ns), a.instrument, a.kind, a.value, a.message]
            for a in report.alerts[:limit]
        ],
    )


def alert_heading(report: DatabaseReport) -> str:
    counts = {k: sum(1 for a in report.alerts if a.kind == k) for k in ("obi", "cvd", "ofi")}
    ofi = f", {counts['ofi']} ofi" if counts["ofi"] else ""
    return f"Alerts: {len(report.alerts)} ({counts['obi']} obi, {counts['cvd']} cvd{ofi})"


def backtest_line(report: DatabaseReport) -> str:
    run = report.backtest
    params = ", ".join(f"{k}={v}" for k, v in run.params.items()) or "defaults"
    return (
        f"{run.strategy} ({params}), fee {run.fee_bps:g} bps, latency {run.latency_ms:g} ms,"
        f" position limit {run.position_limit:g}; source: {report.backtest_source}."
    )


def backtest_table(report: DatabaseReport) -> Table:
    headers = [
        "instrument", "PnL", "fees", "trades", "final position", "hit rate", "Sharpe (per day)",
        "max drawdown", "turnover", "exposure",
    ]  # fmt: skip
    rows: list[list[object]] = [
        [
            s.instrument,
            s.pnl,
            s.fees,
            s.n_trades,
            s.final_position,
            _percent(s.hit_rate),
            s.sharpe_per_day,
            s.max_drawdown,
            s.turnover,
            _percent(s.exposure),
        ]
        for s in report.backtest.results
    ]
    return headers, rows


def microprice_cell(g_star: float | None, samples: int) -> str:
    """G* in price units to 6 significant digits, signed, with the state's sample size:
    a number is only worth reading beside how many observations it rests on."""
    return "-" if g_star is None else f"{g_star:+.6g} (n={samples:,})"


def microprice_heading(table: MicropriceTable) -> str:
    return (
        f"Micro-price G*(I, S): {table.instrument} (tick {table.tick:g},"
        f" {table.observations:,} transitions, symmetrised)"
    )


def microprice_table(table: MicropriceTable) -> Table:
    """Stoikov's G*(I, S): imbalance buckets down, spreads across, each cell the
    adjustment to the mid in price units and its sample size."""
    spreads = sorted({s for _, _, s, _, _ in table.states})
    cells = {(lo, s): (g, n) for lo, _, s, g, n in table.states}
    rows: list[list[object]] = []
    for lo, hi in sorted({(lo, hi) for lo, hi, _, _, _ in table.states}):
        rows.append([f"{lo:.1f}-{hi:.1f}", *(microprice_cell(*cells[(lo, s)]) for s in spreads)])
    return ["I = Qb/(Qb+Qa)", *(f"spread {s} tick(s)" for s in spreads)], rows


DEFINITIONS = (
    "PnL is cash + position x last mid, net of fees. Hit rate: share of closing fills with "
    "positive realised PnL (average cost, fees included). Sharpe per day: mean / std of "
    "equity changes over 60 s intervals x sqrt(1440), not annualised. Max drawdown: largest "
    "fall of equity (marked to mid) from a running peak. Turnover: traded notional. "
    "Exposure: share of time with a non-zero position."
)
