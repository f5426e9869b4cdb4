"""The worker process on its own: reconnecting to a late coordinator, giving up."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.coordinator.harness import make_tie_recording, run_coord, start_coord, start_worker
from tests.coordinator.metrics_equality import assert_metrics_equal


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_worker_gives_up_on_a_silent_endpoint(tmp_path: Path) -> None:
    started = time.monotonic()
    log = tmp_path / "w.log"
    worker = start_worker(
        log, "--connect", f"tcp://127.0.0.1:{_free_port()}", "--give-up-after", "1"
    )
    assert worker.wait(timeout=20) == 1
    assert time.monotonic() - started < 10
    assert "giving up" in log.read_text()


def test_worker_started_first_reconnects_and_serves_a_late_coordinator(tmp_path: Path) -> None:
    db = tmp_path / "ties.db"
    make_tie_recording(db, shuffle_ids=False)
    ref = tmp_path / "ref.db"
    shutil.copy(db, ref)
    endpoint = f"tcp://127.0.0.1:{_free_port()}"
    worker_log = tmp_path / "w.log"
    worker = start_worker(worker_log, "--connect", endpoint)
    coord = None
    try:
        deadline = time.monotonic() + 20
        while "waiting for the coordinator" not in worker_log.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.5)  # it keeps waiting, with nothing listening yet
        coord = start_coord(tmp_path / "c.log", "--workers", 0, "--bind", endpoint, db)
        assert coord.wait(timeout=60) == 0, (tmp_path / "c.log").read_text()
        assert worker.wait(timeout=10) == 0
    finally:
        for proc in (worker, coord):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    done = run_coord("--workers", 0, "--quiet", ref)
    assert done.returncode == 0, done.stderr
    assert_metrics_equal(ref, db)


def test_local_worker_whose_coordinator_died_before_it_started_exits(tmp_path: Path) -> None:
    """A coordinator killed while its worker is still starting up: the worker must not
    mistake its new parent (init) for the coordinator and wait for it forever."""
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(gone.stdout)
    log = tmp_path / "w.log"
    started = time.monotonic()
    worker = start_worker(
        log,
        "--connect",
        f"tcp://127.0.0.1:{_free_port()}",
        "--exit-with-parent",
        dead_pid,
        "--log-level",
        "INFO",
    )
    assert worker.wait(timeout=20) == 0
    assert time.monotonic() - started < 10
    assert "coordinator process is gone" in log.read_text()
