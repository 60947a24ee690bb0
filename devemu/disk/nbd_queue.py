"""Several commands in flight on one NBD connection: the ring is walked while the server works.

Theory of operation
-------------------
A disk on an NBD export whose ring loop is served by a ring worker (or
the ring simulator) answers READ, WRITE and SYNCHRONIZE CACHE later
(:data:`~devemu.scsi.command.DEFERRED`, SAM-5 5.1): the handler checks
the command as always, sends its requests with libnbd's ``aio_*`` calls
and returns; the worker polls the connection's socket beside the rings
(:class:`~devemu.tcmu.loop.IoSource`: ``aio_get_fd``, the events
``aio_get_direction`` asks for, ``aio_notify_read`` / ``aio_notify_write``
when it is ready), and each command is answered once every request it
sent has its reply, so the initiator's queue depth reaches the server.
A kill -9 of devemu loses nothing it acknowledged: GOOD is written to
the ring only after the NBD reply (with ``NBD_CMD_FLAG_FUA`` or a flush
first when the write must be durable).

Two layers:

- :class:`Flight` holds the requests on the wire, one operation per
  command (one request per data buffer, as the synchronous path sends
  them: straight from and into the ring's buffers through
  ``nbd.Buffer.from_buffer``, no copy in Python); libnbd's completion
  callback only counts the replies (no libnbd call may be made from it),
  and :meth:`Flight.settle`, outside libnbd, ends the operations whose
  replies are all in.
- :class:`CommandQueue` is the disk's side: it turns a command into an
  operation and the operation's outcome into the command's
  :class:`~devemu.scsi.command.Result` (the sense the synchronous path
  gives for the same failure), and hands the finished ones to the ring
  with one doorbell.

Ordering (SAM-5 8.6: every command through TCMU is a SIMPLE task; the
ring entry carries no task attribute, so devemu has no ORDERED or HEAD
OF QUEUE command to honour):

- SYNCHRONIZE CACHE (SBC-4 5.31) covers every write acknowledged before
  it; ``NBD_CMD_FLUSH`` covers only writes the server has completed, so
  the flush is sent once every write in flight when the command arrived
  has its reply;
- a write that must be durable on a server without FUA is followed by a
  flush after its reply, and answered after the flush's;
- every other command that touches the export (COMPARE AND WRITE, VERIFY,
  WRITE SAME, UNMAP, GET LBA STATUS, ...) stays synchronous and first
  waits for every request in flight (:meth:`Flight.drain`): COMPARE AND
  WRITE is atomic against all I/O (SBC-4 5.3), and nothing can start
  between its read and its write because the worker is inside it.

At most :attr:`NbdImage.queue_depth <devemu.disk.nbd.NbdImage.queue_depth>`
commands are in flight (the ``[[disk]] queue_depth`` key): one more waits,
inside the walk, until one has its reply; ``queue_depth = 1`` keeps the
synchronous path (one command at a time, the ring loop waiting for each).

A server that goes away with requests in flight (the connection drops,
libnbd ends them all with ``ENOTCONN``; or the oldest request has waited
:data:`~devemu.disk.nbd.REQUEST_TIMEOUT`): the connection is dropped
and every command in flight ends in HARDWARE ERROR / LOGICAL UNIT
COMMUNICATION FAILURE, as on the synchronous path; the next command
connects again (:meth:`~devemu.disk.nbd.NbdImage._handle`). An error
reply of a live server is MEDIUM ERROR (or SPACE ALLOCATION FAILED) as
for an image file.
"""

from __future__ import annotations

import errno
import os
import select
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from devemu.disk import nbd as nbd_image
from devemu.disk.checks import read_error, write_error
from devemu.iov import prefix
from devemu.scsi.command import DEFERRED, Command, Deferred, Result, good
from devemu.scsi.command import GOOD as _GOOD
from devemu.scsi.sense import LOGICAL_UNIT_COMMUNICATION_FAILURE, SenseError

if TYPE_CHECKING:
    from devemu.disk.device import Disk
    from devemu.disk.nbd import NbdImage
    from devemu.tcmu.loop import CompleteAll

#: How an operation ends: None for success, else the exception its command answers.
Done = Callable[[BaseException | None], None]

