"""Intake off the event loop: the CPU-bound checks of each submission in worker processes.

Opening a seal, verifying signatures and checking every statement of a batch against the
contract (protovalidate), identifiers and permissions costs tens of microseconds per record,
all of it Python holding the GIL (docs/performance.md, Gateway). On the event-loop thread that
work bounds a node to one core and stalls every other call while a batch is checked. So a node
runs its :class:`~creditlink.gateway.intake.Intake` in a pool of worker processes: the loop
only moves bytes, appends and answers, and batches from several streams (or the several
batches of one stream's window) are checked in parallel, one per core.

Two runners with one interface (:class:`IntakeRunner`):

- :class:`IntakeWorkers` — a process pool. Each worker builds its own ``Intake`` once, loading
  the node's sealing key from the credentials directory (the key never crosses a pipe). Every
  task carries the node's current trust bundle (a verified bundle pickles as its envelope and
  is parsed once per worker, ``TrustBundle.__reduce__``) and the node's clock reading, so a
  worker judges exactly as the event loop would, even right after a trust-bundle update.
  Errors come back whole (``CreditlinkError.__reduce__``): the same reason, message and field
  violations as in-process. Workers fork from a ``forkserver`` that has already imported the
  intake, so a pool starts in milliseconds, and never from the gRPC process itself (forking a
  process with gRPC's threads running is unsafe).
  As with any ``multiprocessing`` program, workers import the parent's main module: a script
  that starts a gateway must guard its entry point with ``if __name__ == "__main__":``
  (``creditlink serve`` does).
- :class:`InlineIntake` — the same calls on the event-loop thread (``intake_workers = 0``), for
  tiny deployments and debugging.

Handing a task to a worker costs the event loop a few hundred microseconds (pickling, pipes,
the pool's threads): more than checking one small message. So the node gives the pool an
in-place intake as well, and a single message of up to :data:`IN_PLACE_MAX_BYTES` is checked on
the loop; batches, and larger messages, go to the workers.

A worker that dies (killed, out of memory) breaks the pool: the call in flight fails with
``UNAVAILABLE`` (``INTAKE_UNAVAILABLE``, nothing was stored, the client retries) and the next
call gets a fresh pool.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime, timedelta
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Final, Literal, Protocol

from creditlink.gateway import heap
from creditlink.gateway.intake import Intake
from creditlink.gateway.ledger import Submission
from creditlink.sdk.errors import CreditlinkError, Unavailable
from creditlink.sdk.keys import SealingPrivateKey, load_private_key
from creditlink.sdk.trust import TrustBundle

__all__ = [
    "IN_PLACE_MAX_BYTES",
    "MAX_AUTO_WORKERS",
    "InlineIntake",
    "IntakeRunner",
    "IntakeStartError",
    "IntakeWorkers",
    "WorkerSettings",
    "auto_worker_count",
]

#: ``intake_workers = "auto"`` uses one worker per CPU, up to this many.
MAX_AUTO_WORKERS: Final = 8

_Path = Literal["single", "batch"]
#: A chunk of jobs for one worker task holds at most this many jobs and (beyond its first job)
#: this many sealed bytes: small messages travel together, large batches one per task.
_CHUNK_JOBS: Final = 64
_CHUNK_BYTES: Final = 256 * 1024
#: With an in-place intake, single messages up to this size are checked on the event loop: a
#: hand-off to a worker costs the loop more than checking a small message itself (measured:
#: unary ``Submit`` 1,030-1,240 calls/s in place against 660-960 through the workers, on 2
#: CPUs, docs/performance.md), while a larger one still goes to a worker so that checking it
#: never stalls the loop for long.
IN_PLACE_MAX_BYTES: Final = 16 * 1024


@dataclass(frozen=True, slots=True)
class _Job:
    path: _Path
    sealed: bytes
    peer: str
    request_id: str | None


def auto_worker_count() -> int:
    """One worker per CPU this process may run on, between 1 and :data:`MAX_AUTO_WORKERS`."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_AUTO_WORKERS))


class IntakeStartError(CreditlinkError):
    """The intake workers cannot work (e.g. the sealing key cannot be loaded)."""

    default_reason = "INTAKE_START_FAILED"


