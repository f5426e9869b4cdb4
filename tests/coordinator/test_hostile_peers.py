"""Peers that lie: results that do not fit their task, floods, strangers asking for rows.

A real coordinator binds loopback TCP; the hostile peers are plain DEALER
sockets speaking the real protocol. Their lies are made from an honest result
of the very task they hold (computed in-process by the worker's own code), so
each tampering is the only thing wrong with it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import msgspec
import numpy as np
import zmq
from orderflow_services.protocol import (
    Disconnect,
    MessageCodec,
    Ready,
    Result,
    Rows,
    RowsRequest,
    Task,
)
from orderflow_services.worker.shard_compute import ReaderCache, compute_shard

from tests.coordinator.harness import (
    run_coord,
    start_bound,
    start_worker,
    wait_for,
)
from tests.coordinator.metrics_equality import assert_metrics_equal


class Peer:
    """A DEALER that says Ready and answers with whatever the test makes it say."""

    def __init__(self, context: zmq.Context, endpoint: str, pid: int) -> None:
        self.codec = MessageCodec()
        self.sock = context.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.connect(endpoint)
        self.send(Ready(pid, "peer"))

    def send(self, message: object) -> None:
        self.sock.send(self.codec.encode(message))  # type: ignore[arg-type]

    def next(self, kind: type, timeout_s: float = 10) -> object | None:
        """The next message of ``kind`` (others skipped), or None on timeout."""
        deadline_polls = int(timeout_s * 10)
        for _ in range(deadline_polls):
            if self.sock.poll(100):
                message = self.codec.decode(self.sock.recv())
                if isinstance(message, kind):
                    return message
        return None


def _honest(task: Task, db: Path) -> Result:
    cache = ReaderCache()
    try:
        reader, conn = cache.open(str(db), task.order_index)
        return compute_shard(task, reader, conn)
    finally:
        cache.close()


def _lies() -> list[tuple[str, Callable[[Result], Result]]]:
    """(what the coordinator should say, tampering of an honest result)."""
    r = msgspec.structs.replace
    return [
        ("columns of different lengths", lambda res: r(res, snapshot_ids=res.snapshot_ids[:-8])),
        (
            "is not of instrument 'EVIL'",
            lambda res: r(res, instrument_names=["EVIL", *res.instrument_names[1:]]),
        ),
        (
            "names table 'sqlite_master'",
            lambda res: r(res, rejects=[("sqlite_master", 1, "x")]),
        ),
        (
            "outside the shard's ids",
            lambda res: r(
                res, snapshot_ids=(np.frombuffer(res.snapshot_ids, np.int64) + 10**6).tobytes()
            ),
        ),
        ("CVD offset for 'EVIL'", lambda res: r(res, signed_volume={"EVIL": 1e9})),
        (
            "outside the shard",
            lambda res: r(res, rejects=[("trades", 10**9, "made up")]),
        ),
        # The heatmap's blobs go into the file cut by their ends, as the worker sent them.
        (
            "heatmap sum ends do not cut their blob",
            lambda res: r(res, heatmap=_packed(res, sums=res.heatmap.packed.sums[:-4])),
        ),
        (
            "heatmap row ends do not cut their blob",
            lambda res: r(
                res, heatmap=r(res.heatmap, bins=res.heatmap.bins[8:], sums=res.heatmap.sums[8:])
            ),
        ),
        (
            "a heatmap row of an instrument not named",
            lambda res: r(res, heatmap=r(res.heatmap, instruments=[])),
        ),
    ]


def _packed(res: Result, **changes: bytes) -> object:
    """The result's heatmap with fields of its worker-packed rows changed."""
    heatmap = res.heatmap
    assert heatmap is not None and heatmap.packed is not None  # the default profile's heatmap
    return msgspec.structs.replace(
        heatmap, packed=msgspec.structs.replace(heatmap.packed, **changes)
    )


