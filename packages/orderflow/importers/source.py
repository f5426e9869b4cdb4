"""Reading recordings line by line, gzip or not, with a line reference for reports.

Files are read as bytes and never decoded as a whole: msgspec parses JSON from
bytes directly, and a single undecodable line must become a counted malformed
line rather than an exception that ends the import.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["InputError", "iter_lines", "open_binary"]

_GZIP_MAGIC = b"\x1f\x8b"


class InputError(Exception):
    """The inputs cannot be imported as given (a usage error, not a feed problem)."""


def open_binary(path: str | Path) -> BinaryIO:
    """Open ``path`` for reading, transparently gunzipping by content, not by name."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == _GZIP_MAGIC:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def iter_lines(path: str | Path) -> Iterator[tuple[str, int, bytes]]:
    """Yield ``(where, line_number, line)`` for the non-blank lines of ``path``.

    ``where`` is ``name:line`` so problems can be reported without keeping lines.
    """
    name = Path(path).name
    with open_binary(path) as f:
        for number, raw in enumerate(f, 1):
            line = raw.rstrip(b"\r\n")
            if line.strip():
                yield f"{name}:{number}", number, line
