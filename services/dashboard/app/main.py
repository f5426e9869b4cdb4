"""The live dashboard: one page per browser session, reading the shared Datasets.

Top-down: the session's state, the panels and their sources, the widgets each
followed by its callback, the range and live-follow callbacks, then add_root.
Zooming or panning re-queries the visible range (debounced) at the resolution
that fits it; the periodic callback takes in rows the coordinator has written
and, when the view reaches the end of the data, extends it to show them.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from bokeh.core.property.descriptors import UnsetValueError
from bokeh.io import curdoc
from bokeh.layouts import row
from bokeh.models import Div, NumericInput, Select
from orderflow_services.dashboard.registry import registry

from orderflow.charts.panel_data import (
    AUTO_WINDOW,
    NS_PER_MS,
    ViewSettings,
    overview_data,
    panel_data,
    window_label,
)
from orderflow.charts.panels import build_panels
from orderflow.query.candles import WINDOW_CHOICES_S
from orderflow.query.dataset import Dataset
from orderflow.query.timeline import Timeline

REQUERY_DELAY_MS = 120
TIMELINE = "*timeline*"
"""The database selector's value for every file as one history."""
PX_PER_CANDLE = 9
RESIZE_SLACK = 0.2
"""A resize re-fits the candles only when their budget moves by more than this share."""
ZOOM_LIMIT_SNAPSHOTS = 5
FINE_PARTS = 2
"""A timeline keeps the files in view open only while at most this many are: a view of
many days opens each of its files for a batch of questions and closes it before the
next (orderflow.query.timeline; reopening a kept store costs about 0.01 s, and keeping
ten open cost 75 MiB of cached blocks)."""

PAGE_TEMPLATE = """{% block js_resources %}
{%- for line in bokeh_js.splitlines() if not UNUSED_BUNDLES.search(line) %}
{{ line }}
{%- endfor %}
{% endblock %}"""
"""The server's page loads every BokehJS bundle, since it cannot know which models a
session will add; this page never uses MathJax, tables or WebGL, and their 2.3 MB of
the 3.9 MB of JavaScript took a third of a second to parse on each open."""
UNUSED_BUNDLES = re.compile(r"/bokeh-(mathjax|tables|gl)[.]min[.]js")

doc = curdoc()
config = registry.config
assert config is not None, "app_hooks.on_server_loaded did not run"
state = {
    "database": config.databases[0],
    "instrument": "",
    "window_ns": AUTO_WINDOW if config.auto_window else int(config.candle_window_s * 1e9),
    "min_trade_size": 0.0,
    "end_ns": None,
    "version": None,
    "pending": None,
    "quiet": False,
    "target_bars": None,
}


def dataset() -> Dataset | Timeline:
    """The selected file, or every file as one timeline."""
    if state["database"] == TIMELINE:
        if "timeline" not in state:
            state["timeline"] = Timeline(
                config.databases, registry.get, registry.opened, registry.release
            )
        return state["timeline"]
    return registry.get(state["database"])


panels = build_panels(config.obi_threshold)
status = Div(text="", name="status", width=330)


def visible_ns() -> tuple[int, int]:
    """The view as [start, end) in ns. Bokeh ranges are float ms, exact only to about a
    microsecond at today's epoch, so both ends are widened to whole microseconds (a
    float multiply straight to ns would round the last snapshot out of the range)."""
    start_us = math.floor(panels.x_range.start * 1000)
    end_us = math.ceil(panels.x_range.end * 1000) + 1
    return start_us * 1000, end_us * 1000


def on_screen() -> list[str]:
    """The files this page shows: the selected one, or the timeline's files in view
    when they are few (the registry closes every file no page shows)."""
    if state["database"] != TIMELINE:
        return [state["database"]]
    met = dataset().paths_meeting(state["instrument"], *visible_ns())
    return met if len(met) <= FINE_PARTS else []


