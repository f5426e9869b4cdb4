"""Fuzz harness for the kernel's parsers (atheris; not part of the test suite).

Feeds arbitrary bytes to every parser the kernel has (numbers, sides, timestamps,
and rows read through the SQLite C API) and checks each accepted result against
the Python reference, so a crash, a sanitizer report or a disagreement all stop
the run with the input that caused it. Run it with one command:

    bash tests/native/fuzz.sh [seconds]

which builds the kernel with AddressSanitizer and UndefinedBehaviorSanitizer into
a scratch directory and runs this file under them (``pip install atheris`` first).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import math
import os
import sqlite3
import struct
import sys
import tempfile

import atheris

with atheris.instrument_imports():
    import msgspec
    import numpy as np

    from orderflow.core.calculator import InvalidSnapshot, snapshot_metrics
    from orderflow.core.heatmap import HeatmapAccumulator
    from orderflow.core.timestamps import parse_instant_ns
    from orderflow.store.schema import INPUT_DDL


def _load_kernel():  # type: ignore[no-untyped-def]
    """The sanitized build named by ORDERFLOW_FUZZ_KERNEL, else the installed one."""
    path = os.environ.get("ORDERFLOW_FUZZ_KERNEL")
    if not path:
        from orderflow.native import _kernel

        return _kernel
    loader = importlib.machinery.ExtensionFileLoader("orderflow.native._kernel", path)
    spec = importlib.util.spec_from_file_location("orderflow.native._kernel", path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


kernel = _load_kernel()
_LEVEL = msgspec.json.Decoder(list[tuple[float, float]], strict=False)
_SCRATCH = tempfile.mkdtemp(prefix="orderflow-fuzz-")
_DB = os.path.join(_SCRATCH, "fuzz.db")


# libFuzzer sees almost no coverage of C code built by gcc, so sides and timestamps
# are also built from tokens of their grammar (and near misses of it), which finds
# the interesting shapes far more often than raw bytes would.
_SIDE_TOKENS = [
    b"[",
    b"]",
    b"[",
    b"]",
    b",",
    b",",
    b'"',
    b" ",
    b"\n",
    b"0",
    b"1",
    b"7",
    b"9",
    b".",
    b"e",
    b"E",
    b"-",
    b"+",
    b"12345678901234567",
    b"9007199254740993",
    b"NaN",
    b"Infinity",
    b"\\u0031",
    b"null",
    b"{",
    b"}",
    b":",
    b"\x00",
    b"\xff",
    "\u0663".encode(),
    b"e22",
    b"e-23",
    b"00",
    b"1e400",
    b"\t",
    b"[1,2]",
    b'["1.5","2"]',
    b"[1,2,3,4]",
    b"[1,2,3,4,5]",
]
_TIME_TOKENS = [
    b"0",
    b"1",
    b"2",
    b"9",
    b"1709294400",
    b"123",
    b"-",
    b":",
    b".",
    b",",
    b"T",
    b" ",
    b"Z",
    b"z",
    b"+",
    b"2024-03-01",
    b"T12:00:00",
    b"+05:30",
    b"\x00",
    "\u0661".encode(),
    b"99",
]


def _tokens(fdp: atheris.FuzzedDataProvider, tokens: list[bytes], most: int) -> bytes:
    count = fdp.ConsumeIntInRange(0, most)
    return b"".join(tokens[fdp.ConsumeIntInRange(0, len(tokens) - 1)] for _ in range(count))


def _number(fdp: atheris.FuzzedDataProvider) -> bytes:
    """Mostly a plain number, sometimes a near miss built from tokens."""
    if fdp.ConsumeIntInRange(0, 100) == 0:
        return _tokens(fdp, _SIDE_TOKENS[7:20], 6)
    wide = fdp.ConsumeIntInRange(0, 30) == 0
    text = str(fdp.ConsumeIntInRange(0, 10 ** fdp.ConsumeIntInRange(0, 21 if wide else 8)))
    if fdp.ConsumeBool():
        text += "." + str(fdp.ConsumeIntInRange(0, 10 ** fdp.ConsumeIntInRange(0, 6)))
    if fdp.ConsumeIntInRange(0, 3) == 0:
        text += "e" + str(fdp.ConsumeIntInRange(-30, 30))
    return text.encode()


def _side(fdp: atheris.FuzzedDataProvider) -> bytes:
    """A side of levels of 1-5 elements, numbers as text or JSON numbers, now and
    then a stray token."""
    parts = [b"["]
    for i in range(fdp.ConsumeIntInRange(0, 12)):
        if i:
            parts.append(b",")
        elements = [
            b'"' + _number(fdp) + b'"' if fdp.ConsumeBool() else _number(fdp)
            for _ in range((2, 4, 2, 4, 2, 4, 3, 1, 5)[fdp.ConsumeIntInRange(0, 8)])
        ]
        parts.append(b"[" + b",".join(elements) + b"]")
        if fdp.ConsumeIntInRange(0, 200) == 0:
            parts.append(_tokens(fdp, _SIDE_TOKENS, 2))
    parts.append(b"]")
    return b"".join(parts)


def _bits(x: float | None) -> bytes | None:
    return None if x is None else struct.pack("<d", x)


def check_number(data: bytes) -> None:
    got = kernel.parse_number(data)
    if got is None:
        return
    assert _bits(got) == _bits(float(data.decode())), data
    ref = _LEVEL.decode(b'[["' + data + b'", "1"]]')[0][0]
    assert _bits(got) == _bits(ref), data


def check_sides(bids: bytes, asks: bytes, depth: int | None, levels: int) -> None:
    got = kernel.reduce_sides(bids, asks, depth, levels)
    if got is None:
        return
    try:
        ref = snapshot_metrics(bids, asks, depth)
    except InvalidSnapshot as exc:
        raise AssertionError(f"kernel accepted what the reference rejects: {exc}") from None
    assert (got["best_bid"], got["best_ask"], got["obi"]) == ref, (bids, asks, depth)
    for name in ("spread", "mid", "weighted_mid", "obi_l1", "obi_l5", "obi_l10"):
        value = got[name]
        assert value is None or math.isfinite(value), (name, value)


def check_instant(data: bytes) -> None:
    got = kernel.parse_instant(data)
    if got is None:
        return
    assert got == parse_instant_ns(data.decode()), data


def check_reader(fdp: atheris.FuzzedDataProvider) -> None:
    """A few rows of fuzzed cells (any SQLite type) through Reader.book/trades."""
    if os.path.exists(_DB):
        os.remove(_DB)
    conn = sqlite3.connect(_DB)
    conn.executescript(INPUT_DDL)

    def cell() -> object:
        kind = fdp.ConsumeIntInRange(0, 4)
        if kind == 0:
            return None
        if kind == 1:
            return fdp.ConsumeInt(8)
        if kind == 2:
            return fdp.ConsumeFloat()
        if kind == 3:
            return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 64))

    for _ in range(fdp.ConsumeIntInRange(0, 4)):
        conn.execute(
            "INSERT INTO book (instrument, bids, asks, timestamp) VALUES (?, ?, ?, ?)",
            (cell(), cell(), cell(), cell()),
        )
        conn.execute(
            "INSERT INTO trades (instrument, trade_id, price, size, side, timestamp)"
            " VALUES (?, 't', ?, ?, ?, ?)",
            (cell(), cell(), cell(), cell(), cell()),
        )
    conn.commit()
    conn.close()
    reader = kernel.Reader(_DB)
    lo, hi = fdp.ConsumeInt(8), fdp.ConsumeInt(8)
    ticks = np.array([fdp.ConsumeFloat() for _ in range(3)], "<f8")
    heat = kernel.Heatmap(ticks, fdp.ConsumeIntInRange(1, 2**63 - 1))
    reader.book(-(2**63), 2**63 - 1, min(lo, hi), max(lo, hi), None, 5, 2, True, 64, heat)
    reader.trades(-(2**63), 2**63 - 1, min(lo, hi), max(lo, hi), 3)
    reader.instruments()
    reader.close()
    heat.partials(np.array([2, 0, 1], "<i4"))


def check_heatmap(fdp: atheris.FuzzedDataProvider) -> None:
    """Fuzzed levels, instants and ticks through Heatmap.add_many: no crash, and when
    every value is an ordinary one, HeatmapAccumulator's partial cells."""
    names = ["b", "a", "c"]
    ticks = [fdp.ConsumeFloat() if fdp.ConsumeBool() else 0.1 for _ in names]
    bucket_ms = fdp.ConsumeIntInRange(1, 10**6)
    rows = []
    for _ in range(fdp.ConsumeIntInRange(0, 12)):
        code = fdp.ConsumeIntInRange(0, 3)  # 3: no name, never accumulated
        ns = fdp.ConsumeIntInRange(-(2**62), 2**62)
        sides = [
            [(fdp.ConsumeFloat(), fdp.ConsumeFloat()) for _ in range(fdp.ConsumeIntInRange(0, 6))]
            for _ in range(2)
        ]
        rows.append((code, ns, *sides))
    columns: list[np.ndarray] = [
        np.array([r[0] for r in rows], "<i4"),
        np.array([r[1] for r in rows], "<i8"),
    ]
    for side in (2, 3):
        columns.append(np.array([len(r[side]) for r in rows], "<i8"))
        columns.append(np.array([p for r in rows for p, _ in r[side]], "<f8"))
        columns.append(np.array([q for r in rows for _, q in r[side]], "<f8"))
    heat = kernel.Heatmap(np.array(ticks, "<f8"), bucket_ms * 1_000_000)
    try:
        heat.add_many(*columns)
    except ValueError:
        return  # a bin out of range: declined
    codes, *got = heat.partials(np.array([1, 0, 2], "<i4"))
    ordinary = all(
        math.isfinite(p) and math.isfinite(q) and q > 0 and abs(p) < 1e12
        for r in rows
        for side in r[2:]
        for p, q in side
    ) and all(math.isfinite(t) and (t <= 0 or t > 1e-6) for t in ticks)
    if not ordinary:
        return
    reference = HeatmapAccumulator(dict(zip(names, ticks, strict=True)), bucket_ms)
    for code, ns, bids, asks in rows:
        if code < 3:
            prices = ([p for p, _ in bids], [q for _, q in bids], [p for p, _ in asks])
            reference.add(names[code], ns, *prices, [q for _, q in asks])
    want = reference.partials()
    assert [names[c] for c in codes] == want.instruments, (codes, want.instruments)
    fields = ("row_instrument", "row_bucket", "row_side", "row_snapshots", "ends", "bins")
    for name, value in zip(fields, got, strict=False):
        assert value == getattr(want, name), name
    got_sums, want_sums = np.frombuffer(got[6], "<f8"), np.frombuffer(want.sums, "<f8")
    close = (got_sums == want_sums) | (np.abs(got_sums - want_sums) <= 1e-12 * np.abs(want_sums))
    assert np.all(close), (got_sums, want_sums)  # == for sums that overflowed to inf


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    target = fdp.ConsumeIntInRange(0, 21)
    if target <= 2:
        check_number(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40)))
    elif target <= 4:
        check_number(_tokens(fdp, _SIDE_TOKENS[7:20], 12))
    elif target <= 11:
        depth = fdp.ConsumeIntInRange(0, 12) or None
        levels = fdp.ConsumeIntInRange(1, kernel.MAX_OFI_LEVELS)
        if target <= 6:
            size = fdp.ConsumeIntInRange(0, 2000)
            check_sides(fdp.ConsumeBytes(size), fdp.ConsumeBytes(size), depth, levels)
        elif target <= 8:
            bids, asks = _tokens(fdp, _SIDE_TOKENS, 120), _tokens(fdp, _SIDE_TOKENS, 120)
            check_sides(bids, asks, depth, levels)
        else:
            check_sides(_side(fdp), _side(fdp), depth, levels)
    elif target <= 14:
        check_instant(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 48)))
    elif target <= 18:
        check_instant(_tokens(fdp, _TIME_TOKENS, 10))
    elif target == 19:
        check_reader(fdp)
    else:
        check_heatmap(fdp)


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
