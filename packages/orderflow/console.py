"""What every command-line program shares: one-line errors and the summary table.

Users should see ``orderflow-coord: data/x.db: has no 'book' table`` and exit
status 2, never a traceback, for anything caused by their input.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from collections.abc import Callable, Sequence

from orderflow.core.errors import OrderflowError

__all__ = ["configure_logging", "format_table", "run_main"]

USAGE_ERROR = 2


def run_main(prog: str, body: Callable[[], int]) -> int:
    """Run a CLI body, turning expected failures into one stderr line and exit 2."""
    try:
        return body()
    except OrderflowError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except sqlite3.DatabaseError as exc:
        print(f"{prog}: database error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def configure_logging(level: str = "WARNING", quiet: bool = False, *, force: bool = False) -> None:
    """Log to stderr at ``level``; ``force`` replaces a configuration already made (a
    process forked from one that had configured its own)."""
    logging.basicConfig(
        level=logging.ERROR if quiet else getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=force,
    )


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned text table (numbers right-aligned) for terminal summaries."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    numeric = [
        all(isinstance(row[i], int | float) for row in rows) if rows else False
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if numeric[i] else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out.extend(line(row) for row in cells)
    return "\n".join(out)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
