"""The kernel is built wherever CI runs: ORDERFLOW_REQUIRE_NATIVE=1 (set by tox)
turns a silent fallback to the Python path into a failure."""

from __future__ import annotations

import os
import sqlite3

import pytest

from orderflow import native


def test_kernel_loaded_when_required() -> None:
    if os.environ.get("ORDERFLOW_REQUIRE_NATIVE") != "1":
        pytest.skip("ORDERFLOW_REQUIRE_NATIVE is not set")
    assert native.KERNEL is not None, native.UNAVAILABLE_REASON


def test_reason_given_exactly_when_unavailable() -> None:
    assert (native.KERNEL is None) == (native.UNAVAILABLE_REASON is not None)
    if native.UNAVAILABLE_REASON is not None:
        assert "\n" not in native.UNAVAILABLE_REASON


def test_kernel_links_the_sqlite_python_uses() -> None:
    if native.KERNEL is None:
        pytest.skip(native.UNAVAILABLE_REASON)
    assert native.KERNEL.sqlite_version() == sqlite3.sqlite_version
