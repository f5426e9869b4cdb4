"""``orderflow-backtest`` as a user runs it, on a generated recording after orderflow-coord."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tests.recordings import input_tables_digest

from orderflow.backtest.engine import CostModel, simulate
from orderflow.strategies.batch import load_metric_batches
from orderflow.strategies.builtin import ObiThreshold
from orderflow.synth.generator import SynthConfig, generate

MODULE = "orderflow.backtest.cli"


def cli(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bt") / "rec.db"
    generate(path, SynthConfig(snapshots=3000, instruments=2, seed=9))
    done = cli("orderflow_services.coordinator.cli", "--workers", "0", "--quiet", str(path))
    assert done.returncode == 0, done.stderr
    return path


def _expected(path: Path, instrument: str, theta: float, fee_bps: float):
    """PnL and fees recomputed here from the metrics table with a literal loop."""
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT obi, best_bid, best_ask FROM metrics WHERE instrument = ?"
        " ORDER BY ts_ns, snapshot_id",
        (instrument,),
    ).fetchall()
    conn.close()
    position = cash = fees = 0.0
    pending = None  # (index, qty); latency 0 and full books: fills at the next row
    target = trades = 0
    for obi, bid, ask in rows:
        if pending is not None:
            qty = pending
            price = ask if qty > 0 else bid
            fee = fee_bps / 1e4 * abs(qty) * price
            position, cash, fees, trades = (
                position + qty,
                cash - qty * price - fee,
                fees + fee,
                trades + 1,
            )
            pending = None
        if obi is not None:
            target = 1 if obi > theta else (-1 if obi < -theta else 0)
        if target != position:
            pending = target - position
    bid, ask = rows[-1][1], rows[-1][2]
    return cash + position * (bid + ask) / 2, fees, trades, position


def test_json_results_match_an_independent_computation(processed, tmp_path):
    before = input_tables_digest(processed)
    out = tmp_path / "r.json"
    done = cli(
        MODULE, "--param", "theta=0.25", "--fee-bps", "1.5", "--json", str(out), str(processed)
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    (run,) = report["runs"]
    assert set(run["instruments"]) == {"BTC-USDT", "ETH-USDT"}
    for name, stats in run["instruments"].items():
        pnl, fees, trades, position = _expected(processed, name, 0.25, 1.5)
        assert stats["pnl"] == pytest.approx(pnl, rel=1e-9, abs=1e-9)
        assert stats["fees"] == pytest.approx(fees)
        assert stats["n_trades"] == trades
        assert stats["final_position"] == position
        assert name in done.stdout
    assert "alerts:" in done.stdout
    assert input_tables_digest(processed) == before
    conn = sqlite3.connect(processed)
    run_ids = [r[0] for r in conn.execute("SELECT run_id FROM backtest_runs")]
    equity_rows = conn.execute(
        "SELECT count(*) FROM backtest_equity WHERE run_id = ?", (run["run_id"],)
    ).fetchone()[0]
    alerts = conn.execute("SELECT count(*) FROM alerts").fetchone()[0]
    conn.close()
    assert run["run_id"] in run_ids and equity_rows > 0 and alerts == run["alerts"]


def test_grid_runs_every_point_like_single_runs(processed, tmp_path):
    out = tmp_path / "g.json"
    done = cli(
        MODULE,
        "--grid",
        "theta=0.1,0.4",
        "--grid",
        "fee_bps_unused=1",
        "--json",
        str(out),
        str(processed),
    )
    assert done.returncode == 2 and "unknown parameter" in done.stderr  # typo is reported
    done = cli(
        MODULE,
        "--grid",
        "theta=0.1,0.4,0.7",
        "--jobs",
        "2",
        "--fee-bps",
        "1",
        "--json",
        str(out),
        str(processed),
    )
    assert done.returncode == 0, done.stderr
    runs = json.loads(out.read_text())["runs"]
    assert [r["params"]["theta"] for r in runs] == [0.1, 0.4, 0.7]
    for r in runs:
        for name, stats in r["instruments"].items():
            pnl, fees, trades, _ = _expected(processed, name, r["params"]["theta"], 1.0)
            assert stats["fees"] == pytest.approx(fees)
            assert stats["pnl"] == pytest.approx(pnl, rel=1e-9, abs=1e-9)
            assert stats["n_trades"] == trades


def test_user_strategy_from_module_path(processed, tmp_path):
    (tmp_path / "my_strats.py").write_text(
        "import numpy as np\n"
        "from orderflow.strategies import Strategy\n"
        "class AlwaysLong(Strategy):\n"
        "    params = {'size': 1.0}\n"
        "    def on_metrics(self, batch):\n"
        "        return np.full(len(batch), self.size)\n"
    )
    out = tmp_path / "u.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            MODULE,
            "--strategy",
            "my_strats:AlwaysLong",
            "--param",
            "size=0.5",
            "--no-store",
            "--json",
            str(out),
            str(processed),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": ""},
    )
    assert done.returncode == 0, done.stderr
    for stats in json.loads(out.read_text())["runs"][0]["instruments"].values():
        assert stats["n_trades"] == 1 and stats["final_position"] == 0.5


def test_bad_strategy_and_missing_metrics_are_one_line_errors(processed, tmp_path):
    for args, words in [
        (["--strategy", "nowhere.mod:Thing"], "cannot import strategy module"),
        (["--strategy", "obi-thresh"], "unknown strategy"),
    ]:
        done = cli(MODULE, *args, str(processed))
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and words in done.stderr
    raw = tmp_path / "raw.db"
    generate(raw, SynthConfig(snapshots=20, instruments=1))
    done = cli(MODULE, str(raw))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "run `orderflow-coord" in done.stderr


def test_latency_flag_delays_fills(processed, tmp_path):
    out = tmp_path / "l.json"
    done = cli(MODULE, "--latency-ms", "250", "--no-store", "--json", str(out), str(processed))
    assert done.returncode == 0, done.stderr
    stats = json.loads(out.read_text())["runs"][0]["instruments"]["BTC-USDT"]
    b = load_metric_batches(processed, ["BTC-USDT"])["BTC-USDT"]
    sim = simulate(b, ObiThreshold(theta=0.3).on_metrics(b), CostModel(0.0, 250.0, 1.0))
    ok = sim.filled
    assert np.all(b.ts_ns[sim.fill_index[ok]] - b.ts_ns[sim.order_index[ok]] >= 250_000_000)
    assert stats["n_trades"] == int(ok.sum())
