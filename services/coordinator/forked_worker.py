"""A local worker forked from the coordinator before it opens anything, so it starts
with the coordinator's imports instead of importing them again.

A fresh ``python -m orderflow_services.worker`` spends about 0.2 s of CPU (600M
instructions: numpy, msgspec, pyzmq) importing what the coordinator process has
already imported, and two of them do it on a two-core machine while the
coordinator plans: a tenth of a 200k-snapshot run's wall time went to it. A
child forked from the coordinator has all of that in memory at once.

Forking is safe only while the coordinator holds no SQLite connection (a child
would share SQLite's per-process lock bookkeeping for the same file), no ZeroMQ
socket (its I/O threads do not survive ``fork``) and no lock file, so
``Coordinator`` forks its first workers before creating any of them, and
replacements for crashed workers are started as fresh interpreters
(``LocalWorkers``). The child waits on a pipe until the coordinator has bound
its socket, then runs the worker loop of ``orderflow-worker`` and leaves with
``os._exit``: the parent's objects it inherited (and the parent's ``atexit``
handlers) are never finalised in it.

``ForkedWorker`` answers the part of ``subprocess.Popen`` that ``LocalWorkers``
uses (``poll``, ``wait``, ``send_signal``, ``terminate``, ``kill``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import traceback
import warnings

from orderflow_services.worker.cli import serve_local

__all__ = ["ForkedWorker", "fork_worker"]

WAIT_STEP_S = 0.002
"""Between checks of a child's exit in ``wait`` with a timeout."""


class ForkedWorker:
    """A forked child, reaped and signalled like a ``subprocess.Popen``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.args = [f"forked worker {pid}"]

    def poll(self) -> int | None:
        """The exit code once the child has exited (reaping it), else None."""
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: its code is lost
                self.returncode = -1
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """The exit code; raises ``subprocess.TimeoutExpired`` after ``timeout`` s."""
        if timeout is None:
            if self.returncode is None:
                try:
                    _, status = os.waitpid(self.pid, 0)
                    self.returncode = os.waitstatus_to_exitcode(status)
                except ChildProcessError:
                    self.returncode = -1
            return self.returncode
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(WAIT_STEP_S)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def fork_worker(endpoint: str, log_level: str, go: tuple[int, int]) -> ForkedWorker:
    """Fork a worker that connects to ``endpoint`` once the read end of the ``go``
    pipe reports end of file (the coordinator closes the write end after binding)."""
    sys.stdout.flush()  # else the child would write the parent's buffered output again
    sys.stderr.flush()
    parent = os.getpid()
    with warnings.catch_warnings():
        # Python 3.12+ warns on fork with other threads alive; here the only ones
        # are OpenBLAS's idle pool (numpy), which re-creates itself in the child.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid:
        return ForkedWorker(pid)
    code = 1
    try:
        os.setsid()  # its own session, as a spawned worker: a terminal's Ctrl-C is not ours
        os.close(go[1])
        os.read(go[0], 1)  # blocks until the coordinator has bound its socket (or died)
        os.close(go[0])
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        code = serve_local(endpoint, parent, log_level)
    except KeyboardInterrupt:  # SIGTERM before the loop began: told to stop, not a failure
        code = 130
    except BaseException:  # the child must never return into the parent's code
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
