"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests.recordings import BookSpec, TradeSpec, write_recording


@pytest.fixture
def recording(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``recording(books=[...], trades=[...], name="x.db")`` -> path."""

    def make(
        books: Sequence[BookSpec] = (), trades: Sequence[TradeSpec] = (), name: str = "rec.db"
    ):
        return write_recording(tmp_path / name, books, trades)

    return make