_DIRECTION_EVENTS = (0, select.POLLIN, select.POLLOUT, select.POLLIN | select.POLLOUT)
_READ_READY = select.POLLIN | select.POLLHUP | select.POLLERR
_WRITE_READY = select.POLLOUT


class _Op:
    """One command's requests: how many still wait for a reply, and how it ends."""

    __slots__ = (
        "deadline",
        "done",
        "errnum",
        "exc",
        "flushes",
        "handle",
        "keep",
        "left",
        "seq",
        "then_flush",
        "waits",
        "write",
    )

    def __init__(self, seq: int, done: Done, handle: Any, deadline: float) -> None:
        self.seq = seq
        self.done = done
        self.handle = handle
        self.deadline = deadline
        self.left = 0  # requests sent and not answered
        self.errnum = 0  # the first error a reply carried
        self.exc: BaseException | None = None  # decided without the server
        self.write = False
        self.then_flush = False  # durable on a server without FUA: flush after the reply
        self.flushes: list[_Op] = []  # flushes waiting for this write's reply
        self.waits = 0  # (a flush) writes still to be answered before it is sent
        self.keep: list[Any] = []  # the nbd.Buffer objects, alive until the replies


class Flight:
    """The asynchronous requests of one :class:`~devemu.disk.nbd.NbdImage`."""

    def __init__(self, image: NbdImage, limit: int) -> None:
        self.image = image
        #: Operations in flight at most; one more waits for a reply first.
        self.limit = max(1, limit)
        self._nbd = image.nbd
        self._share = image.nbd.Buffer.from_buffer
        self._ops: dict[int, _Op] = {}  # by sequence: the oldest first
        self._landed: list[_Op] = []  # every reply in (or failed): for settle()
        self._seq = 0
        #: The most operations ever in flight at once (for tests and status).
        self.peak = 0

    @property
    def busy(self) -> int:
        """Operations not ended yet (those failed before they had a request are in
        ``_landed`` only)."""
        ops = self._ops
        return len(ops) + sum(1 for op in self._landed if op.seq not in ops)

    # --- submitting ------------------------------------------------------------------

    def _start(self, done: Done) -> _Op | None:
        """A new operation on the live connection; None (``done`` already failed) when
        the server is away."""
        if len(self._ops) >= self.limit:
            self._wait(lambda: len(self._ops) < self.limit)
        try:
            h = self.image._handle()
        except SenseError as err:
            self._fail_now(done, err)
            return None
        self._seq += 1
        op = _Op(self._seq, done, h, time.monotonic() + nbd_image.REQUEST_TIMEOUT)
        self._ops[op.seq] = op
        self.peak = max(self.peak, len(self._ops))
        return op

    def _fail_now(self, done: Done, err: BaseException) -> None:
        self._seq += 1
        op = _Op(self._seq, done, None, 0.0)
        op.exc = err
        self._landed.append(op)

    def _reply(self, op: _Op, error: Any) -> int:
        """libnbd's completion callback: count the reply (no libnbd call may be made
        here); 1 retires the request."""
        if op.left > 0:
            err = error.value
            if err and not op.errnum:
                op.errnum = err
            op.left -= 1
            if op.left == 0:
                self._landed.append(op)
        return 1

    def _issued(self, op: _Op, err: Any = None) -> None:
        """After sending: an operation whose request could not go out ends with it."""
        if err is not None:
            op.errnum = op.errnum or err.errnum or errno.EIO
            if op.left == 0:
                self._landed.append(op)

    def read(self, iov: Sequence[memoryview], offset: int, done: Done) -> None:
        """``NBD_CMD_READ`` into each buffer of ``iov``, all at once."""
        op = self._start(done)
        if op is None:
            return
        self._send_each(op, op.handle.aio_pread, iov, offset)

    def write(self, iov: Sequence[memoryview], offset: int, durable: bool, done: Done) -> None:
        """``NBD_CMD_WRITE`` from each buffer of ``iov``; durable: FUA, or a flush after
        the reply where the server has no FUA."""
        op = self._start(done)
        if op is None:
            return
        image = self.image
        fua = durable and image._can_fua
        flags = self._nbd.CMD_FLAG_FUA if fua else 0
        op.write = True
        op.then_flush = durable and not fua
        self._send_each(op, partial(op.handle.aio_pwrite, flags=flags), iov, offset)

    def _send_each(
        self, op: _Op, send: Callable[..., Any], iov: Sequence[memoryview], offset: int
    ) -> None:
        """One request per buffer of ``iov`` (``send(buffer, offset, completion=...)``),
        each buffer shared with libnbd, not copied; counted in ``op.left``."""
        share, reply, keep = self._share, partial(self._reply, op), op.keep
        failed = None
        try:
            for buf in iov:
                b = share(buf)
                keep.append(b)
                op.left += 1
                send(b, offset, completion=reply)
                offset += len(buf)
        except self._nbd.Error as err:
            op.left -= 1
            failed = err
        self._issued(op, failed)

    def flush(self, done: Done) -> None:
        """``NBD_CMD_FLUSH`` once every write now in flight has its reply."""
        image = self.image
        if image.read_only or not image._can_flush:
            self._seq += 1
            self._landed.append(_Op(self._seq, done, None, 0.0))
            return
        op = self._start(done)
        if op is None:
            return
        for other in self._ops.values():
            if other.write and other.left > 0:
                other.flushes.append(op)
                op.waits += 1
        if not op.waits:
            self._send_flush(op)

    def _send_flush(self, op: _Op) -> None:
        h = op.handle
        if h is not self.image._h:
            op.exc = SenseError(LOGICAL_UNIT_COMMUNICATION_FAILURE)
            self._landed.append(op)
            return
        op.left = 1
        try:
            h.aio_flush(completion=partial(self._reply, op))
        except self._nbd.Error as err:
            op.left = 0
            self._issued(op, err)

    # --- progress --------------------------------------------------------------------

    def fileno(self) -> int:
        """The connection's socket while requests are in flight, else -1."""
        h = self.image._h
        if h is None or not self._ops:
            return -1
        try:
            return int(h.aio_get_fd())
        except self._nbd.Error:  # a dead connection: ready() drops it
            return -1

    def events(self) -> int:
        """POLLIN, POLLOUT or both, as libnbd's state machine asks now."""
        h = self.image._h
        if h is None or not self._ops:
            return 0
        return _DIRECTION_EVENTS[h.aio_get_direction() & 3]

    def timeout(self) -> float | None:
        """Seconds until the oldest request counts as unanswered (0: something to settle)."""
        if self._landed:
            return 0.0
        if not self._ops:
            return None
        return max(0.0, next(iter(self._ops.values())).deadline - time.monotonic())

    def ready(self, revents: int) -> None:
        """Move the connection on by what ``poll(2)`` saw, give up a connection that is
        dead or silent too long, then end what is done."""
        h = self.image._h
        if h is not None and revents:
            try:
                if revents & _READ_READY:
                    h.aio_notify_read()
                if revents & _WRITE_READY:
                    h.aio_notify_write()
            except self._nbd.Error as err:
                self.image._drop(h, f"the server went away: {err.string}")
            else:
                if h.aio_is_dead() or h.aio_is_closed():
                    self.image._drop(h, "the server closed the connection")
        self._expire()
        self.settle()

    def _expire(self) -> None:
        ops = self._ops
        if ops and next(iter(ops.values())).deadline <= time.monotonic():
            h = self.image._h
            if h is not None:
                self.image._drop(h, f"no answer within {nbd_image.REQUEST_TIMEOUT:g} s")

    def lost(self) -> None:
        """The connection was dropped: every operation not ended fails (its buffers are
        no longer the server's: libnbd forgets them with the handle)."""
        for op in self._ops.values():
            if op.left > 0 or op.waits > 0:  # (the others are landed, to be settled)
                op.left = op.waits = 0
                op.exc = SenseError(LOGICAL_UNIT_COMMUNICATION_FAILURE)
                self._landed.append(op)

    def settle(self) -> None:
        """End every operation whose replies are in: its ``done`` (outside libnbd), the
        flushes that waited for it, a flush that must follow it."""
        while self._landed:
            landed, self._landed = self._landed, []
            live = self.image._h
            for op in landed:
                self._ops.pop(op.seq, None)
                exc = op.exc
                if exc is None and op.errnum:
                    if op.handle is not live or live is None or live.aio_is_dead():
                        exc = SenseError(LOGICAL_UNIT_COMMUNICATION_FAILURE)
                    else:
                        exc = OSError(op.errnum, os.strerror(op.errnum))
                for flush in op.flushes:
                    if flush.waits > 0:
                        flush.waits -= 1
                        if flush.waits == 0:
                            self._send_flush(flush)
                op.flushes = []
                op.keep = []
                if op.then_flush and exc is None:
                    self.flush(op.done)
                    continue
                op.done(exc)

    def _wait(self, enough: Callable[[], bool]) -> None:
        """Run the connection (in the caller: inside a walk) until ``enough()``; what ends
        meanwhile is settled, its commands answered at the next :meth:`ready`."""
        self.settle()
        while not enough():
            h = self.image._h
            if h is None or not self._ops:
                break
            left = next(iter(self._ops.values())).deadline - time.monotonic()
            if left <= 0:
                self.image._drop(h, f"no answer within {nbd_image.REQUEST_TIMEOUT:g} s")
            else:
                try:
                    h.poll(max(1, int(left * 1000)))
                except self._nbd.Error as err:
                    self.image._drop(h, f"the server went away: {err.string}")
            self.settle()

    def drain(self) -> None:
        """Wait until every operation has ended (before a synchronous request)."""
        self._wait(lambda: not self._ops)


