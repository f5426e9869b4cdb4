"""The exceptions the command-line programs turn into one-line messages.

Each subclasses the built-in a caller would catch without knowing Orderflow, so
library users can write ``except ValueError`` and still catch a bad profile.
"""

from __future__ import annotations

__all__ = [
    "InputFileError",
    "OrderflowError",
    "OutputFileError",
    "ProfileError",
    "TableOutOfOrder",
]


class OrderflowError(Exception):
    """Base of every error Orderflow raises on purpose."""


class InputFileError(OrderflowError, OSError):
    """A database that is missing, not SQLite, unreadable, or lacks the input tables."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


class OutputFileError(OrderflowError, OSError):
    """A file or directory a program writes its results to (a report, an export, JSON)
    that cannot be written: a read-only archive as the working directory, a full disk."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem

    @classmethod
    def refused(cls, path: object, exc: OSError, hint: str) -> OutputFileError:
        """``path`` could not be written for ``exc``; ``hint`` says what to pass instead."""
        return cls(path, f"cannot be written ({exc.strerror or exc}); {hint}")


class ProfileError(OrderflowError, ValueError):
    """A YAML profile with an unknown key, a wrong type or a missing file."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


class TableOutOfOrder(OrderflowError):
    """A table planned from probes as time-ordered turned out not to be; the run must be
    planned again from a full scan."""

    def __init__(self, table: str, row_id: int) -> None:
        super().__init__(f"table '{table}' is not in time order (row id {row_id})")
        self.table = table
        self.row_id = row_id
