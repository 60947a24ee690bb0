"""Ring workers: the threads that serve the daemon's rings, one per device group.

Theory of operation
-------------------
Each worker is one thread that owns a group of rings (a disk or a
drive alone; a library's changer together with its drives, because
MOVE MEDIUM changes the drives' state) and everything those devices
hold. It waits in ``poll(2)`` on the rings' file descriptors
(``/dev/uioN``) and on a wake-up pipe of its own; a readable ring is
acknowledged and walked (:meth:`~devemu.tcmu.loop.RingLoop.poll`), which
executes the commands and rings the doorbell. No lock is taken on that
path: a device's state is only ever touched by its worker's thread.

Whatever else must reach a device (a control-socket ``insert``,
``eject``, ``status``, a trace starting or ending, a deferred command's
completion, a ring being added or removed) is posted to the owning
worker with :meth:`RingWorker.call` or :meth:`RingWorker.post` and runs
there between two walks. The daemon's main thread keeps configfs,
netlink, the kernel log and the control socket.

Why threads, and how many: the time of a command that moves data is
spent in ``preadv``/``pwritev`` between the image and the shared mapping
and in the doorbell's ``write()`` (where the kernel copies data-in out of
the data area); Python releases the GIL for all three, so several rings
move large transfers at once. The walk and the answer stay under the
GIL. Threads keep each device's state in the process that reads the
configuration and answers the control socket, so a control operation is
a function posted to the worker, not a protocol between processes, and
an exception in a device already ends as HARDWARE ERROR for that command
alone. Measured in the guest (``bench/vm_fio.py --luns 1,4``, two boots
on a busy 2-core host, QEMU TCG with 2 vCPUs), four devemu LUNs at once
against the kernel's fileio:

=====================  ==========================  ======================
job, 4 LUNs            a worker per device         one worker (all rings)
=====================  ==========================  ======================
1 MiB seqread QD4      0.39x fileio, 1.43x 1 LUN   0.24x, 0.78x 1 LUN
4 KiB randread QD16    0.31x fileio, 0.80x 1 LUN   0.71x, 0.94x 1 LUN
4 KiB randwrite QD16   0.52x fileio, 1.50x 1 LUN   0.73x, 0.87x 1 LUN
=====================  ==========================  ======================

The daemon stayed at 80-123% of one vCPU either way: large transfers
overlap, but at 4 KiB the Python per command dominates and four threads
pay for handing the GIL to each other on every system call. A worker per
device group is the default (``[daemon] ring_workers = 0``); a
configuration of many LUNs doing small I/O does better with
``ring_workers = 1`` (the single loop of old) or a few. Python on both
cores takes processes: with ``[daemon] ring_processes`` the device
groups are dealt out to worker processes (:mod:`devemu.worker_process`),
each serving its rings with ring workers of its own.

A device that completes commands later (a disk on an NBD export, whose
requests are in flight on a socket while the ring is walked again) gives
its loop an :class:`~devemu.tcmu.loop.IoSource`: the worker polls that
source's file descriptor beside the rings, for the events it asks for
before each ``poll(2)`` (libnbd's direction changes as requests go out),
at most until its next deadline, and lets it run after every walk of its
ring and whenever its descriptor is ready; it answers what finished with
one doorbell.

A worker whose ring goes away (``acknowledge`` fails: the kernel removed
the device) drops that ring and tells the daemon through ``on_gone``,
which must be safe to call from any thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Protocol, TypeVar

from devemu.tcmu.loop import IoSource, RingLoop

log = logging.getLogger(__name__)

T = TypeVar("T")

_READABLE = select.POLLIN | select.POLLPRI
_GONE = select.POLLERR | select.POLLHUP | select.POLLNVAL


class Bell(Protocol):
    """A ring's file descriptor and its acknowledgement (the daemon's Channel)."""

    def fileno(self) -> int: ...

    def acknowledge(self) -> bool: ...


class RingWorker:
    """One thread serving a group of rings; see the module's theory of operation."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._poller = select.poll()
        self._poller.register(self._wake_r, select.POLLIN)
        # fd -> (bell, ring, on_gone); touched only by the worker's thread once started.
        self._rings: dict[int, tuple[Bell, RingLoop, Callable[[], None]]] = {}
        # The rings' devices' own sources, and the fd and events each is polled for now.
        self._sources: list[IoSource] = []
        self._polled: dict[IoSource, tuple[int, int]] = {}
        self._posted: deque[tuple[Callable[[], object], Future[object]]] = deque()
        # Guards _running against post(): taken per posted job, never per command.
        self._lock = threading.Lock()
        self._running = True
        self._thread = threading.Thread(target=self._run, name=f"devemu-{name}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ posting

    def post(self, work: Callable[[], T]) -> Future[T]:
        """Run ``work`` on the worker's thread; its result in the future.

        Once the worker has stopped, ``work`` runs at once in the caller's
        thread (nothing else touches the devices any more).
        """
        future: Future[T] = Future()
        with self._lock:
            running = self._running
            if running:
                self._posted.append((work, future))  # type: ignore[arg-type]
        if not running:
            _run_into(work, future)
            return future
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"\0")
        return future

    def call(self, work: Callable[[], T]) -> T:
        """Run ``work`` on the worker's thread and return its result (or raise its error)."""
        if threading.current_thread() is self._thread:
            return work()
        return self.post(work).result()

    @property
    def on_thread(self) -> bool:
        """Whether the caller is the worker's own thread."""
        return threading.current_thread() is self._thread

    # -------------------------------------------------------------- rings

    def add(self, bell: Bell, ring: RingLoop, on_gone: Callable[[], None]) -> None:
        """Serve ``ring`` (its doorbell ``bell``) from now on; walks it once at once."""

        def register() -> None:
            fd = bell.fileno()
            self._rings[fd] = (bell, ring, on_gone)
            self._poller.register(fd, _READABLE)
            if ring.io is not None:
                self._sources.append(ring.io)
            # Entries left by a previous handler are there before any doorbell.
            self._walk(ring)
            if ring.io is not None:
                self._run_source(ring.io, 0)

        self.call(register)

    def remove(self, bell: Bell) -> None:
        """Stop serving the ring of ``bell`` (the caller then closes it)."""

        def unregister() -> None:
            fd = bell.fileno()
            entry = self._rings.pop(fd, None)
            if entry is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self._poller.unregister(fd)
                self._forget(entry[1])

        self.call(unregister)

    @property
    def rings(self) -> int:
        """How many rings the worker serves."""
        return len(self._rings)

    # --------------------------------------------------------------- stop

    def stop(self) -> None:
        """End the thread after the jobs posted so far; later posts run in the caller."""
        with self._lock:
            self._running = False
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"\0")
        if threading.current_thread() is not self._thread:
            self._thread.join()
        self._run_posted()
        os.close(self._wake_r)
        os.close(self._wake_w)

    # ---------------------------------------------------------------- run

    def _forget(self, ring: RingLoop) -> None:
        """Stop polling the source of ``ring``'s device."""
        io = ring.io
        if io is None or io not in self._sources:
            return
        self._sources.remove(io)
        fd, _events = self._polled.pop(io, (-1, 0))
        if fd >= 0 and not any(f == fd for f, _ in self._polled.values()):
            with contextlib.suppress(KeyError, ValueError):
                self._poller.unregister(fd)

    def _arm(self) -> float | None:
        """Poll each source's descriptor for what it wants now; the poll timeout in ms."""
        timeout: float | None = None
        polled = self._polled
        poller = self._poller
        for io in self._sources:
            try:
                fd = io.fileno()
                events = io.events() if fd >= 0 else 0
                left = io.timeout()
            except Exception:  # the worker serves on; the source's ready() sees it
                log.exception("polling the completions of a device failed")
                fd, events, left = -1, 0, 1.0
            now = (fd, events) if events else (-1, 0)
            was = polled.get(io, (-1, 0))
            if now != was:
                if was[0] >= 0:
                    with contextlib.suppress(KeyError, ValueError):
                        poller.unregister(was[0])
                if now[0] >= 0:
                    poller.register(now[0], now[1])
                polled[io] = now
            if left is not None and (timeout is None or left < timeout):
                timeout = left
        return None if timeout is None else max(0.0, timeout * 1000.0)

    def _run(self) -> None:
        poll = self._poller.poll
        rings = self._rings
        wake = self._wake_r
        while True:
            try:
                ready = poll(self._arm() if self._sources else None)
            except InterruptedError:
                continue
            if self._sources:
                self._run_sources(ready)
            for fd, events in ready:
                if fd == wake:
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake, 4096)
                    self._run_posted()
                    continue
                entry = rings.get(fd)
                if entry is None:
                    continue
                bell, ring, on_gone = entry
                if events & _GONE or not bell.acknowledge():
                    log.warning("%s: the ring went away", ring.name)
                    rings.pop(fd, None)
                    with contextlib.suppress(KeyError, ValueError):
                        self._poller.unregister(fd)
                    self._forget(ring)
                    on_gone()
                    continue
                self._walk(ring)
                if ring.io is not None:
                    self._run_source(ring.io, 0)
            if not self._running:
                with self._lock:
                    if not self._running:
                        return

    def _run_sources(self, ready: list[tuple[int, int]]) -> None:
        """Let every source run: with its events when its descriptor is ready, else to
        see its deadlines."""
        revents = dict(ready) if ready else {}
        for io in list(self._sources):
            fd = self._polled.get(io, (-1, 0))[0]
            self._run_source(io, revents.get(fd, 0) if fd >= 0 else 0)

    @staticmethod
    def _run_source(io: IoSource, revents: int) -> None:
        try:
            io.ready(revents)
        except Exception:  # the source answers its commands; the worker serves on
            log.exception("running the completions of a device failed")

    @staticmethod
    def _walk(ring: RingLoop) -> None:
        try:
            ring.poll()
        except Exception:  # the loop answers what it can; the worker serves on
            log.exception("%s: walking the ring failed", ring.name)

    def _run_posted(self) -> None:
        posted = self._posted
        while posted:
            work, future = posted.popleft()
            _run_into(work, future)


def _run_into(work: Callable[[], T], future: Future[T]) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = work()
    except BaseException as err:
        future.set_exception(err)
    else:
        future.set_result(result)


def workers_for(devices: Iterable[tuple[str, str]], limit: int) -> dict[str, RingWorker]:
    """A worker for each ``(device name, group)``: one per group (an empty group is
    the device alone), or, with ``limit``, at most that many shared out in turn."""
    by_group: dict[str, RingWorker] = {}
    started: list[RingWorker] = []
    chosen: dict[str, RingWorker] = {}
    for name, group in devices:
        key = group or name
        worker = by_group.get(key)
        if worker is None:
            if limit and len(started) >= limit:
                worker = started[len(by_group) % limit]
            else:
                worker = RingWorker(key)
                started.append(worker)
            by_group[key] = worker
        chosen[name] = worker
    return chosen
