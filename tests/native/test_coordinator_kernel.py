"""Whole runs: ``orderflow-coord`` with workers on the kernel equals ``--workers 0`` (the
Python reference) on generated recordings, and says which path its workers use."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from orderflow import native
from tests.coordinator.harness import COORD, run_coord
from tests.coordinator.metrics_equality import assert_metrics_equal

pytestmark = pytest.mark.skipif(native.KERNEL is None, reason=str(native.UNAVAILABLE_REASON))


@pytest.fixture(
    scope="module",
    params=[(), ("--jitter-ms", "80", "--jitter-tables", "both"), ("--integer-timestamps",)],
    ids=["ordered", "jittered", "integer-timestamps"],
)
def generated(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    path = tmp_path_factory.mktemp("gen") / "gen.db"
    done = subprocess.run(
        [COORD[0], "-m", "orderflow.synth.cli", "--snapshots", "6000", "--instruments", "3",
         "--invalid-every", "97", "--quiet", *request.param, str(path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return path


def _copy(source: Path, target: Path) -> Path:
    shutil.copy(source, target)
    return target


@pytest.mark.parametrize(("workers", "shards"), [(1, 1), (2, 9), (3, 61)])
def test_kernel_run_equals_the_reference(
    tmp_path: Path, generated: Path, workers: int, shards: int
) -> None:
    ref = _copy(generated, tmp_path / "ref.db")
    assert run_coord("--workers", 0, "--quiet", ref, timeout=120).returncode == 0
    got = _copy(generated, tmp_path / "got.db")
    done = run_coord(
        "--workers", workers, "--shards", shards, "--log-level", "INFO", got, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "shards are computed by the native kernel" in done.stderr
    assert_metrics_equal(ref, got)


def test_coordinator_says_when_the_kernel_is_off(tmp_path: Path) -> None:
    got = tmp_path / "off.db"
    made = subprocess.run(
        [COORD[0], "-m", "orderflow.synth.cli", "--snapshots", "500", "--quiet", str(got)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    done = subprocess.run(
        [*COORD, "--workers", "1", str(got)],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "ORDERFLOW_NATIVE": "0"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [x for x in done.stdout.splitlines() if "native kernel" in x]
    assert lines == [
        "native kernel unavailable (turned off by ORDERFLOW_NATIVE=0); using the Python path"
    ]


def _tables(path: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return {
            "metrics": conn.execute("SELECT * FROM metrics ORDER BY id").fetchall(),
            "heatmap": conn.execute(
                "SELECT *, typeof(first_bin), typeof(offsets), typeof(sums) FROM metrics_heatmap"
                " ORDER BY instrument, side, bucket"
            ).fetchall(),
        }


def test_the_c_writer_leaves_the_rows_python_would(tmp_path: Path, generated: Path) -> None:
    """The in-process path writes its heatmap rows through the column writer: with it
    turned off (ORDERFLOW_NATIVE=0, Python executemany) the tables are the same, row
    for row (generated books give dense rows; test_column_writer compares NULLs,
    empty blobs and row orders)."""
    c_db = _copy(generated, tmp_path / "c.db")
    assert run_coord("--workers", 0, "--quiet", c_db, timeout=120).returncode == 0
    py_db = _copy(generated, tmp_path / "py.db")
    done = subprocess.run(
        [*COORD, "--workers", "0", "--quiet", str(py_db)],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "ORDERFLOW_NATIVE": "0"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    c_tables, py_tables = _tables(c_db), _tables(py_db)
    assert len(c_tables["heatmap"]) > 100
    assert c_tables == py_tables


def test_more_ofi_levels_than_the_kernel_keeps_go_to_the_reference(
    tmp_path: Path, generated: Path
) -> None:
    """metrics.md sets no bound on the profile's ``ofi_levels``; the kernel keeps 32
    levels a side, so a deeper MLOFI is the Python path's (before: 'ofi_levels must be
    within 1..32', three times per shard, and the run failed)."""
    m = native.KERNEL.MAX_OFI_LEVELS + 1
    runs = {}
    for workers in (0, 2):
        db = _copy(generated, tmp_path / f"w{workers}.db")
        profile = tmp_path / f"w{workers}.yaml"
        profile.write_text(f"paths: [{db.name}]\nofi_levels: {m}\n")
        done = run_coord("--profile", profile, "--workers", workers, "--shards", 5, "--quiet")
        assert done.returncode == 0, done.stderr
        runs[workers] = db
    assert_metrics_equal(runs[0], runs[2])
