"""The worker: one loop that asks the coordinator for shards and sends back columns.

Read top to bottom, ``run`` is the zguide's paranoid-pirate worker: connect and
say Ready, poll with the heartbeat interval, handle what arrives, lower
liveness on silence, and after ``HEARTBEAT_LIVENESS`` silent intervals drop the
socket (``LINGER=0``) and reconnect with a doubling, capped delay. A long shard
does not make the worker look dead: while it computes, a thread sends the
heartbeats on time (``liveness.beating``).

A worker that cannot open the file a task names (a remote host without the
recordings) asks for the shard's rows and computes the same way from them.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from orderflow_services.protocol import (
    HEARTBEAT_INTERVAL_S,
    HEARTBEAT_LIVENESS,
    RECONNECT_MAX_S,
    RECONNECT_MIN_S,
    SHUTDOWN_REASON,
    Disconnect,
    Failed,
    Heartbeat,
    MalformedMessage,
    Message,
    MessageCodec,
    OutOfOrder,
    Ready,
    Rows,
    RowsRequest,
    Task,
)
from orderflow_services.shipped_rows import ShippedRows
from orderflow_services.worker.handshake import NotAccepted, await_handshake
from orderflow_services.worker.liveness import beating
from orderflow_services.worker.shard_compute import (
    PathMap,
    ReaderCache,
    compute_shard,
    open_problem,
)

from orderflow.core.errors import TableOutOfOrder

__all__ = ["CurveClientKeys", "NotAccepted", "Worker", "load_client_keys"]

log = logging.getLogger("orderflow.worker")


@dataclass(frozen=True)
class CurveClientKeys:
    """The worker's own key pair and the coordinator's public key (z85 bytes)."""

    public: bytes
    secret: bytes
    server_public: bytes


def load_client_keys(directory: str | Path) -> CurveClientKeys:
    """Read ``server.key`` and the one ``*.key_secret`` that ``orderflow-coord keygen`` wrote."""
    d = Path(directory)
    secrets = sorted(p for p in d.glob("*.key_secret") if p.name != "server.key_secret")
    if len(secrets) != 1 or not (d / "server.key").is_file():
        raise ValueError(
            f"{d}: needs server.key and exactly one worker *.key_secret"
            " (made by 'orderflow-coord keygen DIR --worker NAME')"
        )
    public, secret = zmq.auth.load_certificate(secrets[0])
    server_public, _ = zmq.auth.load_certificate(d / "server.key")
    if secret is None:
        raise ValueError(f"{secrets[0]}: holds no secret key")
    return CurveClientKeys(public, secret, server_public)


class Worker:
    """Serves shards to one coordinator endpoint until told to stop."""

    def __init__(
        self,
        endpoint: str,
        *,
        path_map: PathMap | None = None,
        curve: CurveClientKeys | None = None,
        parent_pid: int | None = None,
        give_up_after_s: float | None = None,
    ) -> None:
        """``parent_pid``: exit when that process is no longer our parent. It is passed
        in, not read with ``getppid()`` here, because a parent killed while we start
        would leave us reading init's pid and waiting forever."""
        self.endpoint = endpoint
        self.path_map = path_map or PathMap()
        self.curve = curve
        self.parent_pid = parent_pid
        self.give_up_after_s = give_up_after_s
        self.context = zmq.Context.instance()
        self.codec = MessageCodec()
        self.readers = ReaderCache()
        self.socket: zmq.Socket | None = None
        self.accepted = False
        self.waiting_for_rows: Task | None = None
        self.last_sent = 0.0
        self.last_heard = time.monotonic()
        self.shards_done = 0

    def run(self) -> int:
        """Serve until the coordinator says shutdown, the parent dies or we give up;
        raises NotAccepted when the coordinator refuses this worker."""
        delay = RECONNECT_MIN_S
        try:
            while True:
                if self._connect() and self._serve():
                    return 0
                self._close()
                if self._given_up():
                    log.warning("coordinator silent for %.0fs; giving up", self.give_up_after_s)
                    return 1
                if self._parent_gone():
                    log.info("coordinator process is gone; exiting")
                    return 0
                log.info("coordinator silent; reconnecting in %.1fs", delay)
                time.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
        except KeyboardInterrupt:
            self._send(Disconnect("worker interrupted"))
            return 130
        finally:
            self._close()
            self.readers.close()

    def _serve(self) -> bool:
        """One connection's life; True when the worker should exit."""
        liveness = HEARTBEAT_LIVENESS
        assert self.socket is not None
        while True:
            if self._parent_gone():
                log.info("coordinator process is gone; exiting")
                return True
            if self.socket.poll(int(HEARTBEAT_INTERVAL_S * 1000)):
                frame = self.socket.recv()
                liveness = HEARTBEAT_LIVENESS
                self.last_heard = time.monotonic()
                try:
                    message = self.codec.decode(frame)
                except MalformedMessage as exc:
                    log.warning("dropped malformed message: %s", exc)
                    continue
                if self._handle(message):
                    return True
            else:
                liveness -= 1
                if liveness == 0:
                    self.waiting_for_rows = None
                    return False
            self._heartbeat_if_due()

    def _handle(self, message: Message) -> bool:
        """Act on one message; True means exit."""
        if isinstance(message, Task):
            self._start_task(message)
        elif isinstance(message, Rows):
            self._finish_with_rows(message)
        elif isinstance(message, Disconnect):
            if message.reason == SHUTDOWN_REASON:
                log.info("coordinator finished; %d shard(s) computed here", self.shards_done)
                return True
            # Anything else means the coordinator lost track of us: say Ready again.
            self._send(Ready(os.getpid(), socket.gethostname()))
        elif not isinstance(message, Heartbeat):
            log.warning("dropped unexpected %s", type(message).__name__)
        return False

    def _start_task(self, task: Task) -> None:
        path = self.path_map.local(task.path)
        index = self.path_map.local(task.order_index) if task.order_index else None
        problem = open_problem(self.readers, path, index)
        if problem is not None:
            log.info(
                "cannot open %s (%s); asking for shard %d's rows", path, problem, task.shard_no
            )
            self.waiting_for_rows = task
            self._send(RowsRequest(task.task_id, problem))
            return
        reader, conn = self.readers.open(path, index)
        self._compute(task, reader, conn)

    def _finish_with_rows(self, rows: Rows) -> None:
        task = self.waiting_for_rows
        if task is None or task.task_id != rows.task_id:
            log.warning("dropped rows for task %d that is not ours", rows.task_id)
            return
        self.waiting_for_rows = None
        self._compute(task, ShippedRows(rows), None)

    def _compute(self, task: Task, repo: object, conn: object) -> None:
        try:
            with beating(lambda: self._send(Heartbeat()), HEARTBEAT_INTERVAL_S):
                result = compute_shard(task, repo, conn)  # type: ignore[arg-type]
        except TableOutOfOrder as exc:
            log.info("shard %d: %s", task.shard_no, exc)
            self._send(OutOfOrder(task.task_id, exc.table, exc.row_id))
            return
        except Exception as exc:  # a bug or an unreadable page: tell, don't die
            log.exception("shard %d failed", task.shard_no)
            self._send(Failed(task.task_id, f"{type(exc).__name__}: {exc}"))
            return
        self.shards_done += 1
        self._send(result)

    def _heartbeat_if_due(self) -> None:
        if time.monotonic() - self.last_sent >= HEARTBEAT_INTERVAL_S:
            self._send(Heartbeat())

    def _send(self, message: Message) -> None:
        """Only ever on a socket the coordinator accepted, so a send cannot block forever."""
        if self.socket is None or not self.accepted:
            return
        self.socket.send(self.codec.encode(message), copy=False)
        self.last_sent = time.monotonic()

    def _connect(self) -> bool:
        """Connect and say Ready once accepted; False when we stopped waiting for an
        unreachable coordinator (given up, or the parent is gone)."""
        sock = self.context.socket(zmq.DEALER)
        sock.linger = 0
        if self.curve is not None:
            sock.curve_publickey = self.curve.public
            sock.curve_secretkey = self.curve.secret
            sock.curve_serverkey = self.curve.server_public
        self.socket = sock
        self.accepted = False
        log.info("waiting for the coordinator at %s to accept this worker", self.endpoint)
        if not await_handshake(
            sock, self.endpoint, lambda: not self._given_up() and not self._parent_gone()
        ):
            return False
        self.accepted = True
        self.last_heard = time.monotonic()
        self._send(Ready(os.getpid(), socket.gethostname()))
        log.info("connected to %s", self.endpoint)
        return True

    def _close(self) -> None:
        if self.socket is not None:
            self.socket.close(linger=0)
            self.socket = None
            self.accepted = False

    def _parent_gone(self) -> bool:
        return self.parent_pid is not None and os.getppid() != self.parent_pid

    def _given_up(self) -> bool:
        limit = self.give_up_after_s
        return limit is not None and time.monotonic() - self.last_heard > limit
