"""The coordinator's private scratch directories, and where its workers' socket goes.

Each coordinator keeps its local workers' ``ipc://`` socket and its order
indexes in a private directory (mode 0700, so only this user's processes can
connect) under the temporary directory, with its pid inside so a coordinator
that was SIGKILLed has its directory removed by the next one.

A Unix socket's path may hold at most 107 bytes, and ZeroMQ says only
"Invalid argument" past that: with a long ``TMPDIR`` (a CI runner's, a deep home
directory) every run failed with "cannot listen on None". The socket then goes
to a private directory of its own under a short system temporary directory;
only when none can be made does the run stop, with one line that names the path
and what to do.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

__all__ = [
    "SCRATCH_PREFIX",
    "UNIX_SOCKET_PATH_MAX",
    "SocketPathError",
    "private_dir",
    "remove_stale_scratch",
    "socket_dir",
    "socket_path",
]

SCRATCH_PREFIX = "orderflow-coord-"
SOCKET_NAME = "workers.sock"
UNIX_SOCKET_PATH_MAX = 107
"""Longest path of a Unix socket on Linux: ``sun_path`` is 108 bytes with its NUL."""
SHORT_BASES = ("/tmp", "/var/tmp", "/dev/shm")
"""Where the socket goes when it does not fit under TMPDIR, first writable one first."""


class SocketPathError(OSError):
    """No directory gives the workers' socket a path short enough."""


def private_dir(base: str | None = None) -> tempfile.TemporaryDirectory:
    """A new private directory under ``base`` (default: the temporary directory),
    marked with this process's pid."""
    directory = tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX, dir=base)
    Path(directory.name, "pid").write_text(str(os.getpid()))
    return directory


def socket_path(directory: str) -> str:
    return os.path.join(directory, SOCKET_NAME)


def _fits(directory: str) -> bool:
    return len(os.fsencode(socket_path(directory))) <= UNIX_SOCKET_PATH_MAX


def socket_dir(scratch: tempfile.TemporaryDirectory) -> tempfile.TemporaryDirectory:
    """``scratch`` when the socket's path fits there, else a private directory under
    the first short base that takes one (the caller cleans up both)."""
    if _fits(scratch.name):
        return scratch
    for base in SHORT_BASES:
        try:
            directory = private_dir(base)
        except OSError:
            continue
        if _fits(directory.name):
            return directory
        directory.cleanup()
    path = socket_path(scratch.name)
    raise SocketPathError(
        f"the workers' socket {path} is {len(os.fsencode(path))} bytes, over the"
        f" {UNIX_SOCKET_PATH_MAX}-byte limit of a Unix socket path, and none of"
        f" {', '.join(SHORT_BASES)} can hold it; set TMPDIR to a shorter directory"
    )


def remove_stale_scratch() -> None:
    """Delete scratch directories (socket, order indexes) of coordinators that were
    SIGKILLed and so could not clean up after themselves."""
    for base in dict.fromkeys((tempfile.gettempdir(), *SHORT_BASES)):
        for directory in Path(base).glob(f"{SCRATCH_PREFIX}*"):
            try:
                owner = int((directory / "pid").read_text())
            except (OSError, ValueError):
                continue  # not ours, or still being set up
            try:
                os.kill(owner, 0)
            except ProcessLookupError:
                shutil.rmtree(directory, ignore_errors=True)
            except PermissionError:
                pass  # alive, another user's
