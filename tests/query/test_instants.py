"""The DuckDB timestamp macro agrees with parse_instant_ns, the Python reference."""

from __future__ import annotations

import random

import pytest

from orderflow.core.timestamps import parse_instant_ns
from orderflow.query.duckdb_connection import connect_duckdb
from orderflow.query.instants import install_macros

FIXED = [
    "1709251200",
    "1709251200123",
    "1709251200123456",
    "1709251200123456789",
    "1709251200.5",
    " 1709251200123.456789 ",
    " 1709251200",
    "1709251200.",
    "0",
    "12",
    "99999999999",
    "100000000000",
    "99999999999999",
    "100000000000000000",
    "9223372036854775807",
    "9223372036854775808",
    "99999999999999999999",
    "2024-03-01T12:00:00.123Z",
    "2024-03-01T12:00:00,5z",
    "2024-03-01 12:00",
    "2024-03-01",
    "2024-03-01T12:00:00+05:30",
    "2024-03-01T12:00:00-0130",
    "2024-03-01T12:00:00+05",
    "2024-02-29T23:59:59.999999999999Z",
    "2023-02-29T00:00:00Z",
    "0000-01-01",
    "2024-03-01T24:00:00Z",
    "2024-03-01T12:60",
    "2024-03-01T12:00:00+24:00",
    "2024-03-01T12",
    "1969-12-31T23:59:59.999999999Z",
    "abc",
    "",
    " ",
    "1e12",
    "-5",
    "2024-3-1",
    "2024-03-01T12:00:00 Z",
]


def _random_samples(n: int) -> list[str]:
    rng = random.Random(5)
    out = []
    for _ in range(n):
        kind = rng.randrange(4)
        if kind == 0:
            out.append(str(rng.randrange(10 ** rng.randrange(1, 20))))
        elif kind == 1:
            frac = "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 14)))
            out.append(f"{rng.randrange(10 ** rng.randrange(1, 18))}.{frac}")
        elif kind == 2:
            zone = rng.choice(["", "Z", "+02:00", "-0930", "+11", "+25:00"])
            frac = rng.choice(["", ".1", ".123456", ",123456789123"])
            # years inside the int64-ns range (1678..2261): beyond it the SQL gives NULL
            # where Python returns an integer no SQLite column can hold
            day = f"{rng.randrange(1678, 2262):04d}-{rng.randrange(1, 14):02d}"
            day += f"-{rng.randrange(1, 32):02d}"
            clock = f"{rng.randrange(25):02d}:{rng.randrange(61):02d}:{rng.randrange(61):02d}"
            out.append(f"{day}T{clock}{frac}{zone}")
        else:
            out.append(rng.choice(["now", "17092512OO", "2024/03/01", "12:00", "0x1F"]))
    return out


@pytest.fixture(scope="module")
def con():
    connection = connect_duckdb()
    install_macros(connection)
    yield connection
    connection.close()


def test_sql_instants_match_python_reference(con) -> None:
    samples = FIXED + _random_samples(3000)
    got = con.execute(
        "SELECT instant_ns(s) FROM unnest($samples) WITH ORDINALITY t(s, i) ORDER BY i",
        {"samples": samples},
    ).fetchall()
    mismatches = [
        (s, g[0], parse_instant_ns(s))
        for s, g in zip(samples, got, strict=True)
        if g[0] != parse_instant_ns(s)
    ]
    assert mismatches == []
    assert sum(parse_instant_ns(s) is not None for s in samples) > 1500  # the sample is mixed


def test_null_timestamp_is_null(con) -> None:
    assert con.execute("SELECT instant_ns(NULL::VARCHAR)").fetchone() == (None,)
