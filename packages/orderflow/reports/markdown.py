"""The Markdown and JSON forms of a report.

JSON carries every number (summaries, every alert, every backtest statistic)
for programs; the equity curves stay out of it (they live in the recording's
``backtest_equity`` table and the HTML report). Markdown is for people: the
same tables, alerts listed up to ``ALERTS_LISTED`` per database.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from orderflow.core.timestamps import format_instant_ns
from orderflow.reports.content import DatabaseReport

__all__ = ["ALERTS_LISTED", "microprice_lines", "render_json", "render_markdown"]

ALERTS_LISTED = 50


def render_json(profile_name: str, reports: Sequence[DatabaseReport]) -> bytes:
    body = {
        "profile": profile_name,
        "databases": [
            {
                "database": r.database,
                "summaries": {s.instrument: msgspec.to_builtins(s) for s in r.summaries},
                "alerts": [msgspec.to_builtins(a) for a in r.alerts],
                "backtest": {
                    "source": r.backtest_source,
                    **msgspec.to_builtins(msgspec.structs.replace(r.backtest, results=[])),
                    "results": {s.instrument: msgspec.to_builtins(s) for s in r.backtest.results},
                },
            }
            for r in reports
        ],
    }
    return msgspec.json.format(msgspec.json.encode(body), indent=2)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return out


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value).replace("|", "\\|")  # a pipe would end the table cell


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def microprice_lines(report: DatabaseReport) -> list[str]:
    """Stoikov's G*(I, S) per instrument: imbalance buckets down, spreads across, each
    cell the adjustment to the mid in price units and its sample size."""
    lines: list[str] = []
    for table in report.microprice:
        spreads = sorted({s for _, _, s, _, _ in table.states})
        cells = {(lo, s): (g, n) for lo, _, s, g, n in table.states}
        lines += [
            "",
            f"### Micro-price G*(I, S): {table.instrument} (tick {table.tick:g},"
            f" {table.observations:,} transitions, symmetrised)",
            "",
        ]
        rows = []
        for lo, hi in sorted({(lo, hi) for lo, hi, _, _, _ in table.states}):
            row: list[object] = [f"{lo:.1f}-{hi:.1f}"]
            for s in spreads:
                g, n = cells[(lo, s)]
                row.append("-" if g is None else f"{g:+.6g} (n={n:,})")
            rows.append(row)
        lines += _table(["I = Qb/(Qb+Qa)", *(f"spread {s} tick(s)" for s in spreads)], rows)
    return lines


def render_markdown(profile_name: str, reports: Sequence[DatabaseReport]) -> str:
    lines = [f"# Orderflow report: {profile_name}", ""]
    for r in reports:
        lines += [f"## {r.database}", "", "### Metrics summary", ""]
        lines += _table(
            [
                "instrument",
                "snapshots",
                "from",
                "to",
                "OBI min",
                "OBI max",
                "OBI mean",
                "OBI std",
                "CVD start",
                "CVD end",
                "CVD change",
                "time OBI beyond ±x",
                "time ΔCVD beyond ±y",
            ],
            [
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
                    else f"{s.cvd_beyond_s:,.1f}s ({s.cvd_beyond_fraction:.1%},"
                    f" y={s.cvd_threshold:g})",
                ]
                for s in r.summaries
            ],
        )
        counts = {k: sum(1 for a in r.alerts if a.kind == k) for k in ("obi", "cvd", "ofi")}
        ofi = f", {counts['ofi']} ofi" if counts["ofi"] else ""
        lines += [
            "",
            f"### Alerts: {len(r.alerts)} ({counts['obi']} obi, {counts['cvd']} cvd{ofi})",
            "",
        ]
        lines += _table(
            ["time (UTC)", "instrument", "kind", "value", "message"],
            [
                [format_instant_ns(a.ts_ns), a.instrument, a.kind, a.value, a.message]
                for a in r.alerts[:ALERTS_LISTED]
            ],
        )
        if len(r.alerts) > ALERTS_LISTED:
            lines.append(f"\n... and {len(r.alerts) - ALERTS_LISTED} more (see the JSON report).")
        lines += microprice_lines(r)
        run = r.backtest
        params = ", ".join(f"{k}={v}" for k, v in run.params.items()) or "defaults"
        lines += [
            "",
            "### Backtest",
            "",
            f"{run.strategy} ({params}), fee {run.fee_bps:g} bps, latency {run.latency_ms:g} ms,"
            f" position limit {run.position_limit:g}; source: {r.backtest_source}.",
            "",
        ]
        lines += _table(
            [
                "instrument",
                "PnL",
                "fees",
                "trades",
                "final position",
                "hit rate",
                "Sharpe (per day)",
                "max drawdown",
                "turnover",
                "exposure",
            ],
            [
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
                for s in run.results
            ],
        )
        lines.append("")
    lines += [
        "PnL is cash + position x last mid, net of fees. Hit rate: share of closing fills with",
        "positive realised PnL (average cost, fees included). Sharpe per day: mean / std of",
        "equity changes over 60 s intervals x sqrt(1440), not annualised. Max drawdown: largest",
        "fall of equity (marked to mid) from a running peak. Turnover: traded notional.",
        "Exposure: share of time with a non-zero position.",
        "",
    ]
    return "\n".join(lines)
