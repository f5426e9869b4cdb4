"""One number rule for book levels and trades, on every path (README "Input").

Numeric strings follow JSON number syntax (plus ``inf``/``nan``, which are then
rejected as not finite); ``"1_000"``, ``" 1.5"``, ``"+1"`` and Arabic-Indic
digits are not numbers, in a level or in a trade. A level has 2 to 4 elements.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.coordinator.harness import COORD
from tests.coordinator.test_odd_cells import _output
from tests.recordings import write_recording

BASE_MS = 1_709_251_200_000
NOT_NUMBERS = ["1_000", " 1.5", "+1", "\u0661\u0662", "1.", ".5"]
NUMBERS = ["1.5", "1e1", "12"]
TEXT_IN_A_REAL_COLUMN = ["1_000", "\u0661\u0662"]
"""What stays text in the trades' REAL columns (SQLite itself turns " 1.5" or "+1"
into a number there), and used to count as a number through Python's float()."""


def _recording(path: Path) -> Path:
    books, trades = [], []
    for i in range(1200):
        bids: list = [[100, 1 + i % 4], [99, 2]]
        if i == 100:
            bids = [[100, 1, 0, 1, "x"]]  # a fifth element, not a number
        if i == 101:
            bids = [[100, 1, 0, 1, 7]]  # a fifth element, a number: still not a level
        if 200 <= i < 200 + len(NOT_NUMBERS):
            bids = [[100, NOT_NUMBERS[i - 200]]]
        if 300 <= i < 300 + len(NUMBERS):
            bids = [[100, NUMBERS[i - 300]]]
        books.append(("BTC", bids, [[101, 1]], str(BASE_MS + i * 10)))
    for i, size in enumerate(TEXT_IN_A_REAL_COLUMN + NUMBERS):
        trades.append(("BTC", "100", size, "buy", str(BASE_MS + i * 1000 + 5)))
        trades.append(("BTC", size, 1.0, "sell", str(BASE_MS + i * 1000 + 6)))
    return write_recording(path, books, trades)


def _run(db: Path, *args: str, native: bool = True) -> None:
    env = {**os.environ, "ORDERFLOW_NATIVE": "1" if native else "0"}
    done = subprocess.run(
        [*COORD, *args, "--quiet", str(db)], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("native", [True, False], ids=["kernel", "python"])
def test_levels_and_trades_follow_one_number_rule_on_every_path(
    tmp_path: Path, native: bool
) -> None:
    plain = _recording(tmp_path / "plain.db")
    sharded = tmp_path / "sharded.db"
    shutil.copy(plain, sharded)
    _run(plain, "--workers", "0", native=native)
    _run(sharded, "--workers", "2", "--shard-rows", "300", native=native)
    metrics, rejects = _output(plain)
    assert _output(sharded) == (metrics, rejects)
    book_rejects = {row_id for table, row_id, _ in rejects if table == "book"}
    assert book_rejects == {101, 102, *range(201, 201 + len(NOT_NUMBERS))}
    trade_rejects = sorted(row_id for table, row_id, _ in rejects if table == "trades")
    assert trade_rejects == list(range(1, 2 * len(TEXT_IN_A_REAL_COLUMN) + 1))
