"""A disk image on an NBD export: logical blocks served by a Network Block Device server.

Theory of operation
-------------------
:class:`NbdImage` offers what :class:`~devemu.disk.image.DiskImage`
offers (the disk's handlers cannot tell them apart) over a connection to
an NBD server, through libnbd (Debian's ``python3-libnbd``; see the
README for how the project's environment sees it). The export is named by
an NBD URI (``nbd://HOST[:PORT]/EXPORT``, ``nbd+unix:///EXPORT?socket=PATH``,
the NBD URI standard, doc/uri.md of the NBD project).

The README's "Disks on NBD exports" says why libnbd (and not a client of
our own) and how ``scripts/install`` makes Debian's binding visible.

Mapping (the NBD protocol, doc/proto.md of the NBD project, "Request types"):

- READ / WRITE: ``NBD_CMD_READ`` / ``NBD_CMD_WRITE``, with
  ``NBD_CMD_FLAG_FUA`` when the write must be durable (FUA, WCE off;
  SBC-4 4.15). The data moves between the socket and the transport's
  buffers with no copy: ``aio_pread`` / ``aio_pwrite`` take an
  ``nbd.Buffer`` that shares the ring's memoryview.
- SYNCHRONIZE CACHE: ``NBD_CMD_FLUSH``.
- COMPARE AND WRITE: a read, then a write; serialized by the disk running
  one command at a time (nothing else reaches the export in between).
- UNMAP, WRITE SAME with UNMAP: ``NBD_CMD_WRITE_ZEROES`` without
  ``NBD_CMD_FLAG_NO_HOLE``, so the server may punch the range out
  (``FAST_ZERO`` first where offered), not
  ``NBD_CMD_TRIM``: after a trim the content is unspecified, and the disk
  promises that a deallocated block reads as zeros (LBPRZ, SBC-4 4.7.4.5).
  A server that cannot write zeroes gets zero blocks written.
- WRITE SAME of zeros without UNMAP: ``NBD_CMD_WRITE_ZEROES`` with
  ``NBD_CMD_FLAG_NO_HOLE`` (the blocks stay allocated).
- GET LBA STATUS: ``NBD_CMD_BLOCK_STATUS`` in the ``base:allocation``
  context (``NBD_STATE_HOLE`` is deallocated, SBC-4 5.8).
- The export's size is the capacity; its minimum, preferred and maximum
  block sizes (``NBD_INFO_BLOCK_SIZE``) feed the Block Limits page; a
  read-only export (``NBD_FLAG_READ_ONLY``) is a write-protected disk.

A server that goes away (the connection drops, or a request or a handshake
waits more than :data:`REQUEST_TIMEOUT` for its answer, so that the
initiator hears from devemu before the kernel's command timeout): the
command that finds the connection dead, and
every one after it while the server stays away, ends in HARDWARE ERROR /
LOGICAL UNIT COMMUNICATION FAILURE (SPC-5 annex D, 08h/00h): the data is
not known to be bad, the path to it is broken. The daemon serves on; the
next command after :data:`RECONNECT_INTERVAL` tries to connect again
(first calling ``revive``, which restarts a server devemu owns), and once
the export is back with the same size, commands run again. An error reply
from a live server is an ``OSError`` with the server's errno, which the
handlers turn into MEDIUM ERROR or SPACE ALLOCATION FAILED as for an
image file.

Every request goes out asynchronously (``aio_*``). On a ring served by a
worker (or the ring simulator), READ, WRITE and SYNCHRONIZE CACHE are
answered later, up to :attr:`NbdImage.queue_depth` commands in flight at
once (:mod:`devemu.disk.nbd_queue`); every other request, and every
request of a disk not attached to a ring (or with ``queue_depth`` 1), is
synchronous: the handler waits for its own reply, polling the
connection, after waiting for every request in flight
(:meth:`~devemu.disk.nbd_queue.Flight.drain`). A command of several
buffers has all of them in flight at once either way, and a request
never waits longer than :data:`REQUEST_TIMEOUT`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devemu.disk.image import BLOCK_SIZES, BlockMethods, Extent
from devemu.disk.pages import Limits
from devemu.errors import ImageError
from devemu.iov import prefix
from devemu.scsi.sense import LOGICAL_UNIT_COMMUNICATION_FAILURE, SenseError

if TYPE_CHECKING:
    from devemu.disk.nbd_queue import Flight

log = logging.getLogger(__name__)

#: URI schemes of the NBD URI standard that name an export.
NBD_SCHEMES = ("nbd://", "nbd+unix://", "nbds://", "nbds+unix://", "nbd+vsock://")
#: Seconds between two attempts to reach a server that went away.
RECONNECT_INTERVAL = 1.0
#: The base:allocation metadata context (NBD protocol, "Metadata querying").
BASE_ALLOCATION = "base:allocation"
#: NBD_STATE_HOLE in a base:allocation extent.
STATE_HOLE = 1
#: Seconds a request may wait for its answer before the server counts as gone (below
#: the kernel's default cmd_time_out of 30 s, so the initiator hears it from us).
REQUEST_TIMEOUT = 20.0
#: The largest request length NBD carries (32-bit length field), kept block aligned.
_MAX_REQUEST = 1 << 30
#: The largest transfer a disk accepts when the export allows more (as an image file's).
MAX_TRANSFER_BYTES = 16 << 20
#: Commands in flight at once on the connection by default (``[[disk]] queue_depth``): where
#: the server's latency bounds a request, 32 gives what more would (bench/disk_bench.py
#: --nbd --latency-us 500 --qd 64: 4 KiB reads 6.4x one at a time with 8, 11x with 16,
#: 12.7x with 32 and 12.6x with 64, this process's CPU the limit); TCMU's ring holds 128.
DEFAULT_QUEUE_DEPTH = 32
#: The most a configuration may ask for (beyond the kernel ring's own depth, hw_queue_depth).
MAX_QUEUE_DEPTH = 1024


def is_nbd_uri(text: str) -> bool:
    """Whether ``text`` names an NBD export rather than a file."""
    return text.startswith(NBD_SCHEMES)


def load_libnbd() -> Any:
    """The ``nbd`` module of libnbd, or an ImageError that says how to get it."""
    try:
        import nbd  # noqa: PLC0415  (optional: only NBD disks need it)
    except ImportError as err:
        raise ImageError(
            "nbd",
            None,
            f"libnbd's Python binding is not importable ({err}); install python3-libnbd "
            "and run scripts/install (README: Disks on NBD exports)",
        ) from None
    return nbd


class ExportError(ImageError):
    """An NBD export that cannot be served, named by its URI as the user wrote it."""

    def __init__(self, uri: str, reason: str) -> None:
        super().__init__(uri, None, reason)
        self.args = (f"{uri}: {reason}",)

    def __str__(self) -> str:
        return str(self.args[0])


class NbdImage(BlockMethods):
    """An NBD export seen as ``capacity`` blocks of ``block_size`` bytes."""

    #: No file descriptor: copy offload and allocated-space figures need a local file.
    fd = -1

    def __init__(
        self,
        uri: str,
        block_size: int = 512,
        *,
        read_only: bool = False,
        path: Path | None = None,
        revive: Callable[[], None] | None = None,
        release: Callable[[], None] | None = None,
        queue_depth: int = DEFAULT_QUEUE_DEPTH,
    ) -> None:
        if block_size not in BLOCK_SIZES:
            raise ValueError(f"block size {block_size} is not one of {BLOCK_SIZES}")
        self.nbd = load_libnbd()
        self.uri = uri
        #: What the disk reports as its image: the image file behind a server devemu
        #: owns, else the URI.
        self.path = path if path is not None else Path(uri)
        self.block_size = block_size
        self.shift = block_size.bit_length() - 1
        #: Called before each reconnect (restarts a server devemu owns) and after close.
        self.revive = revive
        self.release = release
        self._next_attempt = 0.0
        self._closed = False
        #: Commands in flight at most (1: one at a time, each waited for in its handler).
        self.queue_depth = max(1, queue_depth)
        #: The asynchronous requests of a disk attached to a ring (devemu.disk.nbd_queue).
        self.flight: Flight | None = None
        try:
            h = self._connect()
        except self.nbd.Error as err:
            raise self._error(f"cannot connect: {err.string}") from None
        self._h: Any = h
        size = h.get_size()
        if size == 0 or size % block_size:
            _close_handle(h)
            raise self._error(f"export size {size} is not a multiple of the block size")
        self.size = size
        self.capacity = size >> self.shift
        #: A read-only export makes a write-protected disk (SBC-4 4.11).
        self.read_only = read_only or bool(h.is_read_only())
        nbd = self.nbd
        minimum, preferred, maximum = (
            h.get_block_size(nbd.SIZE_MINIMUM),
            h.get_block_size(nbd.SIZE_PREFERRED),
            h.get_block_size(nbd.SIZE_MAXIMUM),
        )
        if minimum > block_size:
            _close_handle(h)
            raise self._error(
                f"the export's minimum block size {minimum} is larger than block_size {block_size}"
            )
        #: NBD_INFO_BLOCK_SIZE of the export in bytes (0: the server did not say).
        self.minimum_block = minimum
        self.preferred_block = preferred
        self.maximum_payload = maximum
        self._can_fua = bool(h.can_fua())
        self._can_flush = bool(h.can_flush())
        self._can_zero = bool(h.can_zero())
        self._fast_zero = bool(h.can_fast_zero())
        self._status = bool(h.can_meta_context(BASE_ALLOCATION))
        #: ``read_at(buffers, offset)``: the READ handlers' fast path.
        self.read_at = self._read_at

    def _error(self, reason: str) -> ImageError:
        """An ImageError naming the image file behind the export, else the URI as written."""
        if self.path != Path(self.uri):
            return ImageError(self.path, None, reason)
        return ExportError(self.uri, reason)

    # --- connection -------------------------------------------------------------

    def _connect(self) -> Any:
        """A new connection, the handshake done within REQUEST_TIMEOUT seconds (a server
        that accepts and then says nothing raises as one that refuses)."""
        nbd = self.nbd
        h = nbd.NBD()
        h.set_handle_name("devemu")
        h.add_meta_context(BASE_ALLOCATION)
        try:
            h.aio_connect_uri(self.uri)
            deadline = time.monotonic() + REQUEST_TIMEOUT
            while h.aio_is_connecting():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise nbd.Error(f"no handshake within {REQUEST_TIMEOUT:g} s", errno.ETIMEDOUT)
                h.poll(max(1, int(left * 1000)))
            if not h.aio_is_ready():
                raise nbd.Error("the server closed the connection in the handshake", 0)
        except BaseException:
            _close_handle(h)
            raise
        return h

    def _handle(self) -> Any:
        """The live connection, reconnecting at most every RECONNECT_INTERVAL seconds."""
        h = self._h
        if h is not None:
            return h
        now = time.monotonic()
        if self._closed or now < self._next_attempt:
            raise SenseError(LOGICAL_UNIT_COMMUNICATION_FAILURE)
        self._next_attempt = now + RECONNECT_INTERVAL
        try:
            if self.revive is not None:
                self.revive()
            h = self._connect()
        except (self.nbd.Error, OSError, ImageError) as err:
            log.debug("%s: still unreachable: %s", self.uri, err)
            raise SenseError(LOGICAL_UNIT_COMMUNICATION_FAILURE) from None
        if h.get_size() != self.size:
            log.error("%s: the export came back with another size; not using it", self.uri)
            _close_handle(h)
            raise SenseError(LOGICAL_UNIT_COMMUNICATION_FAILURE)
        log.warning("%s: reconnected", self.uri)
        self._h = h
        return h

    def _failed(self, h: Any, err: Any) -> Exception:
        """The exception a failed request ends in: OSError from a live server, else the
        connection is dropped and the command ends in LOGICAL UNIT COMMUNICATION FAILURE."""
        if not h.aio_is_dead() and not h.aio_is_closed() and err.errnum:
            return OSError(err.errnum, err.string)
        return self._drop(h, f"the server went away: {err.string}")

    def _drop(self, h: Any, why: str) -> SenseError:
        """Give up the connection ``h``; the next command connects again at once."""
        if self._h is h:
            log.error("%s: %s", self.uri, why)
            self._h = None
            self._next_attempt = 0.0
            if self.flight is not None:
                self.flight.lost()
            with contextlib.suppress(Exception):
                _close_handle(h)
        return SenseError(LOGICAL_UNIT_COMMUNICATION_FAILURE)

    @property
    def connected(self) -> bool:
        """Whether the connection is up (False while the server is away)."""
        return self._h is not None

    def _submit(self, *issue: Callable[[Any], int]) -> None:
        """Send the requests ``issue`` makes (each returns its cookie), all at once, and
        wait for every one that was sent, even when a later one could not be: the
        transport's buffers must not change once the command is answered. Every
        asynchronous request in flight is answered first."""
        flight = self.flight
        if flight is not None and flight.busy:
            flight.drain()
        h = self._handle()
        cookies: list[int] = []
        error = None
        for call in issue:
            try:
                cookies.append(call(h))
            except self.nbd.Error as err:
                error = err
                break
        self._wait(h, cookies, error)

    def _wait(self, h: Any, cookies: list[int], error: Any = None) -> None:
        """Run the connection until every request in ``cookies`` has completed; raise for
        the first that failed. A server silent for REQUEST_TIMEOUT seconds is gone."""
        nbd = self.nbd
        deadline = time.monotonic() + REQUEST_TIMEOUT
        for cookie in cookies:
            while True:
                try:
                    if h.aio_command_completed(cookie):
                        break
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise self._drop(h, f"no answer within {REQUEST_TIMEOUT:g} s")
                    h.poll(max(1, int(left * 1000)))
                except nbd.Error as err:
                    error = error or err
                    break
        if error is not None:
            raise self._failed(h, error)

    # --- data -----------------------------------------------------------------

    def _read_at(self, iov: Sequence[memoryview], offset: int) -> int:
        """Read ``iov`` from the export at byte ``offset``; one request per buffer, all in
        flight at once, each landing straight in its buffer."""
        share = self.nbd.Buffer.from_buffer
        calls = []
        pos = offset
        for buf in iov:
            calls.append(partial(_aio_pread, share(buf), pos))
            pos += len(buf)
        self._submit(*calls)
        return pos - offset

    def read_into(self, lba: int, count: int, iov: Sequence[memoryview]) -> int:
        """Read ``count`` blocks at ``lba`` into ``iov``; return the bytes placed."""
        bufs = prefix(iov, count << self.shift)
        return self._read_at(bufs, lba << self.shift) if bufs else 0

    def write_from(
        self, lba: int, count: int, iov: Sequence[memoryview], *, durable: bool = False
    ) -> int:
        """Write ``count`` blocks at ``lba`` from ``iov``; FUA when ``durable``."""
        bufs = prefix(iov, count << self.shift)
        if not bufs:
            return 0
        nbd = self.nbd
        fua = durable and self._can_fua
        flags = nbd.CMD_FLAG_FUA if fua else 0
        offset = lba << self.shift
        calls = []
        done = 0
        for buf in bufs:
            calls.append(partial(_aio_pwrite, nbd.Buffer.from_buffer(buf), offset + done, flags))
            done += len(buf)
        self._submit(*calls)
        if durable and not fua:
            self.flush()
        return done

    def _zero(self, lba: int, count: int, flags: int, durable: bool) -> None:
        if durable and self._can_fua:
            flags |= self.nbd.CMD_FLAG_FUA
        offset, end = lba << self.shift, (lba + count) << self.shift
        calls = []
        while offset < end:
            n = min(end - offset, _MAX_REQUEST)
            calls.append(partial(_aio_zero, n, offset, flags))
            offset += n
        self._submit(*calls)
        if durable and not self._can_fua:
            self.flush()

    def write_zeros(self, lba: int, count: int, *, durable: bool = False) -> None:
        """Make ``count`` blocks at ``lba`` read as zeros and stay allocated (NO_HOLE)."""
        if not self._can_zero:
            self.write_pattern(lba, count, bytes(self.block_size), durable=durable)
            return
        self._zero(lba, count, self.nbd.CMD_FLAG_NO_HOLE, durable)

    # --- provisioning -------------------------------------------------------------

    def unmap(self, lba: int, count: int, *, durable: bool = False) -> None:
        """Deallocate ``count`` blocks at ``lba`` so that they read as zeros (LBPRZ).

        WRITE_ZEROES without NO_HOLE: the server may punch the range out and
        must make it read as zeros; FAST_ZERO first where the server offers
        it, so a server that would have to write the zeros says so and
        the plain request follows.
        """
        if count == 0:
            return
        if not self._can_zero:
            self.write_pattern(lba, count, bytes(self.block_size), durable=durable)
            return
        nbd = self.nbd
        if self._fast_zero:
            try:
                self._zero(lba, count, nbd.CMD_FLAG_FAST_ZERO, durable)
                return
            except OSError as err:
                if err.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
        self._zero(lba, count, 0, durable)

    def lba_status(self, lba: int, limit: int) -> list[Extent]:
        """Up to ``limit`` extents from ``lba`` on, from ``base:allocation`` block status.

        A server without the context reports everything mapped. A block
        that holds any mapped byte is mapped.
        """
        shift = self.shift
        bs = self.block_size
        end = self.size
        pos = lba << shift
        if not self._status:
            return [Extent(lba, self.capacity - lba, False)] if pos < end else []
        out: list[Extent] = []
        while pos < end and len(out) < limit:
            got: list[tuple[int, bool]] = []

            def extents(
                meta: str, offset: int, entries: list[int], err: list[int], got: Any = got
            ) -> int:
                if meta == BASE_ALLOCATION:
                    for i in range(0, len(entries) - 1, 2):
                        got.append((entries[i], bool(entries[i + 1] & STATE_HOLE)))
                return 0

            self._submit(partial(_aio_block_status, min(end - pos, _MAX_REQUEST), pos, extents))
            if not got:
                break
            for length, hole in got:
                nxt = min(end, pos + length)
                # Round to blocks: a partly mapped block is mapped.
                if hole:
                    nxt -= nxt % bs
                else:
                    nxt = min(end, -(-nxt // bs) * bs)
                if nxt <= pos:
                    continue
                if out and out[-1].deallocated == hole:
                    last = out.pop()
                    out.append(Extent(last.lba, last.count + ((nxt - pos) >> shift), hole))
                else:
                    if len(out) == limit:
                        return out
                    out.append(Extent(pos >> shift, (nxt - pos) >> shift, hole))
                pos = nxt
                if pos >= end:
                    break
        return out

    def limits(self) -> Limits:
        """The Block Limits of a disk on this export (SBC-4 6.6.4): the preferred block
        size is the physical block, the largest payload the largest transfer."""
        physical = self.preferred_block if self.preferred_block > self.block_size else 4096
        most = MAX_TRANSFER_BYTES
        if self.maximum_payload:
            most = min(most, self.maximum_payload)
        return Limits.for_block_size(self.block_size, physical=physical, max_transfer_bytes=most)

    def allocated_bytes(self) -> int:
        """Bytes the export reports mapped (base:allocation), by block status."""
        return sum(e.count for e in self.lba_status(0, 1 << 30) if not e.deallocated) << self.shift

    # --- cache ------------------------------------------------------------------

    def flush(self) -> None:
        """NBD_CMD_FLUSH: every completed write on stable storage (SBC-4 5.31)."""
        if self.read_only or not self._can_flush:
            return
        self._submit(_aio_flush)

    def prefetch(self, lba: int, count: int) -> None:
        """PRE-FETCH: NBD_CMD_CACHE where the server has it, else nothing."""
        h = self._h
        if h is None or not h.can_cache():
            return
        with contextlib.suppress(self.nbd.Error):
            h.cache(min(count << self.shift, _MAX_REQUEST), lba << self.shift)

    def close(self) -> None:
        """Flush, disconnect, then let the owner of the server stop it."""
        if self.flight is not None:
            self.flight.drain()
        self._closed = True
        h, self._h = self._h, None
        release, self.release = self.release, None
        try:
            if h is not None:
                self._disconnect(h)
        finally:
            if release is not None:
                release()

    def _disconnect(self, h: Any) -> None:
        try:
            if not self.read_only and self._can_flush:
                with contextlib.suppress(self.nbd.Error, SenseError, OSError):
                    self._wait(h, [h.aio_flush()])
            with contextlib.suppress(self.nbd.Error):
                h.shutdown()
        finally:
            _close_handle(h)

    def __enter__(self) -> NbdImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _aio_pread(buf: Any, offset: int, h: Any) -> int:
    return int(h.aio_pread(buf, offset))


def _aio_pwrite(buf: Any, offset: int, flags: int, h: Any) -> int:
    return int(h.aio_pwrite(buf, offset, flags=flags))


def _aio_zero(count: int, offset: int, flags: int, h: Any) -> int:
    return int(h.aio_zero(count, offset, flags=flags))


def _aio_block_status(count: int, offset: int, extents: Callable[..., int], h: Any) -> int:
    return int(h.aio_block_status(count, offset, extents))


def _aio_flush(h: Any) -> int:
    return int(h.aio_flush())


def _close_handle(h: Any) -> None:
    """Close a libnbd handle now (libnbd 1.14's binding closes in its finaliser only)."""
    close = getattr(h, "close", None)
    if callable(close):
        close()
        return
    if hasattr(h, "_o"):
        h.__del__()
        del h._o
