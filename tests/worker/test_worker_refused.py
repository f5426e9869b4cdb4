"""A worker the coordinator does not accept says so and exits, whatever the reason.

Real processes: a CURVE coordinator refusing a key-less and an unauthorised
worker, and a plain TCP listener that never answers ZeroMQ's handshake.
"""

from __future__ import annotations

import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.coordinator.harness import (
    make_tie_recording,
    run_coord,
    start_coord,
    start_worker,
    wait_for,
)


@pytest.fixture
def procs() -> Iterator[list]:
    started: list = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """A TCP port that accepts connections and never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield f"tcp://127.0.0.1:{s.getsockname()[1]}"


def test_workers_without_an_authorised_key_are_told_and_exit(tmp_path: Path, procs: list) -> None:
    db = tmp_path / "ties.db"
    make_tie_recording(db, shuffle_ids=False)
    keys, rogue = tmp_path / "keys", tmp_path / "rogue"
    assert run_coord("keygen", keys, "--worker", "alpha").returncode == 0
    assert run_coord("keygen", rogue, "--worker", "mallory").returncode == 0
    (rogue / "workers" / "mallory" / "server.key").write_bytes((keys / "server.key").read_bytes())
    log = tmp_path / "coord.log"
    coord = start_coord(
        log, "--workers", 0, "--bind", "tcp://127.0.0.1:0", "--curve-keys", keys, db
    )
    procs.append(coord)
    wait_for(lambda: "accepting remote workers on" in log.read_text(), timeout=20)
    endpoint = re.search(r"accepting remote workers on (\S+)", log.read_text())[1]  # type: ignore[index]
    plain = start_worker(tmp_path / "plain.log", "--connect", endpoint)
    mallory = start_worker(
        tmp_path / "mallory.log",
        "--connect",
        endpoint,
        "--curve-keys",
        rogue / "workers" / "mallory",
    )
    procs.extend([plain, mallory])
    assert plain.wait(timeout=20) == 2
    assert mallory.wait(timeout=20) == 2
    assert "not accepted by the coordinator" in (tmp_path / "plain.log").read_text()
    text = (tmp_path / "mallory.log").read_text()
    assert "not accepted by the coordinator" in text and "refused this worker's key" in text
    assert "connected to" not in text


def test_a_handshake_that_never_comes_times_out(tmp_path: Path, silent_listener: str) -> None:
    started = time.monotonic()
    log = tmp_path / "w.log"
    worker = start_worker(log, "--connect", silent_listener)
    assert worker.wait(timeout=40) == 2
    assert "handshake timeout" in log.read_text()
    assert time.monotonic() - started < 30


def test_give_up_after_and_sigterm_end_the_wait_for_a_handshake(
    tmp_path: Path, silent_listener: str, procs: list
) -> None:
    started = time.monotonic()
    patient = start_worker(tmp_path / "a.log", "--connect", silent_listener, "--give-up-after", "1")
    procs.append(patient)
    assert patient.wait(timeout=20) == 1
    assert time.monotonic() - started < 8
    stopped = start_worker(tmp_path / "b.log", "--connect", silent_listener)
    procs.append(stopped)
    time.sleep(1.5)
    stopped.send_signal(signal.SIGTERM)
    assert stopped.wait(timeout=5) == 130
