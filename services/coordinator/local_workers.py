"""Starting, watching and reaping the coordinator's local worker processes.

Workers run in their own session, so a Ctrl-C on the terminal reaches only the
coordinator, which then shuts them down in order. They also exit by themselves
when the coordinator process disappears (``--exit-with-parent``: a SIGKILLed
coordinator cannot clean up, so orphans must notice on their own).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time

__all__ = ["LocalWorkers"]

log = logging.getLogger("orderflow.coordinator")

STOP_GRACE_S = 3.0
"""How long workers get to exit after SIGTERM before SIGKILL."""
RESPAWNS_PER_WORKER = 3
"""Crashed local workers are replaced, up to this many times per slot."""


class LocalWorkers:
    """N ``python -m orderflow_services.worker`` children connected to ``endpoint``."""

    def __init__(self, endpoint: str, count: int, *, log_level: str = "WARNING") -> None:
        self.endpoint = endpoint
        self.count = count
        self.log_level = log_level
        self.processes: list[subprocess.Popen] = []
        self.respawns_left = RESPAWNS_PER_WORKER * count

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
        self.processes = [self._spawn() for _ in range(self.count)]
        log.info("started %d local worker(s): pids %s", self.count, self.pids())

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

    def stop(self) -> None:
        """Let told workers exit, then SIGTERM, then SIGKILL; every child is reaped."""
        deadline = time.monotonic() + STOP_GRACE_S / 3
        for proc in self.processes:
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
