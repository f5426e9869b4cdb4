"""The seed's ``Visualizer``: the four-panel chart for a script's ``Book``.

Scripts written against the seed call ``set_db_path``, ``update_from_book`` and
``show``. The chart is the dashboard's own (``orderflow.charts``), filled from
the stored metrics and trades for the book's time span, and ``show`` writes a
standalone HTML file (BokehJS inlined, so it opens offline) rather than opening
a Qt window: this machine class has no display, and a file can be shared.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from bokeh.embed import file_html
from bokeh.resources import INLINE

from orderflow.charts.panels import Panels
from orderflow.charts.static import static_panels
from orderflow.core.models import Book
from orderflow.query.api import metrics
from orderflow.query.dataset import Dataset

__all__ = ["Visualizer"]

NS_PER_S = 1_000_000_000


class Visualizer:
    """Candles, volume, OBI and CVD of the span a book covers, on one time axis."""

    def __init__(
        self, *, window_seconds: float = 60, max_bars: int = 500, obi_threshold: float = 0.6
    ) -> None:
        self.window_seconds = window_seconds
        self.max_bars = max_bars
        self.obi_threshold = obi_threshold
        self.db_path: Path | None = None
        self.instrument: str | None = None
        self.span_ns: tuple[int, int] | None = None
        self.panels: Panels | None = None

    def set_db_path(self, path: str | Path) -> None:
        self.db_path = Path(path)

    def update_from_book(self, book: Book) -> None:
        """Chart the instrument and time span of ``book``'s snapshots."""
        if not book.snapshots:
            return
        self.instrument = book.instrument
        self.span_ns = (book.snapshots[0].instant_ns, book.snapshots[-1].instant_ns + 1)
        self.panels = self._draw()

    def load_stored_metrics(self) -> pd.DataFrame:
        """The stored metrics rows of the charted span, unreduced (the seed's
        ``_load_stored_metrics``, public because scripts inspect what is drawn)."""
        path, instrument, (start, end) = self._require()
        return metrics(path, instrument, start, end)

    def _draw(self) -> Panels:
        path, instrument, (start, end) = self._require()
        with Dataset(path, materialize=False) as dataset:
            return static_panels(
                dataset,
                instrument,
                start,
                end,
                window_ns=int(self.window_seconds * NS_PER_S),
                max_bars=self.max_bars,
                obi_threshold=self.obi_threshold,
            )

    def show(self, out: str | Path = "orderflow-chart.html") -> Path:
        """Write the chart to ``out`` (standalone HTML) and return its path."""
        if self.panels is None:
            raise ValueError("nothing to show: call update_from_book with a non-empty book first")
        target = Path(out)
        target.write_text(
            file_html(self.panels.layout(), INLINE, f"Orderflow: {self.instrument}"),
            encoding="utf-8",
        )
        return target

    def _require(self) -> tuple[Path, str, tuple[int, int]]:
        if self.db_path is None or self.instrument is None or self.span_ns is None:
            raise ValueError("set_db_path and update_from_book come before drawing")
        return self.db_path, self.instrument, self.span_ns