class CommandQueue:
    """READ, WRITE and SYNCHRONIZE CACHE of a disk on an NBD export, answered later."""

    def __init__(self, disk: Disk, image: NbdImage, complete_all: CompleteAll) -> None:
        self.disk = disk
        self.image = image
        self.complete_all = complete_all
        self.flight = Flight(image, image.queue_depth)
        image.flight = self.flight
        self.shift = image.shift
        self._finished: list[tuple[Command, Result]] = []

    # --- the handlers' side --------------------------------------------------------------

    def read(self, cmd: Command, lba: int, count: int) -> Deferred:
        """READ of ``count`` blocks at ``lba`` into the command's buffers."""
        iov = cmd.iov
        nbytes = count << self.shift
        bufs = iov if len(iov) == 1 and len(iov[0]) == nbytes else prefix(iov, nbytes)
        placed = nbytes if bufs is iov else sum(map(len, bufs))
        self.flight.read(bufs, lba << self.shift, partial(self._read_done, cmd, lba, placed))
        return DEFERRED

    def write(self, cmd: Command, lba: int, count: int, durable: bool) -> Deferred:
        """WRITE of ``count`` blocks at ``lba`` from the command's buffers (exactly the
        transfer: the handler checked)."""
        iov = cmd.iov
        self.flight.write(iov, lba << self.shift, durable, partial(self._write_done, cmd, lba))
        return DEFERRED

    def flush(self, cmd: Command, lba: int) -> Deferred:
        """SYNCHRONIZE CACHE: every write answered before it on stable storage."""
        self.flight.flush(partial(self._write_done, cmd, lba))
        return DEFERRED

    def _read_done(self, cmd: Command, lba: int, placed: int, exc: BaseException | None) -> None:
        if exc is None:
            result = good(placed)
        elif isinstance(exc, SenseError):
            result = self.disk.check_condition(exc)
        else:
            result = self.disk.check_condition(read_error(lba))
        self._finished.append((cmd, result))

    def _write_done(self, cmd: Command, lba: int, exc: BaseException | None) -> None:
        if exc is None:
            result = _GOOD
        elif isinstance(exc, SenseError):
            result = self.disk.check_condition(exc)
        elif isinstance(exc, OSError):
            result = self.disk.check_condition(write_error(exc, lba))
        else:
            result = self.disk.check_condition(SenseError(LOGICAL_UNIT_COMMUNICATION_FAILURE))
        self._finished.append((cmd, result))

    # --- the worker's side (IoSource) ----------------------------------------------------

    def fileno(self) -> int:
        return self.flight.fileno()

    def events(self) -> int:
        return self.flight.events()

    def timeout(self) -> float | None:
        return 0.0 if self._finished else self.flight.timeout()

    def ready(self, revents: int) -> None:
        """Run the connection, then answer every command that has ended, one doorbell."""
        self.flight.ready(revents)
        if self._finished:
            done, self._finished = self._finished, []
            self.complete_all(done)

    @property
    def in_flight(self) -> int:
        """Commands sent and not answered yet."""
        return self.flight.busy + len(self._finished)

    def detach(self) -> None:
        """The ring is gone: wait for what is in flight and answer nothing."""
        self.flight.drain()
        self._finished.clear()
        if self.image.flight is self.flight:
            self.image.flight = None