def settings() -> ViewSettings:
    """The point budget for the panel's current width (candles of about 9 px)."""
    try:
        width = panels.candles.inner_width or 1200
    except UnsetValueError:  # the browser has not laid the page out yet
        width = 1200
    target = max(60, min(config.max_bars, width // PX_PER_CANDLE))
    return ViewSettings(
        max_bars=config.max_bars, target_bars=target, min_trade_size=state["min_trade_size"]
    )


def requery() -> None:
    """Re-draw every panel for the visible range, and say which candle window is drawn."""
    state["pending"] = None
    # Said before the questions: a timeline opens a closed file for them and closes it
    # after unless some page shows it, so the files of a new view must be shown first.
    registry.show(doc.session_context.id, on_screen())
    start, end = visible_ns()
    view = settings()
    state["target_bars"] = view.target_bars
    data, drawn = panel_data(dataset(), state["instrument"], start, end, state["window_ns"], view)
    panels.show(data)
    label = window_label(drawn.window_ns)
    if state["window_ns"] == AUTO_WINDOW:
        window_select.title = f"Candles: {label} (auto)"
    elif drawn.window_ns != state["window_ns"]:
        window_select.title = f"Candles: {label} (coarsened to fit)"
    else:
        window_select.title = f"Candles: {label}"
    shown = "footprint" if drawn.footprint else "cluster delta"
    status.text = (
        f"{len(data['candles']['t'])} candles of {label}, {shown}; "
        f"{len(data['trades']['t'])} largest trades"
    )


def show_whole_recording() -> None:
    """Point the view at the whole recording of the selected instrument and draw it."""
    state["version"] = dataset().version
    extent = dataset().extent(state["instrument"])
    state["end_ns"] = None if extent is None else extent[1]
    panels.set_units(state["instrument"])
    gap = dataset().median_interval_ns(state["instrument"])
    # the zoom stops at a few snapshots: closer in there is nothing more to see
    panels.x_range.min_interval = ZOOM_LIMIT_SNAPSHOTS * gap / NS_PER_MS if gap else 1.0
    panels.sources["overview"].data = overview_data(dataset(), state["instrument"], config.max_bars)
    if extent is None:
        panels.show(
            {
                name: {k: [] for k in src.data}
                for name, src in panels.sources.items()
                if name != "overview"
            }
        )
        registry.show(doc.session_context.id, on_screen())
        return
    state["quiet"] = True
    panels.x_range.update(start=extent[0] / NS_PER_MS, end=(extent[1] + 1) / NS_PER_MS)
    state["quiet"] = False
    requery()


# Values are full paths; labels the last two path parts, which tell a user's files apart
# without a screen-wide temp-directory prefix. Several files can also be seen as one.
database_options = [(path, "/".join(Path(path).parts[-2:])) for path in config.databases]
if len(config.databases) > 1:
    database_options.append((TIMELINE, f"all {len(config.databases)} files, one timeline"))
database_select = Select(
    title="Database",
    name="database",
    value=state["database"],
    options=database_options,
    width=280,
)


def on_database(attr: str, old: str, new: str) -> None:
    state["database"] = new
    instruments = dataset().instruments()
    instrument_select.options = instruments
    keep = state["instrument"] if state["instrument"] in instruments else None
    chosen = keep or (instruments[0] if instruments else "")
    if chosen == instrument_select.value:
        # Same instrument name in the other file: no change event, so redraw here.
        state["instrument"] = chosen
        show_whole_recording()
    else:
        instrument_select.value = chosen


database_select.on_change("value", on_database)

first_instruments = dataset().instruments()
state["instrument"] = first_instruments[0] if first_instruments else ""
instrument_select = Select(
    title="Instrument",
    name="instrument",
    value=state["instrument"],
    options=first_instruments,
    width=160,
)


def on_instrument(attr: str, old: str, new: str) -> None:
    state["instrument"] = new
    show_whole_recording()


instrument_select.on_change("value", on_instrument)

window_options = [("0", "auto (follows zoom)")] + [
    (str(s), window_label(s * 10**9)) for s in WINDOW_CHOICES_S
]
window_select = Select(
    title="Candles",
    name="window",
    width=190,
    value=str(state["window_ns"] // 10**9),
    options=window_options,
)


def on_window(attr: str, old: str, new: str) -> None:
    state["window_ns"] = int(float(new) * 1e9)
    requery()


window_select.on_change("value", on_window)

size_input = NumericInput(
    title="Trades of at least (size)", name="min_trade_size", value=0, low=0, mode="float",
    width=170,
)  # fmt: skip


def on_min_size(attr: str, old: float | None, new: float | None) -> None:
    state["min_trade_size"] = float(new or 0.0)
    requery()


size_input.on_change("value", on_min_size)


def on_range(attr: str, old: float, new: float) -> None:
    """Debounce: a wheel zoom moves the range many times; query once it settles."""
    if state["quiet"]:
        return
    if state["pending"] is not None:
        doc.remove_timeout_callback(state["pending"])
    state["pending"] = doc.add_timeout_callback(requery, REQUERY_DELAY_MS)


panels.x_range.on_change("start", on_range)
panels.x_range.on_change("end", on_range)


def on_resize(attr: str, old: int | None, new: int | None) -> None:
    """The window was resized: re-fit the candles, unless their budget barely moved.
    The first layout reports the panel's real width once; re-sending every panel then
    for a few candles more or less cost the page open a second, for nothing visible."""
    drawn = state["target_bars"]
    if drawn is None or abs(settings().target_bars - drawn) > RESIZE_SLACK * drawn:
        on_range(attr, old, new)


panels.candles.on_change("inner_width", on_resize)


def follow() -> None:
    """Draw the rows taken in since this page last drew. A view that reaches the old end
    of the data is extended to the new end, the last trade or metric as
    show_whole_recording() has it: a page opened mid-run then ends where a page opened
    afterwards ends."""
    dataset().refresh()
    if dataset().version == state["version"]:  # this page has drawn every change
        return
    state["version"] = dataset().version
    extent = dataset().extent(state["instrument"])
    previous = state["end_ns"]
    if previous is None or extent is None:  # nothing was drawn, or nothing is left
        show_whole_recording()
        return
    state["end_ns"] = extent[1]
    panels.sources["overview"].data = overview_data(dataset(), state["instrument"], config.max_bars)
    # following: the view's end (float ms, so compared with 1 ms of slack) reaches the old end
    if extent[1] != previous and panels.x_range.end >= (previous + 1) / NS_PER_MS - 1:
        state["quiet"] = True
        panels.x_range.end = (extent[1] + 1) / NS_PER_MS
        state["quiet"] = False
    requery()


doc.add_periodic_callback(follow, config.refresh_ms)

doc.title = config.title
doc.template = PAGE_TEMPLATE
doc.template_variables["UNUSED_BUNDLES"] = UNUSED_BUNDLES
controls = row(database_select, instrument_select, window_select, size_input, status)
layout = panels.layout(controls)
# Filled before it joins the document: no change events, no re-walks of the model graph.
show_whole_recording()
doc.add_root(layout)