class IntakeRunner(Protocol):
    """Runs the intake of sealed submissions (see the module docstring)."""

    async def single(self, sealed: bytes, *, peer: str, request_id: str | None) -> Submission:
        """:meth:`Intake.single`, wherever it runs."""
        ...

    async def batch(self, sealed: bytes, *, peer: str, request_id: str | None) -> Submission:
        """:meth:`Intake.batch`, wherever it runs."""
        ...

    async def start(self) -> None:
        """Be ready to take calls."""
        ...

    async def close(self) -> None:
        """Finish the calls in flight and release what the runner holds."""
        ...


class InlineIntake:
    """The intake on the event-loop thread (no worker processes)."""

    def __init__(self, intake: Intake) -> None:
        """Run ``intake`` in place."""
        self._intake = intake

    async def single(self, sealed: bytes, *, peer: str, request_id: str | None) -> Submission:
        """:meth:`Intake.single` in place."""
        return self._intake.single(sealed, peer=peer, request_id=request_id)

    async def batch(self, sealed: bytes, *, peer: str, request_id: str | None) -> Submission:
        """:meth:`Intake.batch` in place."""
        return self._intake.batch(sealed, peer=peer, request_id=request_id)

    async def start(self) -> None:
        """Nothing to start."""

    async def close(self) -> None:
        """Nothing to release."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSettings:
    """What each worker needs to build its :class:`Intake` (all of it picklable, no secrets)."""

    node_id: str
    #: The node's sealing key file (PKCS#8, 0600), read by each worker itself.
    sealing_key_path: Path
    upstream: str | None = None
    replay_window: timedelta = timedelta(hours=24)
    max_clock_skew: timedelta = timedelta(minutes=5)


class IntakeWorkers:
    """The intake in a pool of ``processes`` worker processes (see the module docstring)."""

    def __init__(
        self,
        settings: WorkerSettings,
        *,
        processes: int,
        trust: Callable[[], TrustBundle],
        clock: Callable[[], datetime],
        in_place: Intake | None = None,
    ) -> None:
        """Prepare a pool; :meth:`start` starts it.

        ``in_place``, an intake of the same node in this process, checks single messages of
        at most :data:`IN_PLACE_MAX_BYTES` on the event loop instead of handing them over;
        batches always go to the workers.
        """
        if processes < 1:
            raise ValueError("an intake pool needs at least one process")
        self._in_place = in_place
        self._settings = settings
        self._processes = processes
        self._trust = trust
        self._clock = clock
        self._pool: ProcessPoolExecutor | None = None
        # Held open by this process alone, for as long as it may run workers: a worker reads
        # end of file when the gateway is gone, however it ended (see _watch_gateway).
        self._alive: tuple[Connection, Connection] | None = None
        self._queue: collections.deque[tuple[_Job, asyncio.Future[Submission]]] = (
            collections.deque()
        )
        self._in_flight = 0

    @property
    def processes(self) -> int:
        """How many worker processes the pool runs."""
        return self._processes

    async def start(self) -> None:
        """Start the workers and wait until each has built its intake.

        Raises :class:`IntakeStartError` (naming the cause) if the workers cannot load the
        sealing key: before serving, rather than on the first submission.
        """
        loop = asyncio.get_running_loop()
        # Every helper process multiprocessing starts here (its resource tracker, the fork
        # server, the workers) inherits the blocked signals for good: see _signals_blocked.
        with _signals_blocked():
            if self._pool is None:
                self._pool = self._new_pool()
            pool = self._pool
            # One ping per worker: the pool starts a process for each (synchronously, in
            # submit), and the first task of each runs the initializer, where a bad key file
            # would surface.
            pings = [loop.run_in_executor(pool, _ping) for _ in range(self._processes)]
        try:
            await asyncio.gather(*pings)
        except BrokenProcessPool:
            self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise IntakeStartError(
                "the intake worker processes could not start. A program that starts a gateway "
                "must guard its entry point with `if __name__ == '__main__':` (worker processes "
                "import the main module), or set intake_workers = 0 to check on the event loop"
            ) from None

    async def close(self) -> None:
        """Let the tasks in flight finish, then stop the workers."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.get_running_loop().run_in_executor(None, pool.shutdown, True)
        alive, self._alive = self._alive, None
        if alive is not None:
            for end in alive:
                end.close()

    async def single(self, sealed: bytes, *, peer: str, request_id: str | None) -> Submission:
        """:meth:`Intake.single` in a worker, or in place if small (see ``in_place``)."""
        if self._in_place is not None and len(sealed) <= IN_PLACE_MAX_BYTES:
            return self._in_place.single(sealed, peer=peer, request_id=request_id)
        return await self._submit(_Job("single", sealed, peer, request_id))

    async def batch(self, sealed: bytes, *, peer: str, request_id: str | None) -> Submission:
        """:meth:`Intake.batch` in a worker."""
        return await self._submit(_Job("batch", sealed, peer, request_id))

    def _new_pool(self) -> ProcessPoolExecutor:
        if self._alive is None:
            self._alive = _context().Pipe(duplex=False)
        return ProcessPoolExecutor(
            max_workers=self._processes,
            mp_context=_context(),
            initializer=_initialize,
            initargs=(self._settings, self._alive[0]),
        )

    # Dispatch. Handing one task to a worker costs a few hundred microseconds (pickling, a
    # pipe, the pool's feeder thread): as much as checking a small message. So jobs queue
    # here and go to the workers in chunks: while every worker is busy, what arrives
    # accumulates and leaves as one task; under light load a job leaves alone, at once. A chunk
    # is bounded in bytes so that large batches still spread over the workers one per task.

    async def _submit(self, job: _Job) -> Submission:
        future: asyncio.Future[Submission] = asyncio.get_running_loop().create_future()
        self._queue.append((job, future))
        self._dispatch()
        return await future

    def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        # One chunk per worker plus one waiting in the pool, so a worker that finishes finds
        # its next chunk ready while this loop builds the one after.
        while self._queue and self._in_flight <= self._processes:
            chunk: list[tuple[_Job, asyncio.Future[Submission]]] = []
            size = 0
            while self._queue and (
                not chunk
                or (
                    len(chunk) < _CHUNK_JOBS
                    and size + len(self._queue[0][0].sealed) <= _CHUNK_BYTES
                )
            ):
                item = self._queue.popleft()
                if item[1].done():
                    continue  # its caller gave up: no need to check it
                chunk.append(item)
                size += len(item[0].sealed)
            if not chunk:
                continue
            jobs = [job for job, _ in chunk]
            pool = self._live_pool()
            try:
                task = loop.run_in_executor(pool, _check_chunk, self._trust(), self._clock(), jobs)
            except BrokenProcessPool:
                # The pool learned of a dead worker before this chunk reached it: nothing of
                # the chunk ran, so it goes to a fresh pool instead of failing.
                self._drop(pool)
                pool = self._live_pool()
                task = loop.run_in_executor(pool, _check_chunk, self._trust(), self._clock(), jobs)
            self._in_flight += 1
            task.add_done_callback(functools.partial(self._finished, pool, chunk))

    def _live_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = self._new_pool()
        return self._pool

    def _drop(self, pool: ProcessPoolExecutor) -> None:
        if self._pool is pool:
            self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)

    def _finished(
        self,
        pool: ProcessPoolExecutor,
        chunk: list[tuple[_Job, asyncio.Future[Submission]]],
        task: asyncio.Future[list[Submission | CreditlinkError]],
    ) -> None:
        self._in_flight -= 1
        outcomes: Sequence[Submission | BaseException]
        try:
            outcomes = task.result()
        except BrokenProcessPool:
            # A worker died (killed, out of memory): nothing of these jobs was stored. The
            # next dispatch starts a fresh pool; these callers are refused as retryable.
            self._drop(pool)
            outcomes = [
                Unavailable("an intake worker process stopped; retry", reason="INTAKE_UNAVAILABLE")
                for _ in chunk
            ]
        except BaseException as exc:  # a bug or cancellation: every caller of the chunk hears it
            outcomes = [exc for _ in chunk]
        for (_, future), outcome in zip(chunk, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
        self._dispatch()


#: What the gateway does on a signal is the gateway's to decide: stop (SIGINT, SIGTERM) or
#: reread its holiday table (SIGHUP).
_GATEWAY_SIGNALS: Final = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """Block the gateway's signals in this thread while it starts helper processes.

    Ctrl+C in a terminal signals the whole process group, and so do systemd's default stop
    (every process of the unit) and a terminal's hangup. The processes multiprocessing starts
    for the pool would obey: a worker dies with a KeyboardInterrupt traceback or silently in
    the middle of the gateway's graceful drain, the fork server (through which a forked
    worker's end is reported) takes the whole pool with it, and the resource tracker, which
    ignores only SIGINT and SIGTERM, dies on a hangup and is relaunched without what it
    tracked. A child inherits its parent's signal mask through fork and exec, so whatever is
    started inside this block keeps these signals blocked for good, while the gateway gets
    any that arrived meanwhile as soon as the block ends. The gateway shuts the pool down once
    it has drained; a worker whose gateway is gone ends by itself (:func:`_watch_gateway`), the
    fork server and the tracker when the gateway's ends of their pipes close.
    """
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not on Linux
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _GATEWAY_SIGNALS)
    try:
        # The tracker is started first, on its own: starting it unblocks SIGINT and SIGTERM in
        # the calling thread afterwards (multiprocessing.resource_tracker.ensure_running), so
        # the block is set again for what is started after it. Once running, it is left alone.
        resource_tracker.ensure_running()
        signal.pthread_sigmask(signal.SIG_BLOCK, _GATEWAY_SIGNALS)
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


