"""Starting, watching and reaping the coordinator's local worker processes.

Workers run in their own session, so a Ctrl-C on the terminal reaches only the
coordinator, which then shuts them down in order. They also exit by themselves
when the coordinator process disappears (``--exit-with-parent``: a SIGKILLed
coordinator cannot clean up, so orphans must notice on their own).

The first workers are forked (``forked_worker``) before the coordinator opens a
file or a socket, and connect once ``release`` says the socket is bound; a
worker that crashed is replaced by a fresh ``python -m orderflow_services.worker``,
since by then the coordinator holds what a forked child must not inherit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Collection

from orderflow_services.coordinator.forked_worker import ForkedWorker, fork_worker

__all__ = ["LocalWorkers"]

log = logging.getLogger("orderflow.coordinator")

STOP_GRACE_S = 3.0
"""How long workers get to exit after SIGTERM before SIGKILL."""
RESPAWNS_PER_WORKER = 3
"""Crashed local workers are replaced, up to this many times per slot."""


class LocalWorkers:
    """N worker children connected to ``endpoint``."""

    def __init__(self, endpoint: str, count: int, *, log_level: str = "WARNING") -> None:
        self.endpoint = endpoint
        self.count = count
        self.log_level = log_level
        self.processes: list[subprocess.Popen | ForkedWorker] = []
        self.respawns_left = RESPAWNS_PER_WORKER * count
        self._go: int | None = None
        """The write end of the pipe the forked workers wait on until ``release``."""

    def _spawn(self) -> subprocess.Popen:
        command = [
            sys.executable,
            "-m",
            "orderflow_services.worker",
            "--connect",
            self.endpoint,
            "--exit-with-parent",
            str(os.getpid()),
            "--log-level",
            self.log_level,
        ]
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)

    def start(self) -> None:
        """Fork the workers; call before opening any file, socket or thread, and
        ``release`` them once the endpoint is bound."""
        if self.count:
            go = os.pipe()
            self.processes = [
                fork_worker(self.endpoint, self.log_level, go) for _ in range(self.count)
            ]
            os.close(go[0])
            self._go = go[1]
        log.info("started %d local worker(s): pids %s", self.count, self.pids())

    def release(self) -> None:
        """Let the forked workers connect: the endpoint is bound (or never will be)."""
        if self._go is not None:
            os.close(self._go)
            self._go = None

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def replace_dead(self) -> list[int]:
        """Restart workers that exited (a crash or a kill), within the respawn budget;
        returns the pids that died, so their shards can be re-queued at once."""
        dead = []
        for i, proc in enumerate(self.processes):
            if proc.poll() is not None and self.respawns_left > 0:
                dead.append(proc.pid)
                self.respawns_left -= 1
                log.warning(
                    "local worker %d exited with %s; starting another", proc.pid, proc.returncode
                )
                self.processes[i] = self._spawn()
        return dead

    def all_dead(self) -> bool:
        return bool(self.processes) and all(p.poll() is not None for p in self.processes)

    def stop(self, told: Collection[int] = ()) -> None:
        """Let the workers in ``told`` (pids the coordinator said goodbye to) exit, then
        SIGTERM, then SIGKILL; every child is reaped. A worker never told, one that
        had not joined yet, gets SIGTERM at once rather than after the grace time."""
        self.release()
        deadline = time.monotonic() + STOP_GRACE_S / 3
        for proc in self.processes:
            if proc.pid not in told:
                continue
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
                proc.send_signal(signal.SIGCONT)  # a stopped worker acts on SIGTERM only once woken
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in self.processes:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