def test_results_that_do_not_fit_their_task_are_refused_and_liars_dropped(
    tmp_path: Path, db: Path, synth_reference: Path, procs: list
) -> None:
    log = tmp_path / "coord.log"
    coord, endpoint = start_bound(log, procs, "--shard-rows", 2000, db)
    context = zmq.Context()
    try:
        lies = _lies()
        for pid, batch in ((1001, lies[:3]), (1002, lies[3:6]), (1003, lies[6:])):
            peer = Peer(context, endpoint, pid)
            for expected, tamper in batch:
                task = peer.next(Task)
                assert isinstance(task, Task), log.read_text()
                peer.send(tamper(_honest(task, db)))
                wait_for(lambda e=expected: e in log.read_text(), timeout=10, what=expected)
            assert "peer:1001 dropped after 3 bad results" in log.read_text()
            shutdown = peer.next(Disconnect, timeout_s=5)
            assert isinstance(shutdown, Disconnect) and shutdown.reason == "shutdown"
            peer.sock.close()
        assert coord.poll() is None  # none of it crashed the coordinator
        worker = start_worker(tmp_path / "worker.log", "--connect", endpoint)
        procs.append(worker)
        assert coord.wait(timeout=60) == 0, log.read_text()
    finally:
        context.destroy(linger=0)
    text = log.read_text()
    assert "Traceback" not in text
    assert_metrics_equal(synth_reference, db)
    with sqlite3.connect(db) as conn:
        assert conn.execute(
            "SELECT count(*) FROM metrics WHERE instrument = 'EVIL'"
        ).fetchone() == (0,)
        assert conn.execute("SELECT status FROM metrics_runs").fetchall() == [("finished",)]
    conn.close()


def test_floods_oversized_results_and_row_requests_for_others_tasks(
    tmp_path: Path, db: Path, synth_reference: Path, procs: list
) -> None:
    log = tmp_path / "coord.log"
    coord, endpoint = start_bound(log, procs, "--shard-rows", 2000, db)
    context = zmq.Context()
    try:
        holder = Peer(context, endpoint, 2001)
        held = holder.next(Task)
        assert isinstance(held, Task)
        stranger = Peer(context, endpoint, 2002)
        assert isinstance(stranger.next(Task), Task)
        stranger.send(RowsRequest(held.task_id, "cannot open"))
        assert stranger.next(Rows, timeout_s=2) is None
        wait_for(lambda: "which it does not hold" in log.read_text(), timeout=5, what="refusal")
        holder.sock.send(b"\x00" * (64 << 20))  # far beyond what a 2000-row shard can need
        wait_for(lambda: "larger than its sender could need" in log.read_text(), timeout=10)
        for _ in range(20_000):
            stranger.sock.send(b"\xc1 not msgpack")
        wait_for(lambda: "more malformed messages" in log.read_text(), timeout=30)
        holder.sock.close()
        stranger.sock.close()
        worker = start_worker(tmp_path / "worker.log", "--connect", endpoint)
        procs.append(worker)
        assert coord.wait(timeout=60) == 0, log.read_text()
    finally:
        context.destroy(linger=0)
    text = log.read_text()
    assert text.count("dropped malformed message") <= 20, "a flood is logged at a bounded rate"
    assert len(text) < 200_000
    assert_metrics_equal(synth_reference, db)


def test_an_open_bind_needs_keys_or_insecure(tmp_path: Path, db: Path) -> None:
    refused = run_coord("--workers", 0, "--bind", "tcp://0.0.0.0:0", db)
    assert refused.returncode == 2
    assert "--curve-keys" in refused.stderr and "--insecure" in refused.stderr
    with sqlite3.connect(db) as conn:  # nothing was written
        assert (
            conn.execute("SELECT name FROM sqlite_master WHERE name = 'metrics'").fetchone() is None
        )
    conn.close()
    allowed = run_coord("--workers", 1, "--insecure", "--bind", "tcp://0.0.0.0:0", "--quiet", db)
    assert allowed.returncode == 0, allowed.stderr
    assert "anyone who can reach this port can read the recording" in allowed.stderr
    local = run_coord("--workers", 1, "--bind", "tcp://127.0.0.1:0", "--quiet", "--force", db)
    assert local.returncode == 0 and "warning" not in local.stderr


def test_curve_keys_without_bind_is_an_error(tmp_path: Path, db: Path) -> None:
    done = run_coord("--workers", 1, "--curve-keys", tmp_path, db)
    assert done.returncode == 2 and "--curve-keys secures --bind" in done.stderr
