"""The sharded coordinator equals the in-process path for any workers and shards.

Real coordinator and worker processes over ipc sockets; equality is metrics.md's
(same ids, identical best bid/ask, obi within 1e-12, cvd within 1e-9 x max(1, V)),
and CVD is also checked against a brute-force sum computed here.
"""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
from pathlib import Path

import pytest

from orderflow.core.timestamps import parse_instant_ns
from tests.coordinator.harness import make_tie_recording, run_coord
from tests.coordinator.metrics_equality import assert_metrics_equal, read_metrics


def _reference(tmp_path: Path, source: Path) -> Path:
    ref = tmp_path / "ref.db"
    shutil.copy(source, ref)
    done = run_coord("--workers", "0", "--quiet", ref)
    assert done.returncode == 0, done.stderr
    return ref


def _sharded(tmp_path: Path, source: Path, workers: int, *flags: object) -> Path:
    out = tmp_path / f"w{workers}.db"
    shutil.copy(source, out)
    done = run_coord("--workers", workers, "--quiet", *flags, out)
    assert done.returncode == 0, done.stderr
    return out


def _shard_count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM metrics_shards").fetchone()[0]


def _brute_force_cvd(path: Path) -> dict[int, float]:
    """metrics.md's CVD, straight from the definition: O(snapshots x trades)."""
    with sqlite3.connect(path) as conn:
        trades = conn.execute("SELECT instrument, size, side, timestamp FROM trades").fetchall()
        books = conn.execute("SELECT id, instrument, timestamp FROM book").fetchall()
    signed = []
    for instrument, size, side, ts in trades:
        ns = parse_instant_ns(ts)
        side = str(side).lower()
        if ns is None or side not in ("buy", "sell") or not math.isfinite(float(size)):
            continue
        signed.append((instrument, ns, float(size) if side == "buy" else -float(size)))
    out = {}
    for sid, instrument, ts in books:
        ns = parse_instant_ns(ts)
        if ns is not None:
            out[sid] = sum(v for name, t, v in signed if name == instrument and t <= ns)
    return out


