"""The optional compiled shard kernel and whether this process may use it.

The C extension is built during ``pip install`` when a compiler and the SQLite
headers are present; without them Orderflow computes the same numbers in Python.
Callers check ``KERNEL`` (the loaded module, or None) and print ``UNAVAILABLE_REASON``
in one line, so a user can tell a slow run from a broken build.
``ORDERFLOW_NATIVE=0`` in the environment turns the kernel off for comparisons.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

__all__ = ["KERNEL", "UNAVAILABLE_REASON", "kernel_enabled"]


def _load() -> tuple[ModuleType | None, str | None]:
    if os.environ.get("ORDERFLOW_NATIVE", "1") == "0":
        return None, "turned off by ORDERFLOW_NATIVE=0"
    if importlib.util.find_spec("orderflow.native._kernel") is None:
        return None, (
            "the C extension was not built (no C compiler or SQLite headers at install"
            " time; `pip install -v` shows why)"
        )
    try:
        return importlib.import_module("orderflow.native._kernel"), None
    except ImportError as exc:
        return None, f"the C extension did not load ({exc})"


KERNEL, UNAVAILABLE_REASON = _load()
"""The ``_kernel`` extension module, or None and a one-line reason."""


def kernel_enabled() -> bool:
    """True when the compiled kernel loaded and is not turned off."""
    return KERNEL is not None
