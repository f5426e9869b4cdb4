"""The chart's panels: sources with every column declared, and the figures on them.

A library module (no server state) so the live dashboard, its static export and
``orderflow-report``'s HTML all draw the same chart. Top to bottom: a readout
line (the values of every panel under the cursor), the price panel (the depth
heatmap with best bid and ask lines behind candles, footprint cells when zoomed
in, trade bubbles, backtest fills, last price) with
the volume profile of the visible range beside it, buy/sell volume with
cluster-delta bars, OBI as a min/max band with its mean (thresholds and alert
markers), OFI and MLOFI per candle (with OFI alerts; only when the file has the
order-flow columns), equity (only with a backtest), CVD (with CVD alerts) carrying the one
time axis, and an overview strip whose RangeTool drives that axis. Every panel
stretches with the window; a shared vertical crosshair runs through all of them.
What fills the sources is ``orderflow.charts.panel_data``.
"""

from __future__ import annotations

from bokeh import events
from bokeh.layouts import column, row
from bokeh.models import (
    BasicTickFormatter,
    ColumnDataSource,
    CrosshairTool,
    CustomJS,
    DataRange1d,
    DatetimeAxis,
    DatetimeTicker,
    DatetimeTickFormatter,
    Div,
    Grid,
    HoverTool,
    Label,
    LinearColorMapper,
    Range1d,
    RangeTool,
    Spacer,
    Span,
)
from bokeh.palettes import Inferno256
from bokeh.plotting import figure

from orderflow.charts.units import instrument_units

__all__ = ["PANEL_NAMES", "Panels", "build_panels"]

PROFILE_WIDTH = 150
BORDER_LEFT = 80
TOOLS = "xpan,xbox_zoom,xwheel_zoom,reset,save"
PANEL_NAMES = ("panel_candles", "panel_volume", "panel_obi", "panel_cvd")

_EMPTY = {
    "candles": [
        "t",
        "x",
        "mid",
        "open",
        "high",
        "low",
        "close",
        "buy_volume",
        "sell_volume",
        "sell_down",
        "delta",
        "delta_color",
        "trades",
        "color",
        "width",
        "body",
        "window",
    ],
    "footprint": [
        "t",
        "x",
        "y",
        "price",
        "bin",
        "buy",
        "sell",
        "delta",
        "total",
        "color",
        "alpha",
        "poc",
        "line_color",
        "imbalance",
        "text_color",
        "label",
        "width",
        "height",
    ],
    "profile": [
        "y",
        "price",
        "bin",
        "total",
        "buy",
        "sell",
        "height",
        "poc",
        "value_area",
        "color",
    ],
    "trades": ["t", "price", "size", "px", "side", "color"],
    "heatmap": ["image", "x", "y", "dw", "dh", "high", "row_height", "column_ms"],
    "best_bid": ["t", "value"],
    "best_ask": ["t", "value"],
    "fills": ["t", "price", "quantity", "side", "kind", "marker", "color", "fill_alpha"],
    "flow": ["t", "mid", "ofi", "mlofi", "snapshots", "color", "width"],
    "ofi_alerts": ["t", "value", "y", "marker", "color", "kind", "message"],
    "obi": ["t", "lo", "hi", "mean", "samples"],
    "cvd": ["t", "value"],
    "alerts": ["t", "value", "y", "marker", "color", "kind", "message"],
    "cvd_alerts": ["t", "value", "y", "marker", "color", "kind", "message"],
    "equity": ["t", "value"],
    "overview": ["t", "value"],
}
_TIME_TIP = ("time (UTC)", "@t{%F %T.%3N}")


def _time_axis() -> DatetimeTickFormatter:
    day = {k: "%F" for k in ("milliseconds", "seconds", "minsec", "minutes", "hourmin", "hours")}
    return DatetimeTickFormatter(
        milliseconds="%H:%M:%S.%3N",
        seconds="%H:%M:%S",
        minsec="%H:%M:%S",
        minutes="%H:%M",
        hourmin="%H:%M",
        hours="%H:%M",
        days="%b %d",
        context=DatetimeTickFormatter(days="%Y", **day),
    )


