"""Hand-made inputs for every problem the importer must count, report and survive."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest
from tests.importers.importer_data import write_lines

from orderflow.importers.cli import main, run_import
from orderflow.importers.okx import okx_checksum

_enc = msgspec.json.encode


def _diff(stream: str, E: int, U: int, u: int, bids=(), asks=(), pu: int | None = None) -> str:
    data = {"e": "depthUpdate", "E": E, "s": "BTCUSDT", "U": U, "u": u, "b": bids, "a": asks}
    if pu is not None:
        data["pu"] = pu
    return f"{E}000000 " + _enc({"stream": stream, "data": data}).decode()


def _rest(last: int, bids, asks) -> str:
    return "1 " + _enc({"lastUpdateId": last, "bids": bids, "asks": asks}).decode()


SPOT = "btcusdt@depth@100ms"
SPOT_LINES = [
    _diff(SPOT, 1000, 1, 5, [["100.0", "9"]]),  # 1: covered by the snapshot, dropped
    _diff(SPOT, 1100, 6, 10, [["98.0", "4"]]),  # 2: covers lastUpdateId + 1
    _rest(7, [["100.0", "1"], ["99.0", "2"]], [["101.0", "1"], ["102.0", "3"]]),  # 3
    _diff(SPOT, 1200, 11, 12, [["100.0", "1.5"]]),  # 4
    "1 "
    + _enc(
        {
            "stream": "btcusdt@trade",
            "data": {"e": "trade", "E": 1250, "t": 7, "p": "101.0", "q": "0.5", "T": 1250, "m": 0},
        }
    ).decode(),  # 5: a trade; "m" as 0 is not a bool, so this line is malformed
    _diff(SPOT, 1300, 20, 25, [["97.0", "1"]]),  # 6: U should be 13: a gap
    _diff(SPOT, 1400, 26, 27, [["96.0", "1"]]),  # 7: waits for a snapshot
    _rest(26, [["100.0", "5"]], [["101.0", "5"]]),  # 8: resync; line 7 applies
    _diff(SPOT, 1500, 28, 28, asks=[["101.0", "4"]]),  # 9
    '1 {"stream": "btcusdt@depth@100ms", "data": {"E": 16',  # 10: truncated
    _diff(SPOT, 1600, 29, 29, [["101.5", "1"]]),  # 11: bid above the ask: crossed
    _diff(SPOT, 1700, 30, 30, [["101.5", "0"]]),  # 12: uncrossed again
]


def _book(db: Path) -> list[tuple[str, list, list]]:
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT timestamp, bids, asks FROM book ORDER BY id").fetchall()
    return [(t, msgspec.json.decode(b), msgspec.json.decode(a)) for t, b, a in rows]


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_binance_spot_gap_recovery_crossed_and_malformed(tmp_path: Path, gz: bool) -> None:
    src = write_lines(tmp_path / ("spot.gz" if gz else "spot.txt"), SPOT_LINES, gz=gz)
    out = tmp_path / "out.db"
    report = run_import("binance", [src], out, interval_ms=0, depth=5)
    name = src.name
    assert report.lines["gaps"] == [f"{name}:6"]
    assert report.lines["crossed"] == [f"{name}:11"]
    assert report.lines["malformed"] == [f"{name}:5", f"{name}:10"]
    assert (report.gaps, report.crossed, report.malformed, report.checksum_failures) == (1, 1, 2, 0)
    rows = _book(out)
    # Nothing from the broken stretch (1300) nor from the crossed book (1600).
    assert [t for t, _b, _a in rows] == ["1100", "1200", "1400", "1500", "1700"]
    assert rows[0][1] == [
        ["100.0", "1", "0", "0"],
        ["99.0", "2", "0", "0"],
        ["98.0", "4", "0", "0"],
    ]
    assert rows[1][1][0] == ["100.0", "1.5", "0", "0"]
    # Rebuilt from the second snapshot only: 97.0 (the gap's diff) is gone.
    assert rows[2][1] == [["100.0", "5", "0", "0"], ["96.0", "1", "0", "0"]]
    assert rows[3][2] == [["101.0", "4", "0", "0"]]
    assert rows[4][1:] == rows[3][1:]


FUT = "btcusdt@depth@0ms"


def test_binance_futures_pu_gap_then_resync(tmp_path: Path) -> None:
    lines = [
        _diff(FUT, 1000, 5, 9, [["100.0", "1"]], pu=4),  # 1: covers lastUpdateId 8
        _rest(8, [["99.0", "1"]], [["101.0", "1"]]),  # 2
        _diff(FUT, 1100, 10, 12, [["99.5", "1"]], pu=9),  # 3
        _diff(FUT, 1200, 15, 16, [["99.6", "1"]], pu=14),  # 4: pu should be 12
        _diff(FUT, 1300, 17, 18, [["99.7", "1"]], pu=16),  # 5
        _rest(17, [["99.0", "2"]], [["101.0", "2"]]),  # 6: resync on line 5
        _diff(FUT, 1400, 19, 20, asks=[["100.5", "1"]], pu=18),  # 7
    ]
    out = tmp_path / "out.db"
    report = run_import("binance", [write_lines(tmp_path / "f.txt", lines)], out, interval_ms=0)
    assert report.lines["gaps"] == ["f.txt:4"] and report.crossed == 0
    rows = _book(out)
    assert [t for t, _b, _a in rows] == ["1000", "1100", "1300", "1400"]
    assert rows[2][1] == [["99.7", "1", "0", "0"], ["99.0", "2", "0", "0"]]


def _okx_line(action: str, ts: int, bids, asks, checksum: int) -> str:
    msg = {
        "arg": {"channel": "books", "instId": "BTC-USDT"},
        "action": action,
        "data": [{"asks": asks, "bids": bids, "ts": str(ts), "checksum": checksum}],
    }
    return f"{ts / 1000}: " + _enc(msg).decode()


def test_okx_checksum_failure_waits_for_the_next_snapshot(tmp_path: Path) -> None:
    bids0, asks0 = [["100", "2", "0", "1"]], [["101", "1", "0", "1"]]
    good_update = okx_checksum([("100", "3")], [("101", "1")])
    lines = [
        "wss://ws.okx.com:8443/ws/v5/public <-> 1000.0",
        _okx_line("snapshot", 1000, bids0, asks0, okx_checksum(bids0, asks0)),  # 2
        _okx_line("update", 1100, [["100", "3", "0", "2"]], [], good_update),  # 3
        _okx_line("update", 1200, [["99", "1", "0", "1"]], [], 12345),  # 4: wrong checksum
        _okx_line("update", 1300, [["98", "1", "0", "1"]], [], 0),  # 5: ignored, broken book
        "1300.5: {not json",  # 6
        _okx_line("snapshot", 1400, bids0, asks0, okx_checksum(bids0, asks0)),  # 7
    ]
    out = tmp_path / "okx.db"
    report = run_import("okx", [write_lines(tmp_path / "okx.txt", lines)], out, interval_ms=0)
    assert report.lines["checksum_failures"] == ["okx.txt:4"]
    assert report.lines["malformed"] == ["okx.txt:6"]
    assert report.checksum_failures == 1 and report.gaps == 0
    rows = _book(out)
    assert [t for t, _b, _a in rows] == ["1000", "1100", "1400"]
    assert rows[1][1] == [["100", "3", "0", "2"]]


def test_okx_crossed_book_is_counted_and_not_written(tmp_path: Path) -> None:
    bids0, asks0 = [["100", "2", "0", "1"]], [["101", "1", "0", "1"]]
    crossed_bids = [("102", "1"), ("100", "2")]
    lines = [
        _okx_line("snapshot", 1000, bids0, asks0, okx_checksum(bids0, asks0)),
        _okx_line("update", 1100, [["102", "1", "0", "1"]], [], okx_checksum(crossed_bids, asks0)),
    ]
    out = tmp_path / "okx.db"
    report = run_import("okx", [write_lines(tmp_path / "o.txt", lines)], out, interval_ms=0)
    assert report.lines["crossed"] == ["o.txt:2"] and report.checksum_failures == 0
    assert [t for t, _b, _a in _book(out)] == ["1000"]


def test_cli_unknown_format_is_one_line_and_status_2(tmp_path, capsys) -> None:
    src = write_lines(tmp_path / "x.txt", ["1 {}"])
    assert main(["kraken", str(src), "--out", str(tmp_path / "o.db")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown format 'kraken'" in err and "Traceback" not in err


def test_cli_missing_input_is_one_line_and_status_2(tmp_path, capsys) -> None:
    assert main(["binance", str(tmp_path / "nope.gz"), "--out", str(tmp_path / "o.db")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.gz" in err and "Traceback" not in err
    assert not (tmp_path / "o.db").exists()


def test_cli_bad_arguments_are_one_line(tmp_path, capsys) -> None:
    assert main(["binance", str(tmp_path)]) == 2  # no --out
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err


def test_cli_lobster_without_its_orderbook_file(tmp_path, capsys) -> None:
    msg = tmp_path / "XYZ_2012-06-21_34200000_57600000_message_1.csv"
    msg.write_text("34200.1,1,1,100,1000000,1\n")
    assert main(["lobster", str(msg), "--out", str(tmp_path / "o.db")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "orderbook" in err and "Traceback" not in err
    assert not (tmp_path / "o.db").exists()


def test_cli_summary_and_progress(tmp_path, capsys) -> None:
    src = write_lines(tmp_path / "spot.txt", SPOT_LINES)
    assert main(["binance", str(src), "--out", str(tmp_path / "o.db"), "--interval-ms", "0"]) == 0
    out = capsys.readouterr().out
    for label in ("messages", "snapshots", "trades", "gaps", "checksum failures", "time span"):
        assert label in out
    assert "gaps at: spot.txt:6" in out


def test_progress_is_reported_while_importing(tmp_path: Path) -> None:
    from orderflow.importers.binance import UNIT_NS, iter_binance
    from orderflow.importers.report import ImportReport
    from orderflow.importers.sink import write_events
    from orderflow.store.input_writer import InputWriter

    src = write_lines(tmp_path / "spot.txt", SPOT_LINES)
    report, seen = ImportReport(), []
    with InputWriter(tmp_path / "o.db") as writer:
        write_events(
            iter_binance([src], report),
            writer,
            report,
            interval=0,
            depth=5,
            unit_ns=UNIT_NS,
            progress=lambda r: seen.append(r.messages),
            progress_every_s=0.0,
        )
    assert seen and seen[0] >= 1
