"""Where the importer tests find the real recordings, and tiny input builders.

The real recordings live in the ``shared/`` checkout beside the repository and
are never copied into it; a missing file must fail the tests, not skip them.
"""

from __future__ import annotations

import gzip
from pathlib import Path

__all__ = ["REAL", "real_file", "write_lines"]

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real"


def real_file(*parts: str) -> Path:
    """Path of a real recording, asserting that it is there."""
    path = REAL.joinpath(*parts)
    assert path.is_file(), f"real recording missing: {path} (clone shared/ beside the repo)"
    return path


def write_lines(path: Path, lines: list[str], *, gz: bool = False) -> Path:
    """Write a hand-made recording, gzipped when asked."""
    data = ("\n".join(lines) + "\n").encode()
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path
