"""The coordinator loop: hand shards to ZeroMQ workers, collect columns, commit in order.

One ROUTER socket serves every worker: local ones over an ``ipc://`` endpoint in
a private temporary directory, remote ones over ``--bind`` (CURVE-secured when
keys are given). The loop has one small method per concern -- accept work,
handle a worker message, expire silent workers and re-queue their shards, send
heartbeats -- around an explicit in-flight table, so unlike the zguide's
brokers a dying worker never loses a shard: it goes back to the front of the
queue, and a late answer from a worker already given up on is dropped.

Dispatch never runs more than ``WINDOW_PER_WORKER`` shards per worker ahead of
the first uncommitted one, which bounds the results buffered for in-order
commits, and therefore the coordinator's memory, whatever the file size.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import signal
import socket
import sqlite3
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import msgspec
import zmq
from orderflow_services.coordinator.curve_keys import CurveServer
from orderflow_services.coordinator.local_workers import LocalWorkers
from orderflow_services.coordinator.log_limit import RateLimitedLog
from orderflow_services.coordinator.planner import (
    ShardPlan,
    plan_shards,
    probe_every,
    trim_scan,
)
from orderflow_services.coordinator.result_check import BadResult, ResultCheck, max_result_bytes
from orderflow_services.coordinator.run_check import check_complete
from orderflow_services.coordinator.run_state import (
    CoordinatorSettings,
    DatabaseRun,
    InFlight,
    Interrupted,
    ShardFailed,
    WorkerState,
)
from orderflow_services.coordinator.scratch import (
    SocketPathError,
    private_dir,
    remove_stale_scratch,
    socket_dir,
    socket_path,
)
from orderflow_services.coordinator.writer import ShardWriter
from orderflow_services.protocol import (
    HEARTBEAT_INTERVAL_S,
    SHUTDOWN_REASON,
    Disconnect,
    Failed,
    Heartbeat,
    MalformedMessage,
    Message,
    MessageCodec,
    OutOfOrder,
    Ready,
    Result,
    RowsRequest,
    Task,
    silence_limit_s,
)
from orderflow_services.shipped_rows import collect_rows

from orderflow.core.errors import InputFileError, TableOutOfOrder
from orderflow.pipeline.progress import ProgressReporter
from orderflow.pipeline.storage import RunSummary, config_key
from orderflow.store.connections import PROBE_CACHE_KIB
from orderflow.store.heatmap_ticks import decide_ticks
from orderflow.store.input_repository import OrderScan, SQLiteOrderflowRepository
from orderflow.store.metrics_repository import SQLiteMetricsRepository
from orderflow.store.order_index import TimeOrderedReader, build_order_index

__all__ = ["Coordinator"]

log = logging.getLogger("orderflow.coordinator")

WINDOW_PER_WORKER = 3
"""Shards dispatched per worker beyond the first uncommitted one."""
MAX_SHARD_FAILURES = 3
"""A shard that fails this many times stops the run (a bug, not bad luck)."""
HOST = socket.gethostname()
POLL_MS = 100
"""Longest the loop blocks, so Ctrl-C and expiry are noticed promptly."""
MAX_BAD_RESULTS = 3
"""A worker whose results fail their check this often is dropped for good."""
MAX_SMALL_FRAME_BYTES = 1 << 20
"""Largest frame from a peer without a task in flight (Ready, Heartbeat, Failed...)."""
MESSAGES_PER_RECEIVE = 1000
"""Messages handled per poll, so a flood cannot keep the loop from its other work."""


class Coordinator:
    """Owns the socket, the workers and the run of each database in turn."""

    def __init__(self, settings: CoordinatorSettings) -> None:
        self.settings = settings
        remove_stale_scratch()
        self._tmp = private_dir()
        self._socket_dir = socket_dir(self._tmp)
        self.local_endpoint = f"ipc://{socket_path(self._socket_dir.name)}"
        # Forked first, while this process holds no socket, connection or thread.
        self.local = LocalWorkers(
            self.local_endpoint, settings.workers, log_level=settings.worker_log_level
        )
        self.local.start()
        try:
            self._listen(settings)
        except BaseException:
            self.local.stop()
            raise
        finally:
            self.local.release()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        self.poller = zmq.Poller()
        self.poller.register(self.socket, zmq.POLLIN)
        self.poller.register(self._wake_read, zmq.POLLIN)
        self.workers: dict[bytes, WorkerState] = {}
        self.dropped: set[bytes] = set()
        """Identities of workers dropped for bad results: nothing they send is read."""
        self.noise = RateLimitedLog(log)
        self.in_flight: dict[int, InFlight] = {}
        self.next_task_id = 1
        self.last_heartbeat = 0.0
        self.stop_requested: str | None = None
        self.run: DatabaseRun | None = None
        self.indexes_built = 0

    def _listen(self, settings: CoordinatorSettings) -> None:
        """The ROUTER socket, bound to the local endpoint and to ``--bind`` if given."""
        self.context = zmq.Context()
        self.codec = MessageCodec()
        self.socket = self.context.socket(zmq.ROUTER)
        self.socket.linger = 0
        self.socket.router_mandatory = False
        try:
            self.socket.bind(self.local_endpoint)
        except zmq.ZMQError as exc:
            raise SocketPathError(f"cannot listen on {self.local_endpoint}: {exc}") from None
        self.curve: CurveServer | None = None
        self.remote_endpoint: str | None = None
        if settings.bind:
            if settings.curve_keys:
                self.curve = CurveServer(self.context, settings.curve_keys)
                self.curve.secure(self.socket)
            self.socket.bind(settings.bind)
            self.remote_endpoint = self.socket.last_endpoint.decode()
            log.info("accepting remote workers on %s", self.remote_endpoint)

    # --- lifecycle

    def start(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stop_requested = signal.Signals(signum).name

    def close(self) -> None:
        """Shutdown in named phases; safe to call after any failure."""
        log.info("shutdown: telling %d worker(s) to leave", len(self.workers))
        for identity in list(self.workers):
            self._send(identity, Disconnect(SHUTDOWN_REASON))
        log.info("shutdown: stopping local workers")
        self.local.stop(told=[w.pid for w in self.workers.values() if w.label == f"{HOST}:{w.pid}"])
        log.info("shutdown: closing the socket")
        self.noise.close()
        if self.curve is not None:
            self.curve.stop()
        self.socket.close(linger=0)
        self.context.term()
        os.close(self._wake_read)
        os.close(self._wake_write)
        self._socket_dir.cleanup()
        self._tmp.cleanup()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)

    # --- one database

    def process(self, path: Path) -> RunSummary:
        """Compute one database's metrics; skips a finished one unless ``force``.

        The plan takes time order on trust from a few probes, and workers check it
        on every row they read; if one finds a table out of order, the database is
        planned again from a full scan and computed from the start.
        """
        started = time.perf_counter()
        try:
            try:
                summary = self._process(path, full_scan=False)
            except TableOutOfOrder as exc:
                log.warning("%s: %s; planning again from a full scan", path.name, exc)
                self._abandon_in_flight()
                summary = self._process(path, full_scan=True)
        except (InputFileError, sqlite3.OperationalError):
            self._abandon_in_flight()  # the next database must not take these answers
            raise
        if summary.skipped:
            return summary
        return msgspec.structs.replace(summary, seconds=time.perf_counter() - started)

    def _process(self, path: Path, *, full_scan: bool) -> RunSummary:
        """One attempt at a database; ``process`` times the whole of it."""
        s = self.settings
        repo = SQLiteOrderflowRepository(path)
        reader = repo.connect(PROBE_CACHE_KIB)  # validates the schema before any write
        index: str | None = None
        metrics = SQLiteMetricsRepository(path)
        try:
            fingerprint = repo.input_fingerprint(reader)
            key = config_key(
                s.depth,
                s.instruments,
                fingerprint,
                s.ofi_levels,
                s.heatmap_bucket_ms,
                s.heatmap_ticks,
            )
            writer = ShardWriter(metrics, key, s.ofi_levels, heatmap_bucket_ms=s.heatmap_bucket_ms)
            if writer.is_finished() and not s.force:
                return RunSummary(str(path), 0, 0, 0, 0.0, skipped=True)
            with ThreadPoolExecutor(1, thread_name_prefix="orderflow-plan") as pool:
                # Scans take seconds on big files; the loop keeps heartbeats going meanwhile.
                planning = pool.submit(self._plan, path, repo, reader, full_scan)
                self._wait_for(planning)
                plan, index, rows_reader = planning.result()
                # The heatmap's bin widths: parsing sampled books takes a moment too.
                if s.heatmap_bucket_ms:
                    deciding = pool.submit(decide_ticks, reader, s.heatmap_ticks, s.instruments)
                    self._wait_for(deciding)
                    writer.decide_ticks = deciding.result
            todo = writer.begin(plan, repo, reader, force=s.force or full_scan)
            # An earlier run's committed shards are not this run's work (or its rate).
            before = (writer.snapshots, writer.rejects) if writer.resumed_shards else (0, 0)
            progress = ProgressReporter(
                path.name, plan.book_scan.rows, quiet=s.quiet, updates=s.log_frequency
            )
            check = ResultCheck(reader, s.instruments)
            run = DatabaseRun(plan, writer, rows_reader, reader, progress, index, check)
            run.queue = [shard.shard_no for shard in todo]
            heapq.heapify(run.queue)
            self.run = run
            log.info(
                "%s: %d shards to compute, %d in the plan",
                path,
                len(todo),
                len(plan.shards),
            )
            self._loop(run)
            check_complete(
                metrics.conn,
                key,
                plan,
                filtered=bool(s.instruments),
                count_book=lambda: repo.count_rows(reader, "book"),
            )
            writer.finish()
            progress.update(plan.book_scan.rows)
            progress.finish()
        finally:
            self.run = None
            metrics.close()
            reader.close()
            if index is not None:
                Path(index).unlink(missing_ok=True)
        return RunSummary(
            str(path),
            writer.snapshots - before[0],
            writer.rejects - before[1],
            writer.trades,
            0.0,
            shards=len(writer.shards) - writer.resumed_shards,
            workers=run.peak_workers,
            resumed=before[0],
        )

    def _plan(
        self,
        path: Path,
        repo: SQLiteOrderflowRepository,
        reader: sqlite3.Connection,
        full_scan: bool,
    ) -> tuple[ShardPlan, str | None, TimeOrderedReader]:
        """Probe or scan, sort what is out of order, and plan (off the loop's thread)."""
        s = self.settings
        scans = None if full_scan else self._probe(repo, reader)
        if scans is None:
            scans = repo.scan_order(reader, "book"), repo.scan_order(reader, "trades")
        book_scan, trade_scan = scans
        unordered = [sc for sc in (book_scan, trade_scan) if not sc.time_ordered]
        index = self._order_index(path, unordered)
        plan = plan_shards(
            reader,
            str(path),
            book_scan,
            trade_scan,
            shard_rows=s.shard_rows,
            shards=s.shards,
            order_index=index,
        )
        return plan, index, TimeOrderedReader(repo, reader, index)

    def _probe(
        self, repo: SQLiteOrderflowRepository, reader: sqlite3.Connection
    ) -> tuple[OrderScan, OrderScan] | None:
        """Scans from probes whose spacing divides the shard size, or None when only a
        full scan will do (probes out of order, or too many of them)."""
        s = self.settings
        span = repo.id_span(reader, "book")
        every = probe_every(span, s.shard_rows, s.shards)
        if every is None:
            return None
        book_scan = repo.probe_order(reader, "book", every)
        trade_scan = repo.probe_order(reader, "trades")
        if book_scan is None or trade_scan is None:
            return None
        return book_scan, trade_scan

    def _abandon_in_flight(self) -> None:
        """Forget every dispatched shard; their late answers are dropped on arrival."""
        self.in_flight.clear()
        for worker in self.workers.values():
            worker.task_id = None

    def _wait_for(self, future: Future) -> None:
        """Serve workers (heartbeats, joins, expiry) until ``future`` is done. Its end
        writes to a pipe the poll watches too, so the run goes on at once, not up to
        ``POLL_MS`` later (that was twice per database, a tenth of a small run)."""
        future.add_done_callback(self._wake)
        while not future.done():
            if self.stop_requested:
                future.cancel()
                raise Interrupted(self.stop_requested)
            self._receive(POLL_MS)
            self._expire_silent_workers()
            self._send_heartbeats()
            self._watch_local_workers()

    def _wake(self, _: Future) -> None:
        """Wake the loop's poll (called on the planning thread as a future ends)."""
        with contextlib.suppress(BlockingIOError):  # full of unread wake-ups: it wakes anyway
            os.write(self._wake_write, b"!")

    def _order_index(self, path: Path, unordered: list[OrderScan]) -> str | None:
        """Sort tables whose ids are out of time order once, into a scratch file."""
        if not unordered:
            return None
        self.indexes_built += 1
        index = f"{self._tmp.name}/order-{self.indexes_built}.db"
        started = time.perf_counter()
        try:
            build_order_index(path, index, [sc.table for sc in unordered])
        except sqlite3.OperationalError as exc:
            raise InputFileError(
                self._tmp.name,
                f"the scratch directory has no room to sort the ids of {path} ({exc});"
                " set TMPDIR to a directory with more space",
            ) from None
        log.info(
            "%s: ids of %s are out of time order; sorted them in %.2fs",
            path.name,
            " and ".join(sc.table for sc in unordered),
            time.perf_counter() - started,
        )
        return index

    def _loop(self, run: DatabaseRun) -> None:
        while not run.writer.done:
            if self.stop_requested:
                log.info(
                    "%s: stopping intake; %d of %d shards committed",
                    self.stop_requested,
                    run.writer.next_shard,
                    len(run.writer.shards),
                )
                raise Interrupted(self.stop_requested)
            self._dispatch(run)
            self._receive(POLL_MS)
            self._expire_silent_workers()
            self._send_heartbeats()
            self._watch_local_workers()
            run.peak_workers = max(run.peak_workers, len(self.workers))

    # --- the concerns, one method each

    def _dispatch(self, run: DatabaseRun) -> None:
        """Give each idle worker the lowest queued shard inside the window."""
        limit = run.writer.next_shard + WINDOW_PER_WORKER * max(1, len(self.workers))
        for identity, worker in self.workers.items():
            if not run.queue or run.queue[0] >= limit:
                return
            if worker.task_id is not None:
                continue
            shard = run.writer.shards[heapq.heappop(run.queue)]
            task_id = self.next_task_id
            self.next_task_id += 1
            plan = run.plan
            task = Task(
                task_id=task_id,
                path=plan.path,
                shard_no=shard.shard_no,
                start_ns=shard.start_ns,
                end_ns=shard.end_ns,
                book_scan=trim_scan(plan.book_scan, shard.start_ns, shard.end_ns),
                trade_scan=trim_scan(plan.trade_scan, shard.start_ns, shard.end_ns),
                depth=self.settings.depth,
                instruments=self.settings.instruments,
                ofi_levels=self.settings.ofi_levels,
                heatmap_ticks=run.writer.heatmap_ticks,
                heatmap_bucket_ms=run.writer.heatmap_bucket_ms,
            )
            self.in_flight[task_id] = InFlight(shard, identity, time.monotonic(), task)
            worker.task_id = task_id
            self._send(identity, task)
            log.debug("shard %d -> worker %s (task %d)", shard.shard_no, worker.label, task_id)

    def _receive(self, timeout_ms: int) -> None:
        """Handle every message that arrives within ``timeout_ms`` (or until a wake-up)."""
        ready = dict(self.poller.poll(timeout_ms))
        if self._wake_read in ready:
            os.read(self._wake_read, 4096)  # what ended is the caller's to check
        if self.socket not in ready:
            return
        for _ in range(MESSAGES_PER_RECEIVE):
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            if len(frames) != 2:
                self.noise.warning("odd messages", "dropped a %d-frame message", len(frames))
                continue
            identity = frames[0].bytes
            if identity in self.dropped:
                continue
            limit = self._frame_limit(identity)
            if len(frames[1]) > limit:
                self.noise.warning(
                    "oversized frames",
                    "dropped a %d-byte frame, larger than its sender could need (%d)",
                    len(frames[1]),
                    limit,
                )
                continue
            try:
                message = self.codec.decode(frames[1].buffer)
            except MalformedMessage as exc:
                self.noise.warning("malformed messages", "dropped malformed message: %s", exc)
                continue
            self._handle(identity, message)

    def _frame_limit(self, identity: bytes) -> int:
        """The largest frame this sender may send now: a worker with a task in flight
        may send that shard's result, anyone else only small messages."""
        worker = self.workers.get(identity)
        entry = self.in_flight.get(worker.task_id) if worker and worker.task_id else None
        if entry is None:
            return MAX_SMALL_FRAME_BYTES
        return max(MAX_SMALL_FRAME_BYTES, max_result_bytes(entry.task))

    def _handle(self, identity: bytes, message: Message) -> None:
        now = time.monotonic()
        worker = self.workers.get(identity)
        if isinstance(message, Ready):
            if worker is not None:
                self._requeue(identity, "said Ready again")
            self.workers[identity] = WorkerState(f"{message.host}:{message.pid}", message.pid, now)
            log.info(
                "worker %s:%d joined (%d now)",
                message.host,
                message.pid,
                len(self.workers),
            )
            return
        if worker is None:
            if not isinstance(message, Disconnect):
                self.noise.warning(
                    "messages from unknown peers",
                    "a %s from a peer that has not said Ready",
                    type(message).__name__,
                )
                self._send(identity, Disconnect("unknown worker; say Ready"))
            return
        worker.last_seen = now
        if isinstance(message, Result):
            self._on_result(identity, worker, message)
        elif isinstance(message, RowsRequest):
            self._on_rows_request(identity, worker, message)
        elif isinstance(message, Failed):
            self._on_failed(identity, worker, message)
        elif isinstance(message, OutOfOrder):
            if message.task_id in self.in_flight and self.run is not None:
                raise TableOutOfOrder(message.table, message.row_id)
        elif isinstance(message, Disconnect):
            self._requeue(identity, f"left ({message.reason})")
            del self.workers[identity]
        elif not isinstance(message, Heartbeat):
            self.noise.warning(
                "unexpected messages",
                "dropped unexpected %s from %s",
                type(message).__name__,
                worker.label,
            )

    def _on_result(self, identity: bytes, worker: WorkerState, result: Result) -> None:
        entry = self.in_flight.get(result.task_id)
        if entry is None or entry.identity != identity or self.run is None:
            log.info(
                "dropped a late result for task %d from %s",
                result.task_id,
                worker.label,
            )
            return
        run = self.run
        try:
            run.check.check(entry.task, result)
        except BadResult as exc:
            self._refuse(identity, worker, entry.shard.shard_no, str(exc))
            return
        del self.in_flight[result.task_id]
        worker.task_id = None
        self._dispatch(run)  # its next shard first, so the worker computes while we commit
        try:
            committed = run.writer.accept(entry.shard.shard_no, result, worker.label)
        except sqlite3.IntegrityError as exc:  # passed its check, clashed with another shard
            shard_no = run.writer.next_shard
            log.warning("shard %d could not be committed (%s); re-queued", shard_no, exc)
            heapq.heappush(run.queue, shard_no)
            return
        if committed:
            run.progress.update(run.writer.snapshots + run.writer.rejects)

    def _refuse(self, identity: bytes, worker: WorkerState, shard_no: int, problem: str) -> None:
        """Drop a result that does not fit its task and re-queue the shard; a worker
        that keeps sending such results is dropped for good."""
        worker.bad_results += 1
        log.warning("dropped the result of shard %d from %s: %s", shard_no, worker.label, problem)
        self._requeue(identity, "sent a bad result")
        if worker.bad_results >= MAX_BAD_RESULTS:
            log.warning("worker %s dropped after %d bad results", worker.label, worker.bad_results)
            self._send(identity, Disconnect(SHUTDOWN_REASON))
            del self.workers[identity]
            self.dropped.add(identity)

    def _on_rows_request(self, identity: bytes, worker: WorkerState, req: RowsRequest) -> None:
        entry = self.in_flight.get(req.task_id)
        if entry is None or entry.identity != identity or self.run is None:
            self.noise.warning(
                "row requests for others' tasks",
                "refused %s rows of task %d, which it does not hold",
                worker.label,
                req.task_id,
            )
            return
        log.info(
            "worker %s cannot open the file (%s); shipping shard %d's rows",
            worker.label,
            req.problem,
            entry.shard.shard_no,
        )
        run = self.run
        rows = collect_rows(
            run.rows, run.reader, run.plan, req.task_id, entry.shard, self.settings.instruments
        )
        self._send(identity, rows)

    def _on_failed(self, identity: bytes, worker: WorkerState, failed: Failed) -> None:
        entry = self.in_flight.get(failed.task_id)
        if entry is None or self.run is None:
            return
        shard_no = entry.shard.shard_no
        count = self.run.failures[shard_no] = self.run.failures.get(shard_no, 0) + 1
        log.warning("shard %d failed on %s: %s", shard_no, worker.label, failed.error)
        if count >= MAX_SHARD_FAILURES:
            raise ShardFailed(f"shard {shard_no} failed {count} times: {failed.error}")
        self._requeue(identity, "failed a shard")

    def _expire_silent_workers(self) -> None:
        limit = silence_limit_s()
        now = time.monotonic()
        for identity, worker in list(self.workers.items()):
            if now - worker.last_seen > limit:
                self._requeue(identity, f"silent for {now - worker.last_seen:.1f}s")
                del self.workers[identity]

    def _requeue(self, identity: bytes, why: str) -> None:
        """Put the worker's in-flight shard back at the front of the queue."""
        worker = self.workers[identity]
        task_id, worker.task_id = worker.task_id, None
        entry = self.in_flight.pop(task_id, None) if task_id is not None else None
        if entry is not None and self.run is not None:
            heapq.heappush(self.run.queue, entry.shard.shard_no)
            log.warning(
                "worker %s %s; shard %d re-queued",
                worker.label,
                why,
                entry.shard.shard_no,
            )
        else:
            log.warning("worker %s %s", worker.label, why)

    def _send_heartbeats(self) -> None:
        now = time.monotonic()
        if now - self.last_heartbeat < HEARTBEAT_INTERVAL_S:
            return
        self.last_heartbeat = now
        self.noise.tick()
        for identity in self.workers:
            self._send(identity, Heartbeat())

    def _watch_local_workers(self) -> None:
        """A local worker that exited is known dead now, without waiting for silence."""
        dead = set(self.local.replace_dead())
        for identity, worker in list(self.workers.items()):
            if worker.pid in dead and worker.label == f"{HOST}:{worker.pid}":
                self._requeue(identity, "exited")
                del self.workers[identity]
        if self.local.all_dead() and not self.workers and self.remote_endpoint is None:
            raise ShardFailed("every local worker exited; run with --log-level INFO to see why")

    def _send(self, identity: bytes, message: Message) -> None:
        try:
            self.socket.send_multipart([identity, self.codec.encode(message)], zmq.NOBLOCK)
        except zmq.ZMQError as exc:  # peer gone or its queue full: expiry handles it
            log.debug("send to a worker failed: %s", exc)