@pytest.fixture(scope="module", params=[False, True], ids=["ordered-ids", "shuffled-ids"])
def tie_file(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ties") / "ties.db"
    make_tie_recording(path, shuffle_ids=request.param)
    return path


@pytest.mark.parametrize(
    ("workers", "flags"),
    [
        (1, ("--shards", 1)),
        (2, ("--shards", 7)),
        (4, ("--shard-rows", 1)),  # every distinct instant is a shard edge
        (2, ("--shard-rows", 3)),
    ],
    ids=["w1-1shard", "w2-7shards", "w4-every-instant", "w2-rows3"],
)
def test_tie_file_matches_in_process(
    tmp_path: Path, tie_file: Path, workers: int, flags: tuple
) -> None:
    ref = _reference(tmp_path, tie_file)
    got = _sharded(tmp_path, tie_file, workers, *flags)
    assert_metrics_equal(ref, got)
    expected = _brute_force_cvd(tie_file)
    for sid, row in read_metrics(got).items():
        assert abs(row[3] - expected[sid]) <= 1e-9 * max(1.0, abs(expected[sid])), sid
    if flags == ("--shard-rows", 1):
        assert _shard_count(got) > 300


def test_tie_file_rejects_are_recorded(tmp_path: Path) -> None:
    src = tmp_path / "src.db"
    make_tie_recording(src, shuffle_ids=False)
    got = _sharded(tmp_path, src, 2, "--shards", 5)
    with sqlite3.connect(got) as conn:
        reasons = conn.execute("SELECT source_table, reason FROM metrics_rejects").fetchall()
        runs = conn.execute("SELECT status, rejects FROM metrics_runs").fetchall()
    tables = {t for t, _ in reasons}
    assert tables == {"book", "trades"}
    assert any("parsed" in r for _, r in reasons)
    assert any("hold" in r for _, r in reasons)
    assert runs == [("finished", len(reasons))]


@pytest.mark.parametrize(
    ("workers", "flags"),
    [(1, ()), (2, ("--shard-rows", 150)), (4, ("--shards", 9))],
    ids=["w1-default", "w2-134shards", "w4-9shards"],
)
def test_generated_file_matches_in_process(
    tmp_path: Path, synth_db: Path, synth_reference: Path, workers: int, flags: tuple
) -> None:
    got = _sharded(tmp_path, synth_db, workers, *flags)
    assert_metrics_equal(synth_reference, got)
    with sqlite3.connect(got) as conn:
        committed = conn.execute(
            "SELECT count(*) FROM metrics_shards WHERE committed_at IS NOT NULL"
        ).fetchone()[0]
    assert committed == _shard_count(got) > 1


def test_depth_and_instrument_filter_match_in_process(tmp_path: Path, synth_db: Path) -> None:
    flags = ("--depth", 3, "--instrument", "BTC-USDT", "--instrument", "SOL-USDT")
    ref = tmp_path / "ref.db"
    shutil.copy(synth_db, ref)
    assert run_coord("--workers", 0, "--quiet", *flags, ref).returncode == 0
    got = _sharded(tmp_path, synth_db, 2, "--shards", 13, *flags)
    assert_metrics_equal(ref, got)
    assert {row[4] for row in read_metrics(got).values()} == {"BTC-USDT", "SOL-USDT"}


def test_a_directory_of_recordings_shares_the_workers(tmp_path: Path) -> None:
    folder = tmp_path / "day"
    folder.mkdir()
    make_tie_recording(folder / "a.db", shuffle_ids=False, seed=1)
    make_tie_recording(folder / "b.db", shuffle_ids=True, seed=2)
    (folder / "notes.txt").write_text("not a recording")
    refs = {}
    for name in ("a.db", "b.db"):
        (tmp_path / name).mkdir()
        refs[name] = _reference(tmp_path / name, folder / name)
    done = run_coord("--workers", 2, "--shards", 4, "--log-level", "INFO", folder)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("joined") == 2  # started once, used for both files
    for name, ref in refs.items():
        assert_metrics_equal(ref, folder / name)


def test_tie_file_heatmap_is_the_definition(tmp_path: Path) -> None:
    """Stored heatmap cells against metrics.md computed here from the book rows: decimal
    floor(price / tick), valid snapshots only, every instant's epoch-aligned bucket."""
    from decimal import Decimal

    from tests.coordinator.metrics_equality import read_heatmap

    src = tmp_path / "src.db"
    make_tie_recording(src, shuffle_ids=True)
    got = _sharded(tmp_path, src, 2, "--shard-rows", 1)
    with sqlite3.connect(got) as conn:
        valid = {sid for (sid,) in conn.execute("SELECT snapshot_id FROM metrics")}
        ticks = dict(conn.execute("SELECT instrument, tick FROM metrics_heatmap_grid"))
        book = conn.execute("SELECT id, instrument, bids, asks, timestamp FROM book").fetchall()
    expected: dict = {}
    for sid, name, bids, asks, ts in book:
        if sid not in valid:
            continue
        bucket = parse_instant_ns(ts) // 1_000_000_000
        for side, raw in enumerate((bids, asks)):
            snaps, cells = expected.setdefault((name, side, bucket), [0, {}])
            expected[(name, side, bucket)][0] = snaps + 1
            for level in json.loads(raw):
                if float(level[1]) > 0:
                    j = int((Decimal(str(level[0])) / Decimal(str(ticks[name]))) // 1)
                    cells[j] = cells.get(j, 0.0) + float(level[1])
    stored = read_heatmap(got)
    assert stored.keys() == expected.keys()
    for key, (snaps, cells) in expected.items():
        assert stored[key][0] == snaps, key
        assert stored[key][1].keys() == {j for j, v in cells.items() if v}, key
        for j, v in stored[key][1].items():
            assert abs(v - cells[j]) <= 1e-6 * abs(cells[j]), (key, j)
