"""``orderflow-dashboard --export``: the same panels as a standalone HTML file.

BokehJS is inlined (``INLINE`` resources, about 1 MB) rather than linked from
the CDN so the file opens on a machine with no network, like the recordings.
"""

from __future__ import annotations

from pathlib import Path

from bokeh.embed import file_html
from bokeh.resources import INLINE

from orderflow.charts.static import static_panels
from orderflow.core.errors import OutputFileError
from orderflow.query.dataset import Dataset

__all__ = ["export_html"]


def export_html(
    database: str | Path,
    out: str | Path,
    *,
    instrument: str | None,
    start_ns: int | None,
    end_ns: int | None,
    window_ns: int,
    max_bars: int,
    obi_threshold: float,
    title: str = "Orderflow",
) -> str:
    """Write the chart of one instrument over [start, end) to ``out``; returns the instrument."""
    with Dataset(database, materialize=False) as dataset:
        instruments = dataset.instruments()
        if not instruments:
            raise ValueError(f"{database}: no trades or metrics to chart")
        chosen = instrument or instruments[0]
        if chosen not in instruments:
            raise ValueError(f"{database}: no instrument {chosen!r} (has {', '.join(instruments)})")
        extent = dataset.extent(chosen)
        assert extent is not None
        start = extent[0] if start_ns is None else start_ns
        end = extent[1] + 1 if end_ns is None else end_ns
        panels = static_panels(
            dataset,
            chosen,
            start,
            end,
            window_ns=window_ns,
            max_bars=max_bars,
            obi_threshold=obi_threshold,
        )
    html = file_html(panels.layout(), INLINE, f"{title}: {chosen}")
    try:
        Path(out).write_text(html, encoding="utf-8")
    except OSError as exc:
        raise OutputFileError.refused(out, exc, "pass --export a path you can write") from None
    return chosen
