"""Liveness by the clock: heartbeats go out on time however long a shard takes.

A worker used to heartbeat from a callback every few hundred rows, so liveness
depended on how long those rows took: books with thousands of levels a side took
longer than the coordinator's silence limit per callback, were declared dead and
re-queued forever. ``beating`` instead sends heartbeats from a thread at the
heartbeat interval while the computation runs on the caller's thread. The
computation is Python (which the interpreter interrupts every few milliseconds
to let other threads run) or a native call that releases the GIL, so the beat
never waits for a row to finish.

ZeroMQ sockets must not be used by two threads at once. The caller hands the
socket over for the duration of the block: it must not send while inside it,
and the thread's start and ``join`` are the memory barriers ZeroMQ asks for when
a socket moves between threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["beating"]


@contextmanager
def beating(beat: Callable[[], None], interval_s: float) -> Iterator[None]:
    """Call ``beat`` every ``interval_s`` seconds from a thread while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval_s):
            beat()

    thread = threading.Thread(target=loop, name="orderflow-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
