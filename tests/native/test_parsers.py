"""The kernel's parsers against the Python reference: whatever the kernel accepts it
computes bit for bit as msgspec, float() and orderflow.core.timestamps do; everything
else it declines (returns None), never guesses."""

from __future__ import annotations

import struct

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from orderflow import native
from orderflow.core.timestamps import parse_instant_ns
from tests.native.strategies import number_texts, plain_number_texts, timestamp_cells

pytestmark = pytest.mark.skipif(native.KERNEL is None, reason=str(native.UNAVAILABLE_REASON))
kernel = native.KERNEL

_LEVEL = msgspec.json.Decoder(list[tuple[float, float]], strict=False)


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def reference_number(text: str) -> float | None:
    """msgspec's float of a numeric string in a level (how sides are decoded)."""
    try:
        return _LEVEL.decode(f'[["{text}", "1"]]'.encode())[0][0]
    except msgspec.DecodeError:
        return None


@given(number_texts)
@settings(max_examples=1500)
@example("1e-05")
@example("9007199254740991")
@example("9007199254740992")
@example("0.1")
@example("123456789.12345678")
def test_accepted_numbers_equal_msgspec_and_float_bit_for_bit(text: str) -> None:
    got = kernel.parse_number(text)
    if got is None:
        return
    assert bits(got) == bits(float(text))
    ref = reference_number(text)
    assert ref is not None and bits(got) == bits(ref)


@given(plain_number_texts())
def test_plain_numbers_take_the_fast_path(text: str) -> None:
    assert kernel.parse_number(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "-1",
        "-0",
        "NaN",
        "Infinity",
        "nan",
        "01",
        "1.",
        ".5",
        "1e23",
        "1e-23",
        " 1",
        "1 ",
        "\u0661",
        "9007199254740993",
        "12345678901234567890",
        "1_0",
        "0x10",
        "",
        "1e99999",
    ],
)
def test_declines_what_is_not_plain(text: str) -> None:
    assert kernel.parse_number(text) is None


def test_exponent_written_and_implied_within_22() -> None:
    assert kernel.parse_number("1e-05") == 1e-05
    assert kernel.parse_number("1.5e22") == 1.5e22
    assert kernel.parse_number("0.0000000000000000000001") == 1e-22
    assert kernel.parse_number("123e-22") == float("123e-22")


@given(timestamp_cells)
@settings(max_examples=1500)
@example("1709294400123")
@example("2024-03-01T12:00:00.123456789123Z")
@example("2024-03-01T12:00:00+05:")
def test_accepted_timestamps_equal_the_reference(cell: object) -> None:
    got = kernel.parse_instant(cell)
    if got is None:
        return
    assert got == parse_instant_ns(cell)


@pytest.mark.parametrize(
    "cell",
    [
        "1709294400",
        "1709294400123",
        "1709294400123456",
        "1709294400123456789",
        "0",
        "1709294400.5",
        "1709294400123.25",
        "2024-03-01T12:00:00.123Z",
        "2024-03-01T12:00:00Z",
        "2024-03-01 12:00:00",
        "2024-03-01T12:00:00+05:30",
        "2024-03-01T12:00:00-0200",
        "2024-03-01T12:00+01",
        "2024-03-01",
        "1969-12-31T23:59:59.999Z",
        1709294400123,
        0,
    ],
)
def test_plain_timestamps_take_the_fast_path(cell: object) -> None:
    assert kernel.parse_instant(cell) == parse_instant_ns(cell) is not None


@pytest.mark.parametrize(
    "cell",
    [
        " 1709294400",
        "1709294400 ",
        "-5",
        -5,
        "2024-02-30",
        "2024-03-01T24:00:00",
        "2024-03-01t12:00",
        "\u0661\u0667",
        "1.",
        ".5",
        "99999999999999999999",
        "9999999999999999999",
        "2024-03-01T12:00:00+05:",
        "0000-01-01",
    ],
)
def test_declines_unusual_timestamps(cell: object) -> None:
    assert kernel.parse_instant(cell) is None


@given(st.integers(0, 2**63 - 1))
def test_integer_cells_by_magnitude(value: int) -> None:
    assert kernel.parse_instant(value) == parse_instant_ns(value) or (
        kernel.parse_instant(value) is None and parse_instant_ns(value) is None
    )
