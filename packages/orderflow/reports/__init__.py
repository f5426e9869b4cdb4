"""Reports: metrics summaries, alerts and backtest results as Markdown, JSON and HTML."""

from orderflow.reports.content import DatabaseReport, build_database_report
from orderflow.reports.html import render_html
from orderflow.reports.markdown import render_json, render_markdown

__all__ = [
    "DatabaseReport",
    "build_database_report",
    "render_html",
    "render_json",
    "render_markdown",
]