_CONTEXT: multiprocessing.context.ForkServerContext | None = None


def _context() -> multiprocessing.context.BaseContext:
    global _CONTEXT
    if not hasattr(os, "fork"):  # pragma: no cover - not on Linux
        return multiprocessing.get_context("spawn")
    if _CONTEXT is None:
        context = multiprocessing.get_context("forkserver")
        # Imported once by the fork server; every worker forks with it already loaded.
        context.set_forkserver_preload([__name__])
        _CONTEXT = context
    return _CONTEXT


# --- in the worker process ------------------------------------------------------------------


@dataclass(slots=True)
class _Task:
    trust: TrustBundle | None = None
    now: datetime | None = None


_TASK = _Task()
_INTAKE: Intake | None = None
_INIT_ERROR: str | None = None


def _intake() -> Intake:
    if _INTAKE is None:
        raise IntakeStartError(_INIT_ERROR or "the intake worker was not initialized")
    return _INTAKE


def _task_trust() -> TrustBundle:
    assert _TASK.trust is not None
    return _TASK.trust


def _task_now() -> datetime:
    assert _TASK.now is not None
    return _TASK.now


def _watch_gateway(alive: Connection) -> None:
    """End this worker when the gateway that started it is gone.

    A pool's workers wait for tasks on a pipe they also hold the writing end of, so a gateway
    killed with SIGKILL would leave them (and the fork server, which they keep alive) running
    for good. The gateway never writes to ``alive``: reading it returns only at end of file,
    when the gateway's end is closed, which the kernel does whenever the gateway ends.
    """

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            alive.recv_bytes()
        os._exit(0)  # the gateway is gone: nobody waits for anything this worker does

    threading.Thread(target=watch, name="creditlink-gateway-watch", daemon=True).start()