_READOUT_JS = """
const x = cb_obj.x;
function last(t, v) {  // index of the last t <= v, or -1
    let lo = 0, hi = t.length - 1, at = -1;
    while (lo <= hi) {
        const m = (lo + hi) >> 1;
        if (t[m] <= v) { at = m; lo = m + 1; } else hi = m - 1;
    }
    return at;
}
const f = (v, d) => (v == null || Number.isNaN(v)) ? "-" :
    Number(v).toLocaleString("en-US", {maximumFractionDigits: d});
const c = candles.data, o = obi.data, k = cvd.data;
const parts = [new Date(x).toISOString().replace("T", " ").slice(0, 23)];
const i = last(c.t, x);
if (i >= 0) {
    parts.push(`candle ${c.window[i]} from ${new Date(c.t[i]).toISOString().slice(11, 19)}: ` +
        `O ${f(c.open[i], 6)} H ${f(c.high[i], 6)} L ${f(c.low[i], 6)} C ${f(c.close[i], 6)}`);
    parts.push(`buy ${f(c.buy_volume[i], 4)} sell ${f(c.sell_volume[i], 4)} ` +
        `delta ${f(c.delta[i], 4)}`);
}
const j = last(o.t, x);
if (j >= 0) parts.push(`OBI ${f(o.mean[j], 4)} [${f(o.lo[j], 3)}, ${f(o.hi[j], 3)}]`);
const n = last(k.t, x);
if (n >= 0) parts.push(`CVD ${f(k.value[n], 4)}`);
readout.text = parts.join(" | ");
"""


