"""Remote workers over TCP: joining, hostile messages, no file access, CURVE.

Everything is real: the coordinator binds tcp://127.0.0.1 on a free port, workers
are separate ``orderflow-worker`` processes, and CURVE uses keys made by
``orderflow-coord keygen``.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import msgspec
import pytest
import zmq

from tests.coordinator.harness import (
    BIND,
    committed_shards,
    remote_endpoint,
    run_coord,
    start_bound,
    start_coord,
    start_worker,
    wait_for,
)
from tests.coordinator.metrics_equality import assert_metrics_equal


@pytest.fixture
def db(tmp_path: Path, synth_db: Path) -> Path:
    path = tmp_path / "data" / "rec.db"
    path.parent.mkdir()
    shutil.copy(synth_db, path)
    return path


def test_remote_worker_joins_and_hostile_messages_are_dropped(
    tmp_path: Path, db: Path, synth_reference: Path, procs: list
) -> None:
    log = tmp_path / "coord.log"
    coord, endpoint = start_bound(log, procs, "--shard-rows", 2000, db)
    context = zmq.Context()
    try:
        intruder = context.socket(zmq.DEALER)
        intruder.linger = 0
        intruder.connect(endpoint)
        intruder.send(b"\xc1 not msgpack")
        intruder.send(msgspec.msgpack.encode(["Task", 1, "x"]))  # right tag, wrong shape
        intruder.send(msgspec.msgpack.encode({"hello": "world"}))
        intruder.send_multipart([b"two", b"frames"])
        intruder.send(msgspec.msgpack.encode(["Result", 999] + [[]] * 8 + [[], {}, 0, 0.0]))
        wait_for(lambda: log.read_text().count("dropped") >= 3, timeout=10, what="drops")
        intruder.close()
    finally:
        context.term()
    assert coord.poll() is None  # still running after all that
    worker = start_worker(tmp_path / "worker.log", "--connect", endpoint)
    procs.append(worker)
    assert coord.wait(timeout=60) == 0, log.read_text()
    assert worker.wait(timeout=10) == 0  # told to shut down when the run ended
    text = log.read_text()
    assert "dropped malformed message" in text and "worker " in text and "joined" in text
    assert "Traceback" not in text
    assert_metrics_equal(synth_reference, db)


def test_worker_without_the_file_gets_rows_from_the_coordinator(
    tmp_path: Path, db: Path, synth_reference: Path, procs: list
) -> None:
    # The worker maps the coordinator's data directory to one that exists on its
    # side but holds no recording (as on a host that does not mount the data), so
    # opening the file fails for real and the worker asks for the rows.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    log = tmp_path / "coord.log"
    coord = start_coord(log, "--workers", 0, "--bind", BIND, "--shard-rows", 3000, db)
    procs.append(coord)
    worker_log = tmp_path / "worker.log"
    worker = start_worker(
        worker_log, "--connect", remote_endpoint(log), "--path-map", f"{db.parent}={elsewhere}"
    )
    procs.append(worker)
    assert coord.wait(timeout=60) == 0, log.read_text()
    assert "cannot open the file" in log.read_text()
    assert "asking for shard" in worker_log.read_text()
    assert_metrics_equal(synth_reference, db)


def test_path_map_lets_a_worker_read_its_own_copy(
    tmp_path: Path, db: Path, synth_reference: Path, procs: list
) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(db, mirror / db.name)
    log = tmp_path / "coord.log"
    coord = start_coord(log, "--workers", 0, "--bind", BIND, db)
    procs.append(coord)
    worker = start_worker(
        tmp_path / "w.log", "--connect", remote_endpoint(log), "--path-map", f"{db.parent}={mirror}"
    )
    procs.append(worker)
    assert coord.wait(timeout=60) == 0, log.read_text()
    assert "cannot open the file" not in log.read_text()
    assert_metrics_equal(synth_reference, db)


def test_curve_serves_authorised_workers_only(
    tmp_path: Path, db: Path, synth_reference: Path, procs: list
) -> None:
    keys = tmp_path / "keys"
    made = run_coord("keygen", keys, "--worker", "alpha")
    assert made.returncode == 0, made.stderr
    # An intruder with a well-formed key pair that nobody authorised.
    rogue = tmp_path / "rogue"
    assert run_coord("keygen", rogue, "--worker", "mallory").returncode == 0
    shutil.copy(keys / "server.key", rogue / "workers" / "mallory" / "server.key")
    log = tmp_path / "coord.log"
    coord, endpoint = start_bound(log, procs, "--curve-keys", keys, db)
    intruder = start_worker(
        tmp_path / "mallory.log",
        "--connect",
        endpoint,
        "--curve-keys",
        rogue / "workers" / "mallory",
    )
    plain = start_worker(tmp_path / "plain.log", "--connect", endpoint)
    procs.extend([intruder, plain])
    time.sleep(3)
    assert "joined" not in log.read_text()
    assert committed_shards(db) == []
    worker = start_worker(
        tmp_path / "alpha.log", "--connect", endpoint, "--curve-keys", keys / "workers" / "alpha"
    )
    procs.append(worker)
    assert coord.wait(timeout=60) == 0, log.read_text()
    assert log.read_text().count("joined") == 1
    assert_metrics_equal(synth_reference, db)


def test_an_endpoint_that_cannot_be_bound_is_a_one_line_error(tmp_path: Path, db: Path) -> None:
    context = zmq.Context()
    taken = context.socket(zmq.ROUTER)
    port = taken.bind_to_random_port("tcp://127.0.0.1")
    try:
        done = run_coord("--workers", 0, "--bind", f"tcp://127.0.0.1:{port}", db)
    finally:
        context.destroy(linger=0)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "cannot listen on" in done.stderr