def _ignore_gateway_signals() -> None:
    # Inherited blocked already from _signals_blocked; said again for the workers of a fork
    # server started outside it (after the first one was killed) and for the "spawn" method.
    for sig in _GATEWAY_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def _initialize(settings: WorkerSettings, alive: Connection) -> None:
    # A failure here is kept and reported by every task (an initializer that raises only
    # breaks the pool, and the parent would never learn why).
    global _INTAKE, _INIT_ERROR
    _ignore_gateway_signals()
    _watch_gateway(alive)
    try:
        key = load_private_key(settings.sealing_key_path)
    except (OSError, CreditlinkError, ValueError) as exc:
        _INIT_ERROR = f"cannot load the sealing key {settings.sealing_key_path}: {exc}"
        return
    if not isinstance(key, SealingPrivateKey):
        _INIT_ERROR = f"{settings.sealing_key_path} does not hold a sealing key"
        return
    _INTAKE = Intake(
        node_id=settings.node_id,
        trust=_task_trust,
        sealing_keys=[key],
        clock=_task_now,
        replay_window=settings.replay_window,
        max_clock_skew=settings.max_clock_skew,
        upstream=settings.upstream,
    )
    heap.settle()  # a worker checks whole chunks of a batch at once, as the gateway appends them


def _ping() -> int:
    _intake()
    return os.getpid()


def _check_chunk(
    trust: TrustBundle, now: datetime, jobs: list[_Job]
) -> list[Submission | CreditlinkError]:
    intake = _intake()
    _TASK.trust, _TASK.now = trust, now
    outcomes: list[Submission | CreditlinkError] = []
    try:
        for job in jobs:
            run = intake.single if job.path == "single" else intake.batch
            try:
                outcomes.append(run(job.sealed, peer=job.peer, request_id=job.request_id))
            except CreditlinkError as exc:
                outcomes.append(exc)
    finally:
        _TASK.trust = _TASK.now = None
    return outcomes
