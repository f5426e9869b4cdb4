"""Turns a Dataset and a visible range into the columns each panel's source needs.

Kept apart from the figures so the live dashboard, its static export and the
HTML report draw the same numbers, and so the point budget is enforced in one
place: candles are coarsened until at most ``max_bars`` fit the range, and line
panels are M4-reduced to ``max_bars`` buckets (at most 4 x max_bars points).
The ``*_columns`` converters are public so a caller holding its own rows (the
report's alerts and equity) shapes them exactly as the Dataset's.
"""

from __future__ import annotations

import pyarrow as pa

from orderflow.query.candles import WINDOW_CHOICES_S
from orderflow.query.dataset import Dataset

__all__ = [
    "NS_PER_MS",
    "PanelData",
    "alert_columns",
    "candle_columns",
    "effective_window_ns",
    "overview_data",
    "panel_data",
    "series_columns",
]

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
UP_COLOR = "#26a69a"
DOWN_COLOR = "#ef5350"

PanelData = dict[str, dict[str, list]]


def effective_window_ns(chosen_ns: int, start_ns: int, end_ns: int, max_bars: int) -> int:
    """The chosen window, or the smallest menu window (then whole days) that keeps the
    range within ``max_bars`` candles."""
    needed = -(-(end_ns - start_ns) // max(1, max_bars))
    if chosen_ns >= needed:
        return chosen_ns
    for seconds in WINDOW_CHOICES_S:
        if seconds * NS_PER_S >= needed:
            return max(chosen_ns, seconds * NS_PER_S)
    day = 86_400 * NS_PER_S
    return -(-needed // day) * day


def series_columns(table: pa.Table) -> dict[str, list]:
    """{t (epoch ms, the Bokeh datetime unit), value} from a (ts_ns, ..., value) table."""
    ts = table["ts_ns"].to_pylist()
    return {"t": [v / NS_PER_MS for v in ts], "value": table["value"].to_pylist()}


def candle_columns(table: pa.Table, window_ns: int) -> dict[str, list]:
    """Candles centred on their window (Bokeh bars are drawn about ``t``), coloured by
    direction, with sell volume negated for the volume panel's downward bars."""
    ts = table["ts_ns"].to_pylist()
    opens, closes = table["open"].to_pylist(), table["close"].to_pylist()
    sells = table["sell_volume"].to_pylist()
    return {
        "t": [(v + window_ns / 2) / NS_PER_MS for v in ts],
        "open": opens,
        "high": table["high"].to_pylist(),
        "low": table["low"].to_pylist(),
        "close": closes,
        "buy_volume": table["buy_volume"].to_pylist(),
        "sell_volume": sells,
        "sell_down": [-v for v in sells],
        "trades": table["trades"].to_pylist(),
        "color": [UP_COLOR if c >= o else DOWN_COLOR for o, c in zip(opens, closes, strict=True)],
        "width": [window_ns / NS_PER_MS * 0.8] * len(ts),
    }


def alert_columns(table: pa.Table) -> dict[str, list]:
    """{t, value, kind, message} for the OBI panel's markers and their hover text."""
    ts = table["ts_ns"].to_pylist()
    return {
        "t": [v / NS_PER_MS for v in ts],
        "value": table["value"].to_pylist(),
        "kind": table["kind"].to_pylist(),
        "message": table["message"].to_pylist(),
    }


def panel_data(
    dataset: Dataset,
    instrument: str,
    start_ns: int,
    end_ns: int,
    window_ns: int,
    max_bars: int,
) -> tuple[PanelData, int]:
    """Columns for every panel over [start_ns, end_ns), and the candle window used."""
    window = effective_window_ns(window_ns, start_ns, end_ns, max_bars)
    aligned_start = start_ns // window * window
    data = {
        "candles": candle_columns(
            dataset.candles(instrument, aligned_start, end_ns, window), window
        ),
        "obi": series_columns(dataset.series(instrument, "obi", start_ns, end_ns, max_bars)),
        "cvd": series_columns(dataset.series(instrument, "cvd", start_ns, end_ns, max_bars)),
        "alerts": alert_columns(
            dataset.alerts(instrument, start_ns, end_ns, 4 * max_bars, kind="obi")
        ),
        "equity": series_columns(dataset.equity(instrument, start_ns, end_ns, max_bars)),
    }
    return data, window


def overview_data(dataset: Dataset, instrument: str, max_bars: int) -> dict[str, list]:
    """Mid price over the whole recording for the range-selector strip."""
    extent = dataset.extent(instrument)
    if extent is None:
        return {"t": [], "value": []}
    return series_columns(dataset.series(instrument, "mid", extent[0], extent[1] + 1, max_bars))
