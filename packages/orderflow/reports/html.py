"""The HTML report: the numbers as tables, then the dashboard's chart per instrument.

The tables come first (metrics summary, backtest PnL, Sharpe and hit rate,
alerts, Stoikov's micro-price G*(I, S) with its sample sizes), the same
``orderflow.reports.tables`` as the Markdown, written as plain HTML so they cost
no JavaScript. Then, per instrument, the panels of
``orderflow-dashboard`` (``orderflow.charts``) over the whole recording: candles
with the volume profile, buy/sell volume, OBI with the alert thresholds and OBI
alerts, CVD with CVD alerts on the line, and the backtest's equity. Every series
is reduced to the profile's ``max_bars`` budget (the report's own equity curve
by M4, like the dashboard's), so the file stays small for any recording;
BokehJS is inlined so it opens offline. Alerts and equity are the report's own
(the profile's thresholds, the stored or freshly run backtest), so the chart
shows what the tables report.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import numpy as np
import pyarrow as pa
from bokeh.embed import file_html
from bokeh.layouts import column
from bokeh.resources import INLINE
from jinja2 import Template

from orderflow.charts.panel_data import alert_columns, series_columns
from orderflow.charts.static import static_panels
from orderflow.profiles.profile import Profile
from orderflow.query.dataset import Dataset
from orderflow.reports.content import DatabaseReport, EquityCurve
from orderflow.reports.tables import (
    ALERTS_LISTED,
    DEFINITIONS,
    Table,
    alert_heading,
    alert_table,
    backtest_line,
    backtest_table,
    format_cell,
    microprice_heading,
    microprice_table,
    summary_table,
)
from orderflow.strategies.alerts import Alert

__all__ = ["m4_indices", "render_html"]

_TEMPLATE = Template(
    """{% extends base %}
{% block preamble %}<style>
body { font-family: system-ui, sans-serif; color: #263238; }
.report { padding: 8px 16px; }
.report table { border-collapse: collapse; margin: 6px 0 14px; font-size: 13px; }
.report th, .report td { border: 1px solid #cfd8dc; padding: 3px 8px; text-align: right; }
.report th { background: #eceff1; }
.report td:first-child, .report th:first-child { text-align: left; }
.report p { font-size: 13px; max-width: 70em; }
</style>{% endblock %}
{% block contents %}<div class="report">{{ tables }}</div>
{{ super() }}{% endblock %}
"""
)


def m4_indices(ts: np.ndarray, values: np.ndarray, buckets: int) -> np.ndarray:
    """Indices of the first, last, min and max sample of each of ``buckets`` equal time
    buckets (M4, as ``orderflow.query.series``): the line looks the same with at most
    4 x buckets points. NaN values are never picked as extremes."""
    if len(ts) <= 4 * buckets:
        return np.arange(len(ts))
    width = max(1, -(-(int(ts[-1]) - int(ts[0]) + 1) // buckets))
    bucket = (ts - ts[0]) // width
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(ts)] - 1
    finite = np.where(np.isnan(values), np.inf, values)
    lows = [s + int(np.argmin(finite[s : e + 1])) for s, e in zip(starts, ends, strict=True)]
    finite = np.where(np.isnan(values), -np.inf, values)
    highs = [s + int(np.argmax(finite[s : e + 1])) for s, e in zip(starts, ends, strict=True)]
    return np.unique(np.concatenate([starts, ends, lows, highs]))


def _alert_columns(alerts: Sequence[Alert], y: list[float | None] | None = None) -> dict[str, list]:
    return alert_columns(
        pa.table(
            {
                "ts_ns": pa.array([a.ts_ns for a in alerts], pa.int64()),
                "value": pa.array([a.value for a in alerts], pa.float64()),
                "kind": pa.array([a.kind for a in alerts], pa.string()),
                "message": pa.array([a.message for a in alerts], pa.string()),
            }
        ),
        y,
    )


def _equity_columns(
    curve: EquityCurve | None, last_ns: int | None, buckets: int
) -> dict[str, list]:
    """The curve held at its last value to the last snapshot, where the backtest ends,
    M4-reduced to ``buckets``."""
    ts = np.array(curve.ts_ns if curve else [], np.int64)
    values = np.array(
        [np.nan if v is None else v for v in curve.equity] if curve else [], np.float64
    )
    if len(ts) and last_ns is not None and ts[-1] < last_ns:
        ts, values = np.append(ts, last_ns), np.append(values, values[-1])
    keep = m4_indices(ts, values, buckets)
    return series_columns(
        pa.table({"ts_ns": pa.array(ts[keep], pa.int64()), "value": pa.array(values[keep])})
    )


def _instrument_chart(
    dataset: Dataset, report: DatabaseReport, instrument: str, profile: Profile
) -> column:
    extent = dataset.extent(instrument)
    assert extent is not None, "a summarised instrument has metrics"
    mine = [a for a in report.alerts if a.instrument == instrument]
    cvd_alerts = [a for a in mine if a.kind == "cvd"]
    cvd_y = dataset.values_at(instrument, "cvd", [a.ts_ns for a in cvd_alerts])
    curve = next((e for e in report.equity if e.instrument == instrument), None)
    last_ns = dataset.last_metric_ns(instrument)
    panels = static_panels(
        dataset,
        instrument,
        extent[0],
        extent[1] + 1,
        window_ns=int(profile.candle_window_s * 1e9),
        max_bars=profile.max_bars,
        obi_threshold=profile.alerts.obi_threshold,
        replace={
            "alerts": _alert_columns([a for a in mine if a.kind == "obi"]),
            "cvd_alerts": _alert_columns(cvd_alerts, cvd_y),
            "equity": _equity_columns(curve, last_ns, profile.max_bars),
        },
    )
    panels.equity.title.text = f"Backtest equity marked to mid ({report.backtest_source})"
    return panels.layout(readout=False)


def _html_table(table: Table) -> str:
    headers, rows = table
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(format_cell(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _tables(report: DatabaseReport) -> str:
    more = len(report.alerts) - ALERTS_LISTED
    return "".join(
        [
            f"<h2>{escape(report.database)}</h2>",
            "<h3>Backtest</h3>",
            f"<p>{escape(backtest_line(report))}</p>",
            _html_table(backtest_table(report)),
            "<h3>Metrics summary</h3>",
            _html_table(summary_table(report)),
            f"<h3>{escape(alert_heading(report))}</h3>",
            _html_table(alert_table(report)),
            f"<p>... and {more} more (see the JSON report).</p>" if more > 0 else "",
        ]
        + [
            f"<h3>{escape(microprice_heading(t))}</h3>" + _html_table(microprice_table(t))
            for t in report.microprice
        ]
    )


def render_html(profile: Profile, reports: Sequence[DatabaseReport]) -> str:
    title = f"Orderflow report: {profile.name or 'profile'}"
    tables = [f"<h1>{escape(title)}</h1>"] + [_tables(r) for r in reports]
    tables.append(f"<p>{escape(DEFINITIONS)}</p>")
    charts = []
    for report in reports:
        with Dataset(report.database, materialize=False) as dataset:
            for summary in report.summaries:
                charts.append(_instrument_chart(dataset, report, summary.instrument, profile))
    return file_html(
        column(*charts, sizing_mode="stretch_width"),
        INLINE,
        title=title,
        template=_TEMPLATE,
        template_variables={"tables": "".join(tables)},
    )
