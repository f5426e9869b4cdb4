"""The order-flow chart (candles, volume, OBI, CVD, equity) as Bokeh panels.

Drawn by the live dashboard (``orderflow_services.dashboard``), its static
export and the HTML report, so it lives here with the query layer it reads
rather than in ``services/``, which libraries must not import.
"""

from orderflow.charts.panel_data import (
    AUTO_WINDOW,
    Drawn,
    PanelData,
    ViewSettings,
    alert_columns,
    effective_window_ns,
    overview_data,
    panel_data,
    series_columns,
)
from orderflow.charts.panels import PANEL_NAMES, Panels, build_panels
from orderflow.charts.static import static_panels
from orderflow.charts.visualizer import Visualizer

__all__ = [
    "AUTO_WINDOW",
    "PANEL_NAMES",
    "Drawn",
    "PanelData",
    "Panels",
    "ViewSettings",
    "Visualizer",
    "alert_columns",
    "build_panels",
    "effective_window_ns",
    "overview_data",
    "panel_data",
    "series_columns",
    "static_panels",
]
