"""Expands the PATH arguments users give (files, directories, globs) into databases.

A directory means "every SQLite file in it that has the input tables", so users
can point Orderflow at a folder of daily recordings; non-SQLite files in it
(CSV exports, notes) are passed over rather than reported as errors.
"""

from __future__ import annotations

import glob
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from orderflow.core.errors import InputFileError
from orderflow.store.connections import open_readonly

__all__ = ["discover_databases", "is_recording"]

_SQLITE_MAGIC = b"SQLite format 3\x00"
_GLOB_CHARS = set("*?[")


def is_recording(path: Path) -> bool:
    """True for a SQLite file with both input tables (read-only check)."""
    try:
        with path.open("rb") as fh:
            if fh.read(16) != _SQLITE_MAGIC:
                return False
        conn = open_readonly(path)
    except (OSError, InputFileError):
        return False
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError:
        return False
    finally:
        conn.close()
    return {"book", "trades"} <= names


def discover_databases(entries: Iterable[str]) -> list[Path]:
    """Files as given (validated later, so errors name them), directories and globs
    expanded; order kept, duplicates dropped. Raises InputFileError for an entry
    that matches nothing."""
    found: list[Path] = []
    for entry in entries:
        if _GLOB_CHARS & set(entry):
            matches = sorted(Path(m) for m in glob.glob(entry, recursive=True))
            files = [m for m in matches if m.is_file() and is_recording(m)]
            if not files:
                raise InputFileError(entry, "pattern matches no SQLite recording")
            found.extend(files)
            continue
        path = Path(entry)
        if path.is_dir():
            files = [f for f in sorted(path.iterdir()) if f.is_file() and is_recording(f)]
            if not files:
                raise InputFileError(path, "directory holds no SQLite recording")
            found.extend(files)
        elif path.exists():
            found.append(path)
        else:
            raise InputFileError(path, "no such file or directory")
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path.resolve(), None)
    return list(unique)
