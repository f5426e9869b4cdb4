"""Turns a Dataset and a visible range into the columns each panel's source needs.

Kept apart from the figures so the live dashboard, its static export and the
HTML report draw the same numbers, and so the point budget is enforced in one
place: candles follow the visible range (``auto``: the menu window that gives
about ``target_bars`` candles; a fixed choice is coarsened only past
``max_bars``), OBI is a min/max/mean band per bucket, CVD and equity are
M4-reduced, trades are the largest ``trade_limit`` of the range, and the
footprint replaces the candle bodies once few enough candles are in view.
The ``*_columns`` converters are public so a caller holding its own rows (the
report's alerts and equity) shapes them exactly as the Dataset's.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import msgspec
import numpy as np
import pyarrow as pa

from orderflow.query.aggregates import nice_width_ns
from orderflow.query.candles import WINDOW_CHOICES_S
from orderflow.query.dataset import Dataset
from orderflow.query.footprint import nice_bin_width
from orderflow.query.volume_profile import VolumeProfile

if TYPE_CHECKING:
    from orderflow.query.heatmap import HeatmapGrid

__all__ = [
    "AUTO_WINDOW",
    "NS_PER_MS",
    "Drawn",
    "PanelData",
    "ViewSettings",
    "alert_columns",
    "candle_columns",
    "effective_window_ns",
    "footprint_columns",
    "overview_data",
    "panel_data",
    "profile_columns",
    "series_columns",
    "window_label",
]

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
UP_COLOR = "#26a69a"
DOWN_COLOR = "#ef5350"
AUTO_WINDOW = 0
"""``window_ns`` meaning: follow the visible range."""

PanelData = dict[str, dict[str, list]]


class ViewSettings(msgspec.Struct, kw_only=True, frozen=True):
    """How much to draw; defaults suit a 1,600 px wide page."""

    max_bars: int = 500
    """Most candles (and M4/band buckets) in a panel."""
    target_bars: int = 120
    """Candles aimed at in ``auto`` mode: readable bodies at a few pixels each."""
    footprint_candles: int = 24
    """At most this many candles in view draws footprint cells instead of bodies."""
    footprint_rows: int = 28
    """Price bins a footprint spans at most (the bin is a 1-2-5 multiple of the tick)."""
    profile_rows: int = 80
    """Price bins of the volume profile at most."""
    trade_limit: int = 400
    """Largest trades drawn as bubbles."""
    min_trade_size: float = 0.0
    """Trades smaller than this are not drawn (the size filter)."""
    imbalance_ratio: float = 3.0
    """Diagonal imbalance ratio of the footprint (metrics.md default 3)."""
    heatmap_columns: int = 600
    """Heatmap columns across the panel (about one per 2 px)."""
    heatmap_rows: int = 130
    """Heatmap price rows at most (about one per 3 px)."""
    heatmap_clip: float = 99.0
    """Percentile of the non-empty cells at which the colour scale saturates, so that one
    wall of orders does not wash out the rest."""


class Drawn(msgspec.Struct, frozen=True):
    """What a ``panel_data`` call chose: the candle window, footprint or not, the bins."""

    window_ns: int
    footprint: bool
    footprint_bin: float | None
    profile_bin: float | None
    profile_poc: int | None


def window_label(window_ns: int) -> str:
    s = window_ns / NS_PER_S
    if s < 60:
        return f"{s:g} s"
    if s < 3600:
        return f"{s / 60:g} min"
    if s < 86_400:
        return f"{s / 3600:g} h"
    return f"{s / 86_400:g} d"


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


def band_columns(table: pa.Table) -> dict[str, list]:
    """{t (bucket start, ms), lo, hi, mean, samples} for a band panel."""
    return {
        "t": [v / NS_PER_MS for v in table["ts_ns"].to_pylist()],
        "lo": table["lo"].to_pylist(),
        "hi": table["hi"].to_pylist(),
        "mean": table["mean"].to_pylist(),
        "samples": table["samples"].to_pylist(),
    }


def candle_columns(table: pa.Table, window_ns: int, body: float = 0.8) -> dict[str, list]:
    """Candles keyed by their open time ``t`` (what the tooltip shows), each body drawn
    across its own window from that instant (``x`` is the window's middle), so a
    candle lines up with the trades, OBI and heatmap of the same seconds. Coloured by
    direction, with sell volume negated for the volume panel's downward bars and the
    delta (buy - sell) for its cluster-delta bars."""
    ts = table["ts_ns"].to_pylist()
    opens, closes = table["open"].to_pylist(), table["close"].to_pylist()
    buys, sells = table["buy_volume"].to_pylist(), table["sell_volume"].to_pylist()
    deltas = [b - s for b, s in zip(buys, sells, strict=True)]
    return {
        "t": [v / NS_PER_MS for v in ts],
        "x": [(v + window_ns / 2) / NS_PER_MS for v in ts],
        "mid": [(v + window_ns / 2) / NS_PER_MS for v in ts],
        "open": opens,
        "high": table["high"].to_pylist(),
        "low": table["low"].to_pylist(),
        "close": closes,
        "buy_volume": buys,
        "sell_volume": sells,
        "sell_down": [-v for v in sells],
        "delta": deltas,
        "delta_color": [UP_COLOR if d >= 0 else DOWN_COLOR for d in deltas],
        "trades": table["trades"].to_pylist(),
        "color": [UP_COLOR if c >= o else DOWN_COLOR for o, c in zip(opens, closes, strict=True)],
        "width": [window_ns / NS_PER_MS * body] * len(ts),
        "body": [window_ns / NS_PER_MS * body] * len(ts),
        "window": [window_label(window_ns)] * len(ts),
    }


def heatmap_columns(
    grids: HeatmapGrid | list[HeatmapGrid] | None, clip_percentile: float
) -> dict[str, list]:
    """One image per grid (a timeline of files has one per file): resting size (bids +
    asks) per price row and time column, NaN where a column had no snapshot; ``high``
    is the clip percentile of the non-empty cells of all of them."""
    grids = [g for g in ([grids] if not isinstance(grids, list) else grids) if g is not None]
    grids = [g for g in grids if g.bids.size]
    if not grids:
        return {k: [] for k in _HEATMAP_KEYS}
    images = []
    for grid in grids:
        total = np.nan_to_num(grid.bids) + np.nan_to_num(grid.asks)
        images.append(np.where(np.isnan(grid.bids), np.nan, total))
    filled = np.concatenate([i[np.isfinite(i) & (i > 0)] for i in images])
    high = float(np.percentile(filled, clip_percentile)) if filled.size else 1.0
    return {
        "image": images,
        "x": [int(g.times_ns[0]) / NS_PER_MS for g in grids],
        "y": [float(g.prices[0]) for g in grids],
        "dw": [i.shape[1] * g.column_ns / NS_PER_MS for i, g in zip(images, grids, strict=True)],
        "dh": [i.shape[0] * g.row_height for i, g in zip(images, grids, strict=True)],
        "high": [high] * len(grids),
        "row_height": [g.row_height for g in grids],
        "column_ms": [g.column_ns / NS_PER_MS for g in grids],
    }


_HEATMAP_KEYS = ("image", "x", "y", "dw", "dh", "high", "row_height", "column_ms")


def flow_columns(table: pa.Table, window_ns: int) -> dict[str, list]:
    """OFI and MLOFI per candle, at the candle's middle like the volume bars."""
    ts = table["ts_ns"].to_pylist()
    ofi = table["ofi"].to_pylist()
    return {
        "t": [v / NS_PER_MS for v in ts],
        "mid": [(v + window_ns / 2) / NS_PER_MS for v in ts],
        "ofi": ofi,
        "mlofi": table["mlofi"].to_pylist(),
        "snapshots": table["snapshots"].to_pylist(),
        "color": [UP_COLOR if v >= 0 else DOWN_COLOR for v in ofi],
        "width": [window_ns / NS_PER_MS * 0.8] * len(ts),
    }


def alert_columns(table: pa.Table, y: list[float | None] | None = None) -> dict[str, list]:
    """{t, value, y, marker, kind, message}: markers point up for a positive value
    (buying pressure) and down for a negative one; ``y`` is where the marker sits
    (the value itself unless given: a CVD alert sits on the CVD line)."""
    ts = table["ts_ns"].to_pylist()
    values = table["value"].to_pylist()
    return {
        "t": [v / NS_PER_MS for v in ts],
        "value": values,
        "y": list(values) if y is None else y,
        "marker": ["triangle" if v >= 0 else "inverted_triangle" for v in values],
        "color": [UP_COLOR if v >= 0 else DOWN_COLOR for v in values],
        "kind": table["kind"].to_pylist(),
        "message": table["message"].to_pylist(),
    }


def fill_columns(table: pa.Table) -> dict[str, list]:
    """Backtest fills: buys as up triangles, sells as down triangles; entries filled,
    exits hollow (``fill_alpha`` 0)."""
    sides = [s.lower() for s in table["side"].to_pylist()]
    entries = table["entry"].to_pylist()
    return {
        "t": [v / NS_PER_MS for v in table["ts_ns"].to_pylist()],
        "price": table["price"].to_pylist(),
        "quantity": table["quantity"].to_pylist(),
        "side": sides,
        "kind": ["entry" if e else "exit" for e in entries],
        "marker": ["triangle" if s == "buy" else "inverted_triangle" for s in sides],
        "color": ["#1565c0" if s == "buy" else "#6a1b9a" for s in sides],
        "fill_alpha": [1.0 if e else 0.0 for e in entries],
    }


def trade_columns(table: pa.Table) -> dict[str, list]:
    """Trade bubbles: area proportional to size (largest 26 px across), green buys,
    red sells."""
    sizes = table["size"].to_pylist()
    top = max(sizes, default=0.0) or 1.0
    signs = table["sign"].to_pylist()
    return {
        "t": [v / NS_PER_MS for v in table["ts_ns"].to_pylist()],
        "price": table["price"].to_pylist(),
        "size": sizes,
        "px": [4 + 22 * math.sqrt(s / top) for s in sizes],
        "side": ["buy" if s == 1 else "sell" for s in signs],
        "color": [UP_COLOR if s == 1 else DOWN_COLOR for s in signs],
    }


def footprint_columns(
    table: pa.Table, window_ns: int, bin_width: float, labels: bool
) -> dict[str, list]:
    """One rectangle per (candle, bin) across the candle's window, shaded by the
    bin's delta relative to the largest |delta| in view; ``label`` holds
    ``sell x buy`` when the cells are big enough to read."""
    ts = table["ts_ns"].to_pylist()
    bins = table["bin"].to_pylist()
    buys, sells = table["buy"].to_pylist(), table["sell"].to_pylist()
    deltas = table["delta"].to_pylist()
    biggest = max((abs(d) for d in deltas), default=0.0) or 1.0
    buy_imb, sell_imb = table["buy_imbalance"].to_pylist(), table["sell_imbalance"].to_pylist()
    return {
        "t": [v / NS_PER_MS for v in ts],
        "x": [(v + window_ns * 0.57) / NS_PER_MS for v in ts],  # right of the candle's wick
        "y": [(b + 0.5) * bin_width for b in bins],
        "price": [b * bin_width for b in bins],
        "bin": bins,
        "buy": buys,
        "sell": sells,
        "delta": deltas,
        "total": table["total"].to_pylist(),
        "color": [UP_COLOR if d >= 0 else DOWN_COLOR for d in deltas],
        "alpha": [0.15 + 0.7 * abs(d) / biggest for d in deltas],
        "poc": table["poc"].to_pylist(),
        "line_color": ["#f9a825" if p else None for p in table["poc"].to_pylist()],
        "imbalance": [
            "buy" if b else "sell" if s else "" for b, s in zip(buy_imb, sell_imb, strict=True)
        ],
        "text_color": [
            "#00695c" if b else "#b71c1c" if s else "#263238"
            for b, s in zip(buy_imb, sell_imb, strict=True)
        ],
        "label": [f"{s:.4g} x {b:.4g}" if labels else "" for b, s in zip(buys, sells, strict=True)],
        "width": [window_ns / NS_PER_MS * 0.8] * len(ts),
        "height": [bin_width] * len(ts),
    }


def profile_columns(profile: VolumeProfile) -> dict[str, list]:
    """Horizontal bars per bin: the POC orange, the value area dark, the rest light."""
    tick = profile.tick
    low, high, poc = profile.value_area_low, profile.value_area_high, profile.poc
    inside = [low is not None and low <= b <= high for b in profile.bins]
    return {
        "y": [(b + 0.5) * tick for b in profile.bins],
        "price": [b * tick for b in profile.bins],
        "bin": profile.bins,
        "total": profile.total,
        "buy": profile.buy,
        "sell": profile.sell,
        "height": [tick * 0.9] * len(profile.bins),
        "bin_width": [tick] * len(profile.bins),
        "poc": [b == poc for b in profile.bins],
        "value_area": inside,
        "color": [
            "#fb8c00" if b == poc else "#5c6bc0" if v else "#c5cae9"
            for b, v in zip(profile.bins, inside, strict=True)
        ],
    }


def choose_window(chosen_ns: int, start_ns: int, end_ns: int, settings: ViewSettings) -> int:
    """``auto``: the smallest menu window giving at most ``target_bars`` candles; a
    fixed window as chosen unless more than ``max_bars`` would fit."""
    if chosen_ns == AUTO_WINDOW:
        return effective_window_ns(NS_PER_S, start_ns, end_ns, settings.target_bars)
    return effective_window_ns(chosen_ns, start_ns, end_ns, settings.max_bars)


def panel_data(
    dataset: Dataset,
    instrument: str,
    start_ns: int,
    end_ns: int,
    window_ns: int,
    settings: ViewSettings,
) -> tuple[PanelData, Drawn]:
    """Columns for every panel over [start_ns, end_ns), and what was chosen. The
    questions go in two batches (``answers``), the second holding those that depend on
    the first's answers, so a timeline of many files opens each of them twice a redraw
    and holds one at a time."""
    window = choose_window(window_ns, start_ns, end_ns, settings)
    aligned_start = start_ns // window * window
    buckets = settings.max_bars
    band_width = nice_width_ns(end_ns - start_ns, buckets)
    ranged = (instrument, start_ns, end_ns)
    first = dataset.answers(
        {
            "candles": ("candles", (instrument, aligned_start, end_ns, window)),
            "flow": ("candle_flow", (instrument, aligned_start, end_ns, window)),
            **{
                f"{kind}_alerts": ("alerts", (*ranged, 4 * buckets, kind))
                for kind in ("obi", "cvd", "ofi")
            },
            "obi": ("band", (instrument, "obi", start_ns, end_ns, band_width)),
            "cvd": ("points", (instrument, "cvd", start_ns, end_ns, buckets)),
            "equity": ("equity", (*ranged, buckets)),
            "fills": ("fills", (*ranged, 4 * buckets)),
            "trades": ("large_trades", (*ranged, settings.min_trade_size, settings.trade_limit)),
            "heatmap": ("heatmap", (*ranged, settings.heatmap_columns, settings.heatmap_rows)),
        }
    )
    candles = candle_columns(first["candles"], window)
    heat = heatmap_columns(first["heatmap"], settings.heatmap_clip)
    cvd_alert_ts = first["cvd_alerts"]["ts_ns"].to_pylist()
    second: dict[str, tuple[str, tuple]] = {
        "cvd_y": ("values_at", (instrument, "cvd", cvd_alert_ts))
    }
    sides = ("best_bid", "best_ask") if heat["image"] else ()  # no depth recorded: no book lines
    for side in sides:  # each side M4-reduced on its own instants: one source per line
        second[side] = ("points", (instrument, side, start_ns, end_ns, buckets))
    bins = _price_bins(candles, dataset.tick(instrument), settings)
    if bins.profile is not None:
        second["profile"] = ("volume_profile", (*ranged, bins.profile))
    if bins.footprint is not None:
        second["footprint"] = (
            "footprint",
            (instrument, aligned_start, end_ns, window, bins.footprint, settings.imbalance_ratio),
        )
    then = dataset.answers(second)
    data: PanelData = {
        "candles": candles,
        "flow": flow_columns(first["flow"], window),
        "ofi_alerts": alert_columns(first["ofi_alerts"]),
        "obi": band_columns(first["obi"]),
        "cvd": series_columns(first["cvd"]),
        "alerts": alert_columns(first["obi_alerts"]),
        "cvd_alerts": alert_columns(first["cvd_alerts"], then["cvd_y"]),
        "equity": series_columns(first["equity"]),
        "fills": fill_columns(first["fills"]),
        "trades": trade_columns(first["trades"]),
        "heatmap": heat,
    }
    for side in ("best_bid", "best_ask"):
        data[side] = series_columns(then[side]) if side in then else {"t": [], "value": []}
    drawn = _price_structure(data, then, window, bins, settings)
    return data, drawn


class _PriceBins(msgspec.Struct, frozen=True):
    """The price bins of the volume profile and of the footprint (None: not drawn)."""

    profile: float | None
    footprint: float | None


def _price_bins(candles: dict[str, list], tick: float | None, settings: ViewSettings) -> _PriceBins:
    """The profile's and the footprint's bins, from the instrument's tick over the price
    span of the candles in view; the footprint only when few enough candles are."""
    if tick is None or not candles["t"]:
        return _PriceBins(None, None)
    span = max(candles["high"]) - min(candles["low"])
    footprint = len(candles["t"]) <= settings.footprint_candles
    return _PriceBins(
        nice_bin_width(tick, span, settings.profile_rows),
        nice_bin_width(tick, span, settings.footprint_rows) if footprint else None,
    )


def _price_structure(
    data: PanelData, then: dict[str, object], window: int, bins: _PriceBins, settings: ViewSettings
) -> Drawn:
    """Fill ``footprint`` and ``profile`` and narrow the candle bodies to wicks under a
    footprint."""
    candles = data["candles"]
    data["footprint"] = footprint_columns(_EMPTY_FOOTPRINT, window, 1.0, False)
    data["profile"] = profile_columns(VolumeProfile(1.0, [], [], [], [], None, None, None))
    if bins.profile is None:
        return Drawn(window, False, None, None, None)
    profile = then["profile"]
    data["profile"] = profile_columns(profile)
    if bins.footprint is not None:
        labels = len(candles["t"]) <= settings.footprint_candles // 2
        data["footprint"] = footprint_columns(then["footprint"], window, bins.footprint, labels)
        # the candle shrinks to a thin bar at the left of its window, beside its cells
        candles["body"] = [window / NS_PER_MS * 0.08] * len(candles["t"])
        candles["x"] = [t + window / NS_PER_MS * 0.08 for t in candles["t"]]
    return Drawn(window, bins.footprint is not None, bins.footprint, bins.profile, profile.poc)


_EMPTY_FOOTPRINT = pa.table(
    {
        "ts_ns": pa.array([], pa.int64()),
        "bin": pa.array([], pa.int64()),
        "buy": pa.array([], pa.float64()),
        "sell": pa.array([], pa.float64()),
        "delta": pa.array([], pa.float64()),
        "total": pa.array([], pa.float64()),
        "poc": pa.array([], pa.bool_()),
        "buy_imbalance": pa.array([], pa.bool_()),
        "sell_imbalance": pa.array([], pa.bool_()),
    }
)


def overview_data(dataset: Dataset, instrument: str, max_bars: int) -> dict[str, list]:
    """Mid price over the whole recording for the range-selector strip."""
    extent = dataset.extent(instrument)
    if extent is None:
        return {"t": [], "value": []}
    return series_columns(dataset.points(instrument, "mid", extent[0], extent[1] + 1, max_bars))
