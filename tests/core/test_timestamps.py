from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderflow.core.timestamps import format_instant_ns, parse_instant_ns, parse_instants_ns

INSTANT = datetime(2024, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
NS = int(INSTANT.timestamp()) * 10**9 + 123_000_000


@pytest.mark.parametrize(
    "text",
    [
        "2024-03-01T12:00:00.123Z",
        "2024-03-01T12:00:00.123000+00:00",
        "2024-03-01T14:00:00.123+02:00",
        "2024-03-01T07:30:00.123-0430",
        "2024-03-01 12:00:00.123",  # naive means UTC
        "2024-03-01T12:00:00.123000000Z",
        str(NS // 10**6),  # milliseconds
        str(NS // 10**3),  # microseconds
        str(NS),  # nanoseconds
    ],
)
def test_every_format_gives_the_same_instant(text: str) -> None:
    assert parse_instant_ns(text) == NS


def test_integer_seconds_and_fractional_epoch() -> None:
    whole = NS // 10**9
    assert parse_instant_ns(str(whole)) == whole * 10**9
    assert parse_instant_ns(f"{whole}.123") == NS
    assert parse_instant_ns(f"{NS // 10**6}.5") == NS + 500_000


def test_unit_boundaries_by_magnitude() -> None:
    assert parse_instant_ns("9000000000") == 9_000_000_000 * 10**9  # seconds (year 2255)
    assert parse_instant_ns("99999999999") is None  # seconds, but past int64 ns (2262)
    assert parse_instant_ns("100000000000") == 100_000_000_000 * 10**6  # milliseconds
    assert parse_instant_ns("100000000000000") == 100_000_000_000_000 * 10**3  # micros
    assert parse_instant_ns("100000000000000000") == 100_000_000_000_000_000  # nanos


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2024-13-01T00:00:00Z",
        "2024-02-30",
        "2024-03-01T25:00:00Z",
        "1_000",
        "-5",
        "12ab",
        "99999999999999999999",
        None,
        "2024-03-01T12:00:00+25:00",
    ],
)
def test_unparseable_gives_none(text: object) -> None:
    assert parse_instant_ns(text) is None


def test_ordering_uses_instants_not_text() -> None:
    # As text "999" > "1709..." but 999 s is 1970; the parsed order is the true order.
    assert parse_instant_ns("999") < parse_instant_ns("1709294400")
    assert parse_instant_ns("2024-03-01T12:00:00+01:00") < parse_instant_ns("2024-03-01T11:30:00Z")


def test_format_round_trips() -> None:
    assert parse_instant_ns(format_instant_ns(NS)) == NS
    assert format_instant_ns(NS) == "2024-03-01T12:00:00.123000000Z"


epoch_columns = st.lists(
    st.one_of(
        st.integers(min_value=0, max_value=10**19).map(str),
        st.integers(min_value=10**12, max_value=10**13 - 1).map(str),
        st.sampled_from(["", "0123", "2024-03-01T12:00:00Z", "1709251200.5", "١٢٣", "x"]),
        st.integers(min_value=0, max_value=10**13),
        st.none(),
    ),
    max_size=40,
)


@given(epoch_columns)
def test_column_parse_equals_cell_by_cell(column: list) -> None:
    assert parse_instants_ns(column) == [parse_instant_ns(v) for v in column]


def test_column_of_one_width_takes_the_fast_path_and_checks_overflow() -> None:
    assert parse_instants_ns(["1709251200000", "1709251200100"]) == [
        1709251200000 * 10**6,
        1709251200100 * 10**6,
    ]
    assert parse_instants_ns(["9999999999", "1000000000"]) == [None, 10**18]
