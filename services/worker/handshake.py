"""Waiting until the coordinator accepts a worker's connection, or learning it never will.

A ZeroMQ socket queues messages until a peer completes its handshake, so a worker
whose CURVE key the coordinator refuses (or that has no key at all) used to say
"connected" and block in ``send()`` forever. A socket monitor reports what
really happened: a handshake that succeeded, one that failed (wrong mechanism,
key not authorised), or none finished within ``HANDSHAKE_TIMEOUT_S`` of the TCP
connection. A coordinator that is not reachable yet is waited for, as before,
for as long as the caller wants to keep waiting.
"""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Callable

import zmq

__all__ = ["HANDSHAKE_TIMEOUT_S", "NotAccepted", "await_handshake"]

HANDSHAKE_TIMEOUT_S = 10.0
"""Longest a connected coordinator may take to accept the handshake, seconds."""
POLL_MS = 200
"""Between checks of the caller's ``keep_waiting``, milliseconds."""

_FAILED = {
    zmq.Event.HANDSHAKE_FAILED_AUTH: "it refused this worker's key (not in its authorized keys)",
    zmq.Event.HANDSHAKE_FAILED_PROTOCOL: "the security does not match (keys on one side only?)",
}
_TIMEOUT = (
    "no handshake within {:.0f}s (handshake timeout; is it a coordinator, with --curve-keys?)"
)
_EVENTS = (
    zmq.Event.CONNECTED
    | zmq.Event.DISCONNECTED
    | zmq.Event.HANDSHAKE_SUCCEEDED
    | zmq.Event.HANDSHAKE_FAILED_AUTH
    | zmq.Event.HANDSHAKE_FAILED_PROTOCOL
    | zmq.Event.HANDSHAKE_FAILED_NO_DETAIL
)


class NotAccepted(Exception):
    """The coordinator answered but did not accept this worker; retrying cannot help."""


def _event(monitor: zmq.Socket) -> int:
    """The next event's number from a monitor socket: its first frame is a 16-bit event
    and a 32-bit value (``zmq_socket_monitor``). Parsed here rather than with
    ``zmq.utils.monitor``, which imports ``zmq.asyncio`` and so asyncio: about a fifth
    of a worker's start-up instructions, for one ``struct.unpack``."""
    frames = monitor.recv_multipart()
    return struct.unpack_from("=H", frames[0])[0]


def await_handshake(
    sock: zmq.Socket,
    endpoint: str,
    keep_waiting: Callable[[], bool],
    timeout_s: float = HANDSHAKE_TIMEOUT_S,
) -> bool:
    """Connect ``sock`` to ``endpoint`` and wait for the coordinator's handshake.

    True once accepted; False when ``keep_waiting()`` turned false while the
    coordinator was still unreachable; raises NotAccepted when it answered but
    refused, or did not finish the handshake within ``timeout_s``."""
    sock.handshake_ivl = int(timeout_s * 1000)
    monitor = sock.get_monitor_socket(_EVENTS)
    try:
        sock.connect(endpoint)
        connected_at: float | None = None
        while True:
            if monitor.poll(POLL_MS):
                event = zmq.Event(_event(monitor))
                if event == zmq.Event.HANDSHAKE_SUCCEEDED:
                    return True
                if event in _FAILED:
                    raise NotAccepted(
                        f"not accepted by the coordinator at {endpoint}: {_FAILED[event]}"
                    )
                if event == zmq.Event.HANDSHAKE_FAILED_NO_DETAIL:  # zmq's own handshake_ivl
                    connected_at = -math.inf
                if event == zmq.Event.CONNECTED:
                    connected_at = time.monotonic()
                elif event == zmq.Event.DISCONNECTED:
                    connected_at = None
            if connected_at is not None and time.monotonic() - connected_at > timeout_s:
                raise NotAccepted(
                    f"not accepted by the coordinator at {endpoint}: {_TIMEOUT.format(timeout_s)}"
                )
            if not keep_waiting():
                return False
    finally:
        sock.disable_monitor()
        monitor.close(linger=0)
