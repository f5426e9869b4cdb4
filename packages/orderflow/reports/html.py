"""The HTML report: the dashboard's chart per instrument, as one static file.

Per instrument, the same panels as ``orderflow-dashboard`` (``orderflow.charts``):
candles, buy/sell volume, OBI with the alert thresholds and OBI alert markers,
CVD with CVD alerts on the line at their instant, and the backtest's equity marked to mid,
on one shared time axis with the overview strip, over the whole recording.
Candles and OBI/CVD come from ``orderflow.query`` under the profile's
``max_bars`` budget, so the file stays small for any recording. Alerts and
equity are the report's own (the profile's thresholds, the stored or freshly
run backtest), not the recording's tables, so the chart shows what the Markdown
and JSON report. Bokeh's JavaScript is inlined: the file opens offline.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from bokeh.embed import file_html
from bokeh.layouts import column
from bokeh.models import Div
from bokeh.resources import INLINE

from orderflow.charts.panel_data import alert_columns, series_columns
from orderflow.charts.static import static_panels
from orderflow.profiles.profile import Profile
from orderflow.query.dataset import Dataset
from orderflow.reports.content import DatabaseReport, EquityCurve
from orderflow.strategies.alerts import Alert

__all__ = ["render_html"]


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


def _equity_columns(curve: EquityCurve | None, last_ns: int | None) -> dict[str, list]:
    """The curve held at its last value to the last snapshot, where the backtest ends."""
    ts = list(curve.ts_ns) if curve else []
    values = [float("nan") if v is None else v for v in curve.equity] if curve else []
    if ts and last_ns is not None and ts[-1] < last_ns:
        ts.append(last_ns)
        values.append(values[-1])
    return series_columns(
        pa.table({"ts_ns": pa.array(ts, pa.int64()), "value": pa.array(values, pa.float64())})
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
            "equity": _equity_columns(curve, dataset.last_metric_ns(instrument)),
        },
    )
    panels.equity.title.text = f"Backtest equity marked to mid ({report.backtest_source})"
    return panels.layout(Div(text=f"<h3>{instrument}</h3>"))


def render_html(profile: Profile, reports: Sequence[DatabaseReport]) -> str:
    parts: list = [Div(text=f"<h1>Orderflow report: {profile.name or 'profile'}</h1>")]
    for report in reports:
        parts.append(Div(text=f"<h2>{report.database}</h2>"))
        with Dataset(report.database, materialize=False) as dataset:
            for summary in report.summaries:
                parts.append(_instrument_chart(dataset, report, summary.instrument, profile))
    return file_html(column(*parts), INLINE, title=f"Orderflow report: {profile.name}")
