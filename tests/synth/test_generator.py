import json
import sqlite3
from pathlib import Path

import numpy as np
from tests.recordings import input_tables_digest

from orderflow.pipeline.storage import Storage
from orderflow.synth.generator import SynthConfig, generate


def test_same_seed_same_file_other_seed_other_file(tmp_path: Path) -> None:
    cfg = SynthConfig(snapshots=600, instruments=3, seed=11)
    generate(tmp_path / "a.db", cfg)
    generate(tmp_path / "b.db", cfg)
    generate(tmp_path / "c.db", SynthConfig(snapshots=600, instruments=3, seed=12))
    assert input_tables_digest(tmp_path / "a.db") == input_tables_digest(tmp_path / "b.db")
    assert input_tables_digest(tmp_path / "a.db") != input_tables_digest(tmp_path / "c.db")


def test_okx_style_levels_instruments_and_time_order(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    snapshots, trades = generate(path, SynthConfig(snapshots=900, instruments=3, levels=30))
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT instrument, bids, asks, timestamp FROM book ORDER BY id").fetchall()
    assert snapshots == len(rows) == 900 and trades > 0
    assert {r[0] for r in rows} == {"BTC-USDT", "ETH-USDT", "SOL-USDT"}
    for instrument, bids, asks, _ in rows[:30]:
        b, a = json.loads(bids), json.loads(asks)
        assert len(b) == len(a) == 30
        assert all(isinstance(x, str) and len(level) == 4 for level in b for x in level)
        assert float(b[0][0]) < float(a[0][0]), instrument  # never crossed
    stamps = [int(r[3]) for r in rows]
    assert stamps == sorted(stamps)


def test_trades_lean_with_the_imbalance(tmp_path: Path) -> None:
    path = tmp_path / "lean.db"
    generate(path, SynthConfig(snapshots=4000, instruments=1, trades_per_step=3.0, seed=5))
    Storage(path, quiet=True).build_booktick_from_db()
    conn = sqlite3.connect(path)
    obi = np.array([r[0] for r in conn.execute("SELECT obi FROM metrics ORDER BY ts_ns")])
    cvd = np.array([r[0] for r in conn.execute("SELECT cvd FROM metrics ORDER BY ts_ns")])
    flow = np.diff(cvd)  # net signed volume arriving before the next snapshot
    corr = np.corrcoef(obi[:-1], flow)[0, 1]
    assert corr > 0.1, corr
    heavy_bids, heavy_asks = flow[obi[:-1] > 0.3], flow[obi[:-1] < -0.3]
    assert len(heavy_bids) > 100 and len(heavy_asks) > 100
    assert heavy_bids.mean() > 0 > heavy_asks.mean()  # buyers lift when bids are heavy


def test_invalid_every_produces_rejects(tmp_path: Path) -> None:
    path = tmp_path / "bad.db"
    generate(path, SynthConfig(snapshots=500, instruments=1, invalid_every=100))
    summary = Storage(path, quiet=True).build_booktick_from_db()
    assert summary.rejects == 5 and summary.snapshots == 495


def _id_order_inversions(path: Path, table: str) -> tuple[int, int]:
    """(pairs of consecutive ids whose timestamps go backwards, largest step back in ms)."""
    conn = sqlite3.connect(path)
    stamps = np.array(
        [int(r[0]) for r in conn.execute(f"SELECT timestamp FROM {table} ORDER BY id")]
    )
    steps = np.diff(stamps)
    return int((steps < 0).sum()), int(-steps.min()) if len(steps) else 0


def test_jitter_makes_ids_only_nearly_time_ordered(tmp_path: Path) -> None:
    plain, jittered = tmp_path / "plain.db", tmp_path / "jit.db"
    generate(plain, SynthConfig(snapshots=3000, instruments=2, trades_per_step=2.0))
    generate(
        jittered, SynthConfig(snapshots=3000, instruments=2, trades_per_step=2.0, jitter_ms=250)
    )
    for table in ("book", "trades"):
        assert _id_order_inversions(plain, table)[0] == 0
        inversions, worst = _id_order_inversions(jittered, table)
        assert inversions > 100, table
        assert 0 < worst <= 250, table
    same = sqlite3.connect(plain)
    other = sqlite3.connect(jittered)
    query = "SELECT instrument, timestamp FROM book ORDER BY timestamp, instrument"
    assert same.execute(query).fetchall() == other.execute(query).fetchall()


def test_jitter_can_spare_one_table(tmp_path: Path) -> None:
    path = tmp_path / "trades-only.db"
    generate(path, SynthConfig(snapshots=2000, jitter_ms=300, jitter_book=False))
    assert _id_order_inversions(path, "book")[0] == 0
    assert _id_order_inversions(path, "trades")[0] > 0


def test_integer_timestamps_are_integers_in_integer_columns(tmp_path: Path) -> None:
    path = tmp_path / "int.db"
    generate(path, SynthConfig(snapshots=500, integer_timestamps=True))
    conn = sqlite3.connect(path)
    for table in ("book", "trades"):
        declared = {r[1]: r[2] for r in conn.execute(f"PRAGMA table_info({table})")}
        assert declared["timestamp"] == "INTEGER"
        assert conn.execute(f"SELECT DISTINCT typeof(timestamp) FROM {table}").fetchall() == [
            ("integer",)
        ]
    text = tmp_path / "text.db"
    generate(text, SynthConfig(snapshots=500))
    query = "SELECT CAST(timestamp AS INTEGER), bids FROM book ORDER BY id"
    assert conn.execute(query).fetchall() == sqlite3.connect(text).execute(query).fetchall()


def test_cli_jitter_and_integer_timestamps(tmp_path: Path) -> None:
    from orderflow.synth.cli import main

    path = tmp_path / "cli.db"
    argv = [str(path), "--snapshots", "2000", "--quiet", "--integer-timestamps"]
    assert main([*argv, "--jitter-ms", "200", "--jitter-tables", "book"]) == 0
    assert _id_order_inversions(path, "book")[0] > 0
    assert _id_order_inversions(path, "trades")[0] == 0
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT DISTINCT typeof(timestamp) FROM book").fetchall() == [("integer",)]
    assert main([*argv, "--jitter-ms", "-1"]) == 2