class Panels:
    """The sources (by name) and figures of one chart; a document may hold several."""

    def __init__(self, obi_threshold: float) -> None:
        self.sources = {
            name: ColumnDataSource({c: [] for c in cols}, name=name)
            for name, cols in _EMPTY.items()
        }
        self.x_range = Range1d(0, 1, name="x_range")
        # one of each per chart, shared by every axis (a chart is drawn into one document)
        self._ticker = DatetimeTicker()
        self._time_format = _time_axis()
        self._number = BasicTickFormatter(use_scientific=False)
        self.crosshair = Span(
            dimension="height", line_color="#546e7a", line_dash="dotted", name="crosshair"
        )
        self.readout = Div(
            text="Point at a panel to read every panel at that instant.",
            name="readout",
            sizing_mode="stretch_width",
            height=20,
        )
        self.candles = self._candles()
        self.profile = self._profile()
        self.volume = self._volume()
        self.obi = self._obi(obi_threshold)
        self.ofi = self._ofi()
        self.cvd = self._line("panel_cvd", "CVD", "cvd", "#5c6bc0")
        self._cvd_alerts()
        self.equity = self._line("panel_equity", "Equity", "equity", "#8d6e63")
        self.equity.visible = False
        self.overview = self._overview()
        for p in (self.candles, self.volume, self.obi, self.ofi, self.equity):
            p.xaxis.visible = False  # one time axis, at the bottom (CVD)
        for p in (*self.linked, self.profile, self.overview):
            for r in p.renderers:  # nothing is ever selected or muted: BokehJS derives them
                r.update(nonselection_glyph="auto", muted_glyph="auto")
        self.set_units("")

    @property
    def linked(self) -> tuple[figure, ...]:
        """The panels on the shared time axis."""
        return (self.candles, self.volume, self.obi, self.ofi, self.equity, self.cvd)

    def _figure(self, name: str, title: str, height: int) -> figure:
        """A panel on the shared time axis. Only the price panel shows a toolbar, so the
        others carry just the tools that stay active without one (pan and wheel zoom);
        their hidden time axis and grid use the chart's one datetime ticker (a ticker
        per axis is a dozen models each, and every model costs the page open)."""
        price = name == "panel_candles"
        p = figure(
            name=name,
            title=title,
            height=height,
            sizing_mode="stretch_width",
            x_axis_type=None,
            x_range=self.x_range,
            tools=TOOLS if price else "xpan,xwheel_zoom",
            active_drag="xpan",
            active_scroll="xwheel_zoom",
            min_border_left=BORDER_LEFT,
            min_border_right=12,
            min_border_bottom=4,
            toolbar_location="above" if price else None,
        )
        p.toolbar.logo = None
        p.yaxis.formatter = self._number
        self._time_axis(p)
        p.add_tools(
            CrosshairTool(overlay=[self.crosshair, Span(dimension="width", line_dash="dotted")])
        )
        return p

    def _time_axis(self, p: figure) -> None:
        p.add_layout(DatetimeAxis(ticker=self._ticker, formatter=self._time_format), "below")
        p.add_layout(Grid(dimension=0, ticker=self._ticker))

    def _candles(self) -> figure:
        p = self._figure("panel_candles", "Price", 380)
        src = self.sources["candles"]
        foot = self.sources["footprint"]
        # the depth heatmap first, so every other glyph draws over it
        self.heat_colors = LinearColorMapper(
            palette=list(reversed(Inferno256))[16:], low=0, high=1, name="heatmap_colors",
            low_color="rgba(0, 0, 0, 0)", nan_color="rgba(0, 0, 0, 0)",
        )  # fmt: skip
        heat = p.image(
            image="image", x="x", y="y", dw="dw", dh="dh", source=self.sources["heatmap"],
            color_mapper=self.heat_colors, alpha=0.8, name="heatmap_image",
        )  # fmt: skip
        for side, color in (("best_bid", "#1b5e20"), ("best_ask", "#b71c1c")):
            p.step("t", "value", source=self.sources[side], mode="after", color=color,
                   line_width=1.2, name=f"{side}_line")  # fmt: skip
        cells = p.rect(
            "x", "y", "width", "height", source=foot, fill_color="color", fill_alpha="alpha",
            line_color="line_color", line_width=2, name="footprint_cells",
        )  # fmt: skip
        p.text(
            "x", "y", text="label", source=foot, text_color="text_color", text_font_size="9px",
            text_align="center", text_baseline="middle", name="footprint_labels",
        )  # fmt: skip
        wicks = p.segment("x", "high", "x", "low", color="color", source=src)
        bars = p.vbar(
            "x", "body", "open", "close", fill_color="color", line_color="color", source=src
        )
        bubbles = p.scatter(
            "t", "price", size="px", source=self.sources["trades"], color="color",
            fill_alpha=0.35, line_alpha=0.8, name="trade_bubbles",
        )  # fmt: skip
        fills = p.scatter(
            "t", "price", marker="marker", size=9, source=self.sources["fills"],
            line_color="color", fill_color="color", fill_alpha="fill_alpha", line_width=2,
            name="backtest_fills",
        )  # fmt: skip
        p.y_range = DataRange1d(renderers=[wicks, bars], range_padding=0.08, name="price_range")
        self.last_line = Span(
            dimension="width", location=None, line_color="#455a64", line_dash="dashed",
            name="last_price_line",
        )  # fmt: skip
        p.add_layout(self.last_line)
        time_fmt = {"@t": "datetime"}
        p.add_tools(
            HoverTool(
                renderers=[heat],
                formatters={"$x": "datetime"},
                tooltips=[
                    ("time (UTC)", "$x{%F %T}"),
                    ("price", "$y{0,0.[000000]}"),
                    ("resting size", "@image{0,0.[0000]}"),
                ],
            ),
            HoverTool(
                renderers=[bars],
                formatters=time_fmt,
                tooltips=[
                    ("open time (UTC)", "@t{%F %T.%3N}"),
                    ("window", "@window"),
                    ("open", "@open{0,0.[000000]}"),
                    ("high", "@high{0,0.[000000]}"),
                    ("low", "@low{0,0.[000000]}"),
                    ("close", "@close{0,0.[000000]}"),
                    ("trades", "@trades"),
                ],
            ),
            HoverTool(
                renderers=[cells],
                formatters=time_fmt,
                tooltips=[
                    ("candle open (UTC)", "@t{%F %T}"),
                    ("bin from", "@price{0,0.[000000]}"),
                    ("buy x sell", "@buy{0,0.[0000]} x @sell{0,0.[0000]}"),
                    ("delta", "@delta{0,0.[0000]}"),
                    ("POC", "@poc"),
                    ("imbalance", "@imbalance"),
                ],
            ),
            HoverTool(
                renderers=[bubbles],
                formatters=time_fmt,
                tooltips=[
                    _TIME_TIP,
                    ("trade", "@side @size{0,0.[0000]} at @price{0,0.[000000]}"),
                ],
            ),
            HoverTool(
                renderers=[fills],
                formatters=time_fmt,
                tooltips=[
                    _TIME_TIP,
                    ("backtest", "@kind: @side @quantity{0,0.[0000]} at @price{0,0.[000000]}"),
                ],
            ),
        )
        return p

    def _profile(self) -> figure:
        p = figure(
            name="panel_profile",
            title="Profile",
            width=PROFILE_WIDTH,
            height=self.candles.height,
            y_range=self.candles.y_range,
            tools="",
            toolbar_location="above",  # as the price panel's, so the two plot areas line up
            min_border_left=4,
        )
        p.toolbar.logo = None  # an empty toolbar, kept to line the plot areas up
        bars = p.hbar(
            y="y", height="height", right="total", left=0, color="color",
            source=self.sources["profile"], name="profile_bars",
        )  # fmt: skip
        p.yaxis.visible = False
        p.xaxis.formatter = self._number
        p.xaxis.major_label_orientation = 0.8
        # the last price, at the price panel's right edge (shared y range), whatever the pan
        self.last_label = Label(
            x=0, y=0, x_units="screen", text="", name="last_price", text_font_size="11px",
            text_color="#ffffff", background_fill_color="#455a64", text_baseline="middle",
            visible=False,
        )  # fmt: skip
        p.add_layout(self.last_label)
        p.add_tools(
            HoverTool(
                renderers=[bars],
                tooltips=[
                    ("bin from", "@price{0,0.[000000]}"),
                    ("volume", "@total{0,0.[0000]}"),
                    ("buy / sell", "@buy{0,0.[0000]} / @sell{0,0.[0000]}"),
                    ("POC", "@poc"),
                    ("value area", "@value_area"),
                ],
            )
        )
        return p

    def _volume(self) -> figure:
        p = self._figure("panel_volume", "Volume", 140)
        src = self.sources["candles"]
        buy = p.vbar("mid", "width", top="buy_volume", bottom=0, color="#26a69a", alpha=0.45,
                     source=src)  # fmt: skip
        sell = p.vbar("mid", "width", top=0, bottom="sell_down", color="#ef5350", alpha=0.45,
                      source=src)  # fmt: skip
        delta = p.vbar("mid", 0, top="delta", bottom=0, color="delta_color", source=src,
                       line_width=3, name="delta_bars")  # fmt: skip
        p.add_tools(
            HoverTool(
                renderers=[buy, sell, delta],
                formatters={"@t": "datetime"},
                tooltips=[
                    ("open time (UTC)", "@t{%F %T.%3N}"),
                    ("buy", "@buy_volume{0,0.[000000]}"),
                    ("sell", "@sell_volume{0,0.[000000]}"),
                    ("delta", "@delta{0,0.[000000]}"),
                ],
            )
        )
        return p

    def _obi(self, threshold: float) -> figure:
        p = self._figure("panel_obi", "Order book imbalance", 150)
        src = self.sources["obi"]
        p.varea("t", "lo", "hi", source=src, fill_color="#ff9800", fill_alpha=0.3)
        mean = p.line("t", "mean", source=src, color="#e65100", line_width=1.2)
        p.y_range = Range1d(-1.05, 1.05)
        for level in (threshold, -threshold):
            p.add_layout(
                Span(location=level, dimension="width", line_dash="dashed",
                     line_color="#b71c1c", line_width=1)
            )  # fmt: skip
        markers = p.scatter(
            "t", "y", source=self.sources["alerts"], size=10, marker="marker", color="color",
            line_color="#212121", name="alert_markers",
        )  # fmt: skip
        p.add_tools(
            HoverTool(
                renderers=[mean],
                mode="vline",
                formatters={"@t": "datetime"},
                tooltips=[
                    ("bucket from (UTC)", "@t{%F %T.%3N}"),
                    ("mean", "@mean{0.0000}"),
                    ("min / max", "@lo{0.0000} / @hi{0.0000}"),
                    ("snapshots", "@samples"),
                ],
            ),
            HoverTool(
                renderers=[markers],
                formatters={"@t": "datetime"},
                tooltips=[_TIME_TIP, ("alert", "@kind: @message"), ("value", "@value{0.0000}")],
            ),
        )
        return p

    def _ofi(self) -> figure:
        """OFI per candle as bars, MLOFI as a line over them, OFI alerts as markers;
        shown only when the recording has order-flow columns."""
        p = self._figure("panel_ofi", "Order flow imbalance", 140)
        src = self.sources["flow"]
        bars = p.vbar("mid", "width", top="ofi", bottom=0, color="color", alpha=0.6, source=src)
        p.line("mid", "mlofi", source=src, color="#3949ab", line_width=1.5, name="mlofi_line")
        markers = p.scatter(
            "t", "y", source=self.sources["ofi_alerts"], size=10, marker="marker",
            color="color", line_color="#212121", name="ofi_alert_markers",
        )  # fmt: skip
        p.add_tools(
            HoverTool(
                renderers=[bars],
                formatters={"@t": "datetime"},
                tooltips=[
                    ("open time (UTC)", "@t{%F %T.%3N}"),
                    ("OFI", "@ofi{0,0.[0000]}"),
                    ("MLOFI", "@mlofi{0,0.[0000]}"),
                    ("steps", "@snapshots"),
                ],
            ),
            HoverTool(
                renderers=[markers],
                formatters={"@t": "datetime"},
                tooltips=[_TIME_TIP, ("alert", "@kind: @message"), ("value", "@value{0.0000}")],
            ),
        )
        p.visible = False
        return p

    def _line(self, name: str, title: str, source: str, color: str) -> figure:
        p = self._figure(name, title, 150)
        line = p.line("t", "value", source=self.sources[source], color=color, line_width=1.5)
        p.add_tools(
            HoverTool(
                renderers=[line],
                mode="vline",
                formatters={"@t": "datetime"},
                tooltips=[_TIME_TIP, (title, "@value{0,0.[0000]}")],
            )
        )
        return p

    def _cvd_alerts(self) -> None:
        markers = self.cvd.scatter(
            "t", "y", source=self.sources["cvd_alerts"], size=10, marker="marker",
            color="color", line_color="#212121", name="cvd_alert_markers",
        )  # fmt: skip
        self.cvd.add_tools(
            HoverTool(
                renderers=[markers],
                formatters={"@t": "datetime"},
                tooltips=[_TIME_TIP, ("alert", "@kind: @message"), ("change", "@value{0.0000}")],
            )
        )

    def _overview(self) -> figure:
        p = figure(
            name="panel_overview",
            title="Whole recording (drag the box to navigate)",
            height=90,
            sizing_mode="stretch_width",
            x_axis_type=None,
            tools="",
            toolbar_location=None,
            min_border_left=BORDER_LEFT,
            min_border_right=12,  # as the panels above, so the strip spans their time axis
        )
        self._time_axis(p)
        p.x_range.range_padding = 0  # the strip is the recording, edge to edge
        p.line("t", "value", source=self.sources["overview"], color="#607d8b")
        p.yaxis.visible = False
        selector = RangeTool(x_range=self.x_range)
        selector.overlay.fill_alpha = 0.2
        p.add_tools(selector)
        return p

    def set_units(self, instrument: str) -> None:
        """Titles with the instrument's units (base for sizes, quote for prices)."""
        base, quote = instrument_units(instrument)
        self.candles.title.text = f"Price ({quote}){f': {instrument}' if instrument else ''}"
        self.profile.title.text = f"Profile ({base})"
        self.volume.title.text = f"Volume ({base}): buy up, sell down, delta bar"
        self.obi.title.text = "Order book imbalance (-1..1): min/max band and mean"
        self.cvd.title.text = f"Cumulative volume delta ({base})"
        self.ofi.title.text = f"Order flow imbalance per candle ({base}): OFI bars, MLOFI line"
        self.equity.title.text = f"Equity ({quote})"

    def layout(self, *above: object, readout: bool = True) -> column:
        """Every panel stretches; those below the price panel are padded on the right by
        the profile's width, so all plot areas share one time-to-pixel mapping. Without
        the readout line the chart needs no widget JavaScript (the report's file size)."""

        def padded(p: figure) -> row:
            return row(p, Spacer(width=PROFILE_WIDTH), sizing_mode="stretch_width")

        if readout:
            self._wire_readout()
        return column(
            *above,
            *([self.readout] if readout else []),
            row(self.candles, self.profile, sizing_mode="stretch_width"),
            padded(self.volume),
            padded(self.obi),
            padded(self.ofi),
            padded(self.equity),
            padded(self.cvd),
            padded(self.overview),
            name="dashboard",
            sizing_mode="stretch_width",
        )

    def _wire_readout(self) -> None:
        callback = CustomJS(
            args={
                "candles": self.sources["candles"],
                "obi": self.sources["obi"],
                "cvd": self.sources["cvd"],
                "readout": self.readout,
            },
            code=_READOUT_JS,
        )
        for p in self.linked:
            p.js_on_event(events.MouseMove, callback)

    def show(self, data: dict[str, dict[str, list]]) -> None:
        """Replace every panel's data (one message per source) and the last price."""
        for name, columns in data.items():
            self.sources[name].data = columns
        self.equity.visible = bool(data.get("equity", {}).get("t"))
        heat = data.get("heatmap", {})
        if heat.get("high"):  # saturate at the clip percentile; empty cells stay clear
            self.heat_colors.update(high=heat["high"][0], low=heat["high"][0] * 1e-3)
        if "flow" in data:  # an older file without order-flow columns has no OFI to draw
            self.ofi.visible = bool(data["flow"]["t"])
        candles = data.get("candles", {})
        if candles.get("t"):
            close = candles["close"][-1]
            self.last_line.location = close
            self.last_label.update(y=close, text=f"{close:,.8g}", visible=True)
        elif "candles" in data:
            self.last_line.location = None
            self.last_label.visible = False


def build_panels(obi_threshold: float) -> Panels:
    return Panels(obi_threshold)
