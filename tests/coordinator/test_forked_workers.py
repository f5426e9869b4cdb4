"""A run's start-up and end: local workers forked by the coordinator wait for the bound
socket, serve, and stop promptly (one that never joined is not waited for), and the
loop goes on as soon as its planning thread is done."""

from __future__ import annotations

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import zmq
from orderflow_services.coordinator.coordinator import POLL_MS, Coordinator
from orderflow_services.coordinator.local_workers import STOP_GRACE_S, LocalWorkers
from orderflow_services.coordinator.run_state import CoordinatorSettings
from orderflow_services.protocol import SHUTDOWN_REASON, Disconnect, MessageCodec, Ready


def test_a_forked_worker_connects_once_released_and_leaves_when_told(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/w.sock"
    workers = LocalWorkers(endpoint, 1, log_level="ERROR")
    workers.start()  # forked before anything listens, as the coordinator does
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.linger = 0
    try:
        router.bind(endpoint)
        workers.release()
        assert router.poll(10_000), "the worker never said Ready"
        identity, frame = router.recv_multipart()
        ready = MessageCodec().decode(frame)
        assert isinstance(ready, Ready)
        assert ready.pid == workers.pids()[0]
        router.send_multipart([identity, MessageCodec().encode(Disconnect(SHUTDOWN_REASON))])
        started = time.monotonic()
        workers.stop(told=workers.pids())
        assert workers.processes[0].returncode == 0
        assert time.monotonic() - started < STOP_GRACE_S / 3
    finally:
        workers.stop()
        router.close()
        context.term()


def test_a_worker_that_never_joined_is_stopped_at_once(tmp_path: Path) -> None:
    """Nobody told it to leave (it had not joined), so waiting for it to leave by
    itself only added the grace time (1 s) to every such run's end."""
    workers = LocalWorkers(f"ipc://{tmp_path}/nobody.sock", 2, log_level="ERROR")
    workers.start()
    workers.release()
    time.sleep(0.2)  # in its loop, waiting for a coordinator that never binds
    started = time.monotonic()
    workers.stop()
    assert time.monotonic() - started < STOP_GRACE_S / 3
    assert [p.returncode for p in workers.processes] == [130, 130]  # SIGTERM, handled


def test_a_forked_worker_is_waited_for_like_a_process(tmp_path: Path) -> None:
    workers = LocalWorkers(f"ipc://{tmp_path}/nobody.sock", 1, log_level="ERROR")
    workers.start()
    try:
        (proc,) = workers.processes
        assert proc.poll() is None  # held back until released
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=0.05)
        deadline = time.monotonic() + 5
        while os.getsid(proc.pid) != proc.pid:  # its own session: Ctrl-C is not its
            assert time.monotonic() < deadline, "the worker stayed in our session"
            time.sleep(0.01)
    finally:
        workers.stop()
    assert proc.poll() is not None


def test_the_wait_for_planning_ends_when_the_plan_does() -> None:
    """The loop serves workers while a thread plans; it used to notice the plan only
    when its poll timed out (POLL_MS later), twice per database."""
    coordinator = Coordinator(CoordinatorSettings(workers=0, quiet=True))
    try:
        waits = []
        with ThreadPoolExecutor(1) as pool:
            for _ in range(3):
                started = time.monotonic()
                coordinator._wait_for(pool.submit(time.sleep, 0.005))
                waits.append(time.monotonic() - started)
        assert min(waits) < POLL_MS / 1000 / 2
    finally:
        coordinator.close()
