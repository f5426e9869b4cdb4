"""The HTML report: the dashboard's four panels plus the equity curve, as one static file.

Per instrument: OHLC candles of trades, buy/sell volume, OBI with the alert
thresholds and alert markers, CVD, and the backtest's equity marked to mid,
all on one shared time axis. Series come from ``orderflow.query`` (candles,
and OBI/CVD reduced by M4 to at most ``max_bars x 8`` points, spikes kept), so
the file stays small for any recording. Bokeh's JavaScript is inlined: the
file opens offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from bokeh.embed import file_html
from bokeh.layouts import column
from bokeh.models import ColumnDataSource, Div, Span
from bokeh.plotting import figure
from bokeh.resources import INLINE

from orderflow.profiles.profile import Profile
from orderflow.query.api import candles, metrics
from orderflow.reports.content import DatabaseReport

__all__ = ["render_html"]

WIDTH = 1100
NS_PER_MS = 1e6


def _ms(ts_ns: Sequence[int] | np.ndarray) -> np.ndarray:
    return np.asarray(ts_ns, dtype=np.float64) / NS_PER_MS


def _panel(title: str, height: int, x_range: object | None = None) -> figure:
    kwargs = {"x_range": x_range} if x_range is not None else {}
    return figure(
        title=title,
        height=height,
        width=WIDTH,
        x_axis_type="datetime",
        tools="xpan,xwheel_zoom,box_zoom,reset,save",
        **kwargs,
    )


def _instrument_panels(report: DatabaseReport, instrument: str, profile: Profile) -> list:
    path = Path(report.database)
    bars = candles(path, instrument, window=f"{profile.candle_window_s}s")
    rows = metrics(path, instrument, max_points=profile.max_bars * 8)
    width_ms = profile.candle_window_s * 1000 * 0.8
    c = ColumnDataSource(
        {
            "t": _ms(bars["ts_ns"]) + profile.candle_window_s * 500,
            "open": bars["open"].to_numpy(),
            "close": bars["close"].to_numpy(),
            "high": bars["high"].to_numpy(),
            "low": bars["low"].to_numpy(),
            "buy": bars["buy_volume"].to_numpy(),
            "sell": -bars["sell_volume"].to_numpy(),
            "color": np.where(bars["close"] >= bars["open"], "#26a69a", "#ef5350"),
        }
    )
    price = _panel(f"{instrument}: OHLC ({profile.candle_window_s:g}s candles)", 260)
    price.segment("t", "high", "t", "low", color="color", source=c)
    price.vbar("t", width_ms, "open", "close", fill_color="color", line_color="color", source=c)
    volume = _panel("volume (buy up, sell down)", 140, price.x_range)
    volume.vbar("t", width_ms, 0, "buy", color="#26a69a", source=c)
    volume.vbar("t", width_ms, 0, "sell", color="#ef5350", source=c)

    m = ColumnDataSource(
        {"t": _ms(rows["ts_ns"]), "obi": rows["obi"].to_numpy(), "cvd": rows["cvd"].to_numpy()}
    )
    obi = _panel("OBI (alert thresholds dashed, alerts marked)", 180, price.x_range)
    obi.line("t", "obi", source=m, color="#5c6bc0")
    x = profile.alerts.obi_threshold
    for level in (x, -x):
        obi.add_layout(
            Span(location=level, dimension="width", line_dash="dashed", line_color="#999999")
        )
    mine = [a for a in report.alerts if a.instrument == instrument]
    obi.scatter(
        _ms([a.ts_ns for a in mine if a.kind == "obi"]),
        [a.value for a in mine if a.kind == "obi"],
        size=7,
        color="#ff9800",
    )
    cvd = _panel("CVD", 160, price.x_range)
    cvd.line("t", "cvd", source=m, color="#8d6e63")
    cvd_alerts = [a for a in mine if a.kind == "cvd"]
    for a in cvd_alerts:
        cvd.add_layout(
            Span(
                location=a.ts_ns / NS_PER_MS,
                dimension="height",
                line_color="#ff9800",
                line_alpha=0.4,
            )
        )
    equity = _panel("equity marked to mid (backtest)", 180, price.x_range)
    curve = next((e for e in report.equity if e.instrument == instrument), None)
    if curve is not None and curve.ts_ns:
        ts = list(curve.ts_ns)
        values = [np.nan if v is None else v for v in curve.equity]
        if ts[-1] < rows["ts_ns"].iloc[-1]:  # the step curve holds to the last snapshot
            ts.append(int(rows["ts_ns"].iloc[-1]))
            values.append(values[-1])
        equity.step(_ms(ts), values, mode="after", color="#43a047")
    return [price, volume, obi, cvd, equity]


def render_html(profile: Profile, reports: Sequence[DatabaseReport]) -> str:
    parts: list = [Div(text=f"<h1>Orderflow report: {profile.name or 'profile'}</h1>")]
    for report in reports:
        parts.append(Div(text=f"<h2>{report.database}</h2>"))
        for summary in report.summaries:
            parts.extend(_instrument_panels(report, summary.instrument, profile))
    return file_html(column(*parts), INLINE, title=f"Orderflow report: {profile.name}")
