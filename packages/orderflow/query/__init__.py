"""DuckDB queries over Orderflow recordings: candles, reduced metric series, notebook API."""

from orderflow.query.api import candles, metrics, series, to_instant_ns
from orderflow.query.candles import WINDOW_CHOICES_S, parse_window
from orderflow.query.dataset import ALERT_COLUMNS, EQUITY_COLUMNS, Dataset
from orderflow.query.duckdb_connection import QueryLayerError, connect_duckdb
from orderflow.query.heatmap import HeatmapGrid, heatmap
from orderflow.query.microprice import microprice

__all__ = [
    "ALERT_COLUMNS",
    "EQUITY_COLUMNS",
    "WINDOW_CHOICES_S",
    "Dataset",
    "HeatmapGrid",
    "QueryLayerError",
    "candles",
    "connect_duckdb",
    "heatmap",
    "metrics",
    "microprice",
    "parse_window",
    "series",
    "to_instant_ns",
]
