"""The live dashboard: one page per browser session, reading the shared Datasets.

Top-down: the session's state, the panels and their sources, the widgets each
followed by its callback, the range and live-follow callbacks, then add_root.
Zooming or panning re-queries the visible range (debounced) at the resolution
that fits it; the periodic callback takes in rows the coordinator has written
and, when the view reaches the end of the data, extends it to show them.
"""

from __future__ import annotations

import math
from pathlib import Path

from bokeh.io import curdoc
from bokeh.layouts import row
from bokeh.models import Div, Select
from orderflow_services.dashboard.registry import registry

from orderflow.charts.panel_data import NS_PER_MS, overview_data, panel_data
from orderflow.charts.panels import build_panels
from orderflow.query.candles import WINDOW_CHOICES_S

REQUERY_DELAY_MS = 120

doc = curdoc()
config = registry.config
assert config is not None, "app_hooks.on_server_loaded did not run"
state = {
    "database": config.databases[0],
    "instrument": "",
    "window_ns": int(config.candle_window_s * 1e9),
    "last_ns": None,
    "pending": None,
    "quiet": False,
}


def dataset():
    return registry.datasets[state["database"]]


panels = build_panels(config.obi_threshold)
status = Div(text="", name="status", width=500)


def visible_ns() -> tuple[int, int]:
    """The view as [start, end) in ns. Bokeh ranges are float ms, exact only to about a
    microsecond at today's epoch, so both ends are widened to whole microseconds (a
    float multiply straight to ns would round the last snapshot out of the range)."""
    start_us = math.floor(panels.x_range.start * 1000)
    end_us = math.ceil(panels.x_range.end * 1000) + 1
    return start_us * 1000, end_us * 1000


def requery() -> None:
    """Re-draw every panel for the visible range."""
    state["pending"] = None
    start, end = visible_ns()
    data, window = panel_data(
        dataset(), state["instrument"], start, end, state["window_ns"], config.max_bars
    )
    panels.show(data)
    shown = "" if window == state["window_ns"] else f" (coarsened to {window / 1e9:g} s to fit)"
    status.text = f"candles {window / 1e9:g} s{shown}; {len(data['obi']['t'])} OBI points"


def show_whole_recording() -> None:
    """Point the view at the whole recording of the selected instrument and draw it."""
    extent = dataset().extent(state["instrument"])
    state["last_ns"] = dataset().last_metric_ns(state["instrument"])
    panels.sources["overview"].data = overview_data(dataset(), state["instrument"], config.max_bars)
    if extent is None:
        panels.show(
            {
                name: {k: [] for k in src.data}
                for name, src in panels.sources.items()
                if name != "overview"
            }
        )
        return
    state["quiet"] = True
    panels.x_range.update(start=extent[0] / NS_PER_MS, end=(extent[1] + 1) / NS_PER_MS)
    state["quiet"] = False
    requery()


database_select = Select(
    title="Database",
    name="database",
    value=state["database"],
    # Values are full paths; labels the last two path parts, which tell a user's
    # files apart without a screen-wide temp-directory prefix.
    options=[(path, "/".join(Path(path).parts[-2:])) for path in config.databases],
    width=420,
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

window_options = [
    (str(s), f"{s} s" if s < 60 else f"{s // 60} min" if s < 3600 else f"{s // 3600} h")
    for s in WINDOW_CHOICES_S
]
window_select = Select(
    title="Candle window",
    name="window",
    width=130,
    value=str(round(config.candle_window_s)),
    options=window_options,
)


def on_window(attr: str, old: str, new: str) -> None:
    state["window_ns"] = int(float(new) * 1e9)
    requery()


window_select.on_change("value", on_window)


def on_range(attr: str, old: float, new: float) -> None:
    """Debounce: a wheel zoom moves the range many times; query once it settles."""
    if state["quiet"]:
        return
    if state["pending"] is not None:
        doc.remove_timeout_callback(state["pending"])
    state["pending"] = doc.add_timeout_callback(requery, REQUERY_DELAY_MS)


panels.x_range.on_change("start", on_range)
panels.x_range.on_change("end", on_range)


def follow() -> None:
    """Take in new rows; if the view reaches the old end of the data, extend it."""
    if not dataset().refresh():
        return
    last = dataset().last_metric_ns(state["instrument"])
    if last is None or last == state["last_ns"]:
        return
    previous = state["last_ns"]
    state["last_ns"] = last
    panels.sources["overview"].data = overview_data(dataset(), state["instrument"], config.max_bars)
    # following: the view's end (float ms, so compared with 1 ms of slack) reaches the old data
    if previous is None or panels.x_range.end >= previous / NS_PER_MS - 1:
        state["quiet"] = True
        panels.x_range.end = (last + 1) / NS_PER_MS
        state["quiet"] = False
        requery()


doc.add_periodic_callback(follow, config.refresh_ms)

doc.title = config.title
doc.add_root(panels.layout(row(database_select, instrument_select, window_select, status)))
show_whole_recording()
