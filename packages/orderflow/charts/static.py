"""One instrument's chart over a fixed range, filled once, for a standalone HTML file.

``orderflow-dashboard --export`` and ``orderflow-report`` both write the live
dashboard's chart into a file that no server will ever update; this is what they
share: fresh panels, every source filled from a Dataset over ``[start, end)``,
the overview strip over the whole recording, and the shared axis on the range.
"""

from __future__ import annotations

from orderflow.charts.panel_data import (
    NS_PER_MS,
    PanelData,
    ViewSettings,
    overview_data,
    panel_data,
)
from orderflow.charts.panels import Panels, build_panels
from orderflow.query.dataset import Dataset

__all__ = ["static_panels"]


def static_panels(
    dataset: Dataset,
    instrument: str,
    start_ns: int,
    end_ns: int,
    *,
    window_ns: int,
    max_bars: int,
    obi_threshold: float,
    replace: PanelData | None = None,
) -> Panels:
    """The filled panels of ``instrument`` over [start_ns, end_ns).

    ``replace`` swaps in columns the caller holds instead of the Dataset's: the
    report's alerts and equity come from its own backtest, which need not be
    stored in the recording.
    """
    panels = build_panels(obi_threshold)
    panels.set_units(instrument)
    settings = ViewSettings(max_bars=max_bars)
    data, _ = panel_data(dataset, instrument, start_ns, end_ns, window_ns, settings)
    panels.show({**data, **(replace or {})})
    panels.sources["overview"].data = overview_data(dataset, instrument, max_bars)
    panels.x_range.update(start=start_ns / NS_PER_MS, end=end_ns / NS_PER_MS)
    return panels
