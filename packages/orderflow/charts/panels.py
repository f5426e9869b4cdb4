"""The chart's panels: sources with every column declared, and the figures on them.

A library module (no server state) so the live dashboard, its static export and
``orderflow-report``'s HTML all draw the same chart: candles, buy/sell volume,
OBI (with the alert thresholds and alert markers), CVD, and an equity panel
shown only when there is an equity curve, all on one linked datetime axis, plus
an overview strip whose RangeTool drives that axis. What fills the sources is
``orderflow.charts.panel_data``.
"""

from __future__ import annotations

from bokeh.layouts import column
from bokeh.models import (
    ColumnDataSource,
    HoverTool,
    Range1d,
    RangeTool,
    Span,
)
from bokeh.plotting import figure

__all__ = ["PANEL_NAMES", "Panels", "build_panels"]

WIDTH = 1100
TOOLS = "xpan,xbox_zoom,xwheel_zoom,reset,save"
PANEL_NAMES = ("panel_candles", "panel_volume", "panel_obi", "panel_cvd")

_EMPTY = {
    "candles": [
        "t",
        "open",
        "high",
        "low",
        "close",
        "buy_volume",
        "sell_volume",
        "sell_down",
        "trades",
        "color",
        "width",
    ],
    "obi": ["t", "value"],
    "cvd": ["t", "value"],
    "alerts": ["t", "value", "kind", "message"],
    "equity": ["t", "value"],
    "overview": ["t", "value"],
}
_TIME_TIP = ("time", "@t{%F %T.%3N}")


class Panels:
    """The sources (by name) and figures of one chart; a document may hold several."""

    def __init__(self, obi_threshold: float) -> None:
        self.sources = {
            name: ColumnDataSource({c: [] for c in cols}, name=name)
            for name, cols in _EMPTY.items()
        }
        self.x_range = Range1d(0, 1, name="x_range")
        self.candles = self._candles()
        self.volume = self._volume()
        self.obi = self._obi(obi_threshold)
        self.cvd = self._line("panel_cvd", "CVD", "cvd", "#5c6bc0", "{0,0.0000}")
        self.equity = self._line("panel_equity", "Equity", "equity", "#8d6e63", "{0,0.00}")
        self.equity.visible = False
        self.overview = self._overview()

    def _figure(self, name: str, title: str, height: int) -> figure:
        p = figure(
            name=name,
            title=title,
            height=height,
            width=WIDTH,
            x_axis_type="datetime",
            x_range=self.x_range,
            tools=TOOLS,
            active_drag="xpan",
            active_scroll="xwheel_zoom",
        )
        p.toolbar.logo = None
        return p

    def _candles(self) -> figure:
        p = self._figure("panel_candles", "Price", 300)
        src = self.sources["candles"]
        p.segment("t", "high", "t", "low", color="color", source=src)
        bars = p.vbar(
            "t", "width", "open", "close", fill_color="color", line_color="color", source=src
        )
        p.add_tools(
            HoverTool(
                renderers=[bars],
                formatters={"@t": "datetime"},
                tooltips=[
                    _TIME_TIP,
                    ("open", "@open{0,0.00000}"),
                    ("high", "@high{0,0.00000}"),
                    ("low", "@low{0,0.00000}"),
                    ("close", "@close{0,0.00000}"),
                    ("trades", "@trades"),
                ],
            )
        )
        return p

    def _volume(self) -> figure:
        p = self._figure("panel_volume", "Volume (buy up, sell down)", 140)
        src = self.sources["candles"]
        buy = p.vbar("t", "width", top="buy_volume", bottom=0, color="#26a69a", source=src)
        sell = p.vbar("t", "width", top=0, bottom="sell_down", color="#ef5350", source=src)
        p.add_tools(
            HoverTool(
                renderers=[buy, sell],
                formatters={"@t": "datetime"},
                tooltips=[
                    _TIME_TIP,
                    ("buy", "@buy_volume{0,0.000000}"),
                    ("sell", "@sell_volume{0,0.000000}"),
                ],
            )
        )
        return p

    def _obi(self, threshold: float) -> figure:
        p = self._line("panel_obi", "Order book imbalance", "obi", "#ff9800", "{0.000000}")
        p.y_range = Range1d(-1.05, 1.05)
        for level in (threshold, -threshold):
            p.add_layout(
                Span(
                    location=level,
                    dimension="width",
                    line_dash="dashed",
                    line_color="#b71c1c",
                    line_width=1,
                )
            )
        markers = p.scatter(
            "t",
            "value",
            source=self.sources["alerts"],
            size=9,
            marker="triangle",
            color="#b71c1c",
            name="alert_markers",
        )
        p.add_tools(
            HoverTool(
                renderers=[markers],
                formatters={"@t": "datetime"},
                tooltips=[
                    _TIME_TIP,
                    ("alert", "@kind: @message"),
                    ("value", "@value{0.0000}"),
                ],
            )
        )
        return p

    def _line(self, name: str, title: str, source: str, color: str, fmt: str) -> figure:
        p = self._figure(name, title, 170)
        line = p.line("t", "value", source=self.sources[source], color=color, line_width=1.5)
        p.add_tools(
            HoverTool(
                renderers=[line],
                mode="vline",
                formatters={"@t": "datetime"},
                tooltips=[_TIME_TIP, (title, "@value" + fmt)],
            )
        )
        return p

    def _overview(self) -> figure:
        p = figure(
            name="panel_overview",
            title="Whole recording (drag the box to navigate)",
            height=110,
            width=WIDTH,
            x_axis_type="datetime",
            tools="",
            toolbar_location=None,
        )
        p.line("t", "value", source=self.sources["overview"], color="#607d8b")
        p.yaxis.visible = False
        selector = RangeTool(x_range=self.x_range)
        selector.overlay.fill_alpha = 0.2
        p.add_tools(selector)
        return p

    def layout(self, *above: object) -> column:
        return column(
            *above,
            self.candles,
            self.volume,
            self.obi,
            self.cvd,
            self.equity,
            self.overview,
            name="dashboard",
        )

    def show(self, data: dict[str, dict[str, list]]) -> None:
        """Replace every panel's data (one message per source)."""
        for name, columns in data.items():
            self.sources[name].data = columns
        self.equity.visible = bool(data.get("equity", {}).get("t"))


def build_panels(obi_threshold: float) -> Panels:
    return Panels(obi_threshold)
