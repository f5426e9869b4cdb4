"""Fixtures for the coordinator tests: a generated recording and its reference run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.coordinator.harness import run_coord


@pytest.fixture(scope="session")
def synth_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 20k-snapshot, 3-instrument recording (read it via copies)."""
    out = tmp_path_factory.mktemp("synth") / "synth.db"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "orderflow.synth.cli",
            str(out),
            "--snapshots",
            "20000",
            "--instruments",
            "3",
            "--seed",
            "11",
            "--invalid-every",
            "997",
            "--quiet",
        ],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="session")
def synth_reference(synth_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The in-process (--workers 0) result on a copy of ``synth_db``."""
    ref = tmp_path_factory.mktemp("ref") / "ref.db"
    shutil.copy(synth_db, ref)
    done = run_coord("--workers", "0", "--quiet", ref)
    assert done.returncode == 0, done.stderr
    return ref


@pytest.fixture
def db(tmp_path: Path, synth_db: Path) -> Path:
    """A copy of ``synth_db`` to compute on."""
    path = tmp_path / "rec.db"
    shutil.copy(synth_db, path)
    return path


@pytest.fixture
def reaper() -> Iterator[list[int]]:
    """Pids to SIGKILL (with SIGCONT first) if a test leaves them behind."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break


@pytest.fixture
def procs() -> Iterator[list]:
    """Processes (Popen) to kill, stopped ones too, if a test leaves them running."""
    started: list = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
        proc.wait()
