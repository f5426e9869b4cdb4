"""The columnar result: rows in, raw little-endian buffers across, rows out unchanged."""

from __future__ import annotations

import math

import numpy as np
import pytest

from orderflow.pipeline.result_columns import VALUE_COLUMNS, ResultColumns
from orderflow.store.schema import FLOW_COLUMNS

FLOW = (0.5, 100.25, 100.3, 2.0, None, 1.0, 0.2, 0.1, -3.5, None)


def _row(sid: int, stamp: str, name: str, cvd: float, *flow: float | None) -> tuple:
    return (sid, stamp, 0.25, cvd, 100.0, None, name, sid * 10, *flow)


ROWS = [
    _row(7, "2024-03-01T12:00:00.123Z", "BTC-USDT", 1.5, *FLOW),
    _row(3, "1709251200000", "ETH-USDT", -2.0, *FLOW),
    _row(9, "1709251200001", "BTC-USDT", 2.5, *FLOW),
]


def _through_wire(columns: ResultColumns) -> ResultColumns:
    buffers = columns.buffers()
    plain = ("rows", "instrument_names")
    assert all(isinstance(v, bytes) for k, v in buffers.items() if k not in plain)
    copied = {k: bytes(v) if isinstance(v, bytes) else v for k, v in buffers.items()}
    return ResultColumns.from_buffers(**copied)


def _same(a: tuple, b: tuple) -> bool:
    return all(
        (x is None and isinstance(y, float) and math.isnan(y)) or x == y
        for x, y in zip(a, b, strict=True)
    )


@pytest.mark.parametrize("stamp", ["2024-03-01T12:00:00.123+01:00", "2024-03-01T12:00:00\u00b5"])
def test_rows_survive_the_round_trip(stamp: str) -> None:
    rows = [*ROWS, _row(11, stamp, "SOL-USDT", 0.0, *FLOW)]
    back = list(_through_wire(ResultColumns.from_rows(rows)).rows())
    assert len(back) == len(rows)
    for want, got in zip(rows, back, strict=True):
        assert _same(want, got), (want, got)


def test_layout_is_what_the_kernel_fills() -> None:
    buffers = ResultColumns.from_rows(ROWS).buffers()
    assert buffers["rows"] == 3 and buffers["instrument_names"] == ["BTC-USDT", "ETH-USDT"]
    assert np.frombuffer(buffers["instrument_index"], "<i4").tolist() == [0, 1, 0]
    assert np.frombuffer(buffers["snapshot_ids"], "<i8").tolist() == [7, 3, 9]
    values = np.frombuffer(buffers["values"], "<f8").reshape(len(VALUE_COLUMNS), 3)
    assert values[VALUE_COLUMNS.index("cvd")].tolist() == [1.5, -2.0, 2.5]
    assert np.isnan(values[VALUE_COLUMNS.index("best_ask")]).all()
    assert VALUE_COLUMNS[4:] == FLOW_COLUMNS
    offsets = np.frombuffer(buffers["timestamp_offsets"], "<i8").tolist()
    assert offsets[0] == 0 and offsets[-1] == len(buffers["timestamps"])
    assert buffers["timestamps"][offsets[1] : offsets[2]] == b"1709251200000"


def test_cvd_offsets_and_first_rows_per_instrument() -> None:
    columns = _through_wire(ResultColumns.from_rows(ROWS))
    columns.add_cvd_offsets({"BTC-USDT": 10.0, "SOL-USDT": 99.0})
    assert [r[3] for r in columns.rows()] == [11.5, -2.0, 12.5]
    assert columns.first_rows() == {"BTC-USDT": 0, "ETH-USDT": 1}
    columns.set_order_flow(1, 4.0, None)
    row = list(columns.rows())[1]
    assert row[-2] == 4.0 and math.isnan(row[-1])


def test_empty_result_and_inconsistent_buffers() -> None:
    empty = _through_wire(ResultColumns.from_rows([]))
    assert len(empty) == 0 and list(empty.rows()) == [] and empty.first_rows() == {}
    empty.add_cvd_offsets({"X": 1.0})
    buffers = ResultColumns.from_rows(ROWS).buffers()
    with pytest.raises(ValueError):
        ResultColumns.from_buffers(**{**buffers, "rows": 4})
    with pytest.raises(ValueError):
        ResultColumns.from_buffers(**{**buffers, "instrument_names": ["BTC-USDT"]})
