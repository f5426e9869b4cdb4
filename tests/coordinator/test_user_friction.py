"""The small things a user runs into around a run: importers, synth, help, the README example."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.recordings import REPO_ROOT, write_recording


def _cli(module: str, *args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def test_an_import_that_reads_no_valid_message_fails_and_leaves_no_database(
    tmp_path: Path,
) -> None:
    csv = tmp_path / "trades.csv"
    csv.write_text("time,price,qty\n" + "".join(f"{i},100.5,1\n" for i in range(10)))
    out = tmp_path / "out.db"
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "orderflow-import"),
            "binance",
            str(csv),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no valid binance message" in done.stderr and "11 malformed lines" in done.stderr
    assert not out.exists()


def test_synth_on_a_directory_is_one_line(tmp_path: Path) -> None:
    done = _cli("orderflow.synth.cli", tmp_path, "--snapshots", 10, "--quiet")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"orderflow-synth: {tmp_path} is a directory; give a file to write,"
        f" e.g. {tmp_path / 'synth.db'}"
    )


def test_help_mentions_keygen_and_import_defaults() -> None:
    coord = _cli("orderflow_services.coordinator.cli", "--help")
    assert "orderflow-coord keygen DIR" in coord.stdout
    imports = subprocess.run(
        [str(Path(sys.executable).parent / "orderflow-import"), "--help"],
        capture_output=True,
        text=True,
    )
    assert "default: 100" in imports.stdout and "default: 25" in imports.stdout


def test_the_readme_python_example_trades_and_writes_under_demo(tmp_path: Path) -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    block = readme.split("## Python API", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "demo").mkdir()
    db = tmp_path / "demo" / "demo.db"
    assert _cli("orderflow.synth.cli", db, "--snapshots", 4000, "--quiet").returncode == 0
    assert _cli("orderflow_services.coordinator.cli", "--workers", 0, "--quiet", db).returncode == 0
    done = subprocess.run(
        [sys.executable, "-c", block], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    changes = int(re.search(r"(\d+) position changes", done.stdout)[1])  # type: ignore[index]
    assert changes > 0  # the strategy trades
    assert (tmp_path / "demo" / "btc.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # nothing in the cwd itself


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--depth", "0"),
        ("--depth", "-3"),
        ("--depth", "100000000000000000000"),
        ("--workers", "-1"),
        ("--batch-size", "-1"),
        ("--shard-rows", "-5"),
        ("--shards", "0"),
        ("--shards", "1.5"),
    ],
)
def test_a_count_out_of_range_is_refused_before_the_file_is_touched(
    tmp_path: Path, flag: str, value: str
) -> None:
    """Before, --depth 0 or -3 ran in-process and failed every shard on workers (2^64
    failed to encode), and --workers -1, --shards 0 or --batch-size -1 ran as if not
    given."""
    path = write_recording(
        tmp_path / "f.db",
        books=[("X", [[100.0, 1.0]], [[101.0, 2.0]], "1700000000000")],
        trades=[("X", 100.5, 1.0, "buy", "1700000000000")],
    )
    before = path.read_bytes()
    done = _cli("orderflow_services.coordinator.cli", "--quiet", f"{flag}={value}", path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"orderflow-coord: error: argument {flag}: "
        + (
            f"{value!r} is not a whole number"
            if "." in value
            else f"{value} is not within {0 if flag == '--workers' else 1}..2147483647"
        )
    )
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.db"]


def test_a_profile_with_more_levels_than_any_book_is_refused(tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text("name: p\npaths: []\nobi_depth: 100000000000000000000\n")
    done = _cli("orderflow_services.coordinator.cli", "--profile", profile)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "obi_depth" in done.stderr and "2147483647" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
