"""The Markdown and JSON forms of a report.

JSON carries every number (summaries, every alert, every backtest statistic)
for programs; the equity curves stay out of it (they live in the recording's
``backtest_equity`` table and the HTML report). Markdown is for people: the
tables of ``orderflow.reports.tables``, alerts listed up to ``ALERTS_LISTED``
per database.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from orderflow.reports.content import DatabaseReport
from orderflow.reports.tables import (
    ALERTS_LISTED,
    DEFINITIONS,
    Table,
    alert_heading,
    alert_table,
    backtest_line,
    backtest_table,
    format_cell,
    microprice_heading,
    microprice_table,
    summary_table,
)

__all__ = ["ALERTS_LISTED", "microprice_lines", "render_json", "render_markdown"]


def render_json(profile_name: str, reports: Sequence[DatabaseReport]) -> bytes:
    body = {
        "profile": profile_name,
        "databases": [
            {
                "database": r.database,
                "summaries": {s.instrument: msgspec.to_builtins(s) for s in r.summaries},
                "alerts": [msgspec.to_builtins(a) for a in r.alerts],
                "backtest": {
                    "source": r.backtest_source,
                    **msgspec.to_builtins(msgspec.structs.replace(r.backtest, results=[])),
                    "results": {s.instrument: msgspec.to_builtins(s) for s in r.backtest.results},
                },
            }
            for r in reports
        ],
    }
    return msgspec.json.format(msgspec.json.encode(body), indent=2)


def _table(table: Table) -> list[str]:
    headers, rows = table
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    # a pipe would end the table cell
    out += ["| " + " | ".join(format_cell(v).replace("|", "\\|") for v in row) + " |"
            for row in rows]  # fmt: skip
    return out


def microprice_lines(report: DatabaseReport) -> list[str]:
    """Stoikov's G*(I, S) per instrument (``tables.microprice_table``)."""
    lines: list[str] = []
    for table in report.microprice:
        lines += ["", f"### {microprice_heading(table)}", ""]
        lines += _table(microprice_table(table))
    return lines


def render_markdown(profile_name: str, reports: Sequence[DatabaseReport]) -> str:
    lines = [f"# Orderflow report: {profile_name}", ""]
    for r in reports:
        lines += [f"## {r.database}", "", "### Metrics summary", ""]
        lines += _table(summary_table(r))
        lines += ["", f"### {alert_heading(r)}", ""]
        lines += _table(alert_table(r))
        if len(r.alerts) > ALERTS_LISTED:
            lines.append(f"\n... and {len(r.alerts) - ALERTS_LISTED} more (see the JSON report).")
        lines += microprice_lines(r)
        lines += ["", "### Backtest", "", backtest_line(r), ""]
        lines += _table(backtest_table(r))
        lines.append("")
    lines += [DEFINITIONS, ""]
    return "\n".join(lines)
