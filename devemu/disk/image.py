"""A disk image file: logical blocks on a sparse regular file.

The image is a plain file whose size is the capacity times the logical
block length. It takes operations, never CDBs: read and write a run of
blocks straight between the file and the transport's buffers
(``os.preadv`` / ``os.pwritev``, no copy in between), deallocate a run
(a hole punched with ``fallocate(PUNCH_HOLE | KEEP_SIZE)``, so the file
stays sparse and reads of the run return zeros, SBC-4 4.7.4.5), report
which runs are mapped (``SEEK_DATA`` / ``SEEK_HOLE``, SBC-4 5.8) and make
written data durable (``fdatasync`` or a ``RWF_DSYNC`` write, SBC-4 4.15
and 5.38 on FUA).

An image is opened with an advisory ``flock`` (exclusive for read-write,
shared for read-only) so that two servers cannot write the same file.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import functools
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from devemu.errors import ImageError
from devemu.iov import prefix, skip

#: fallocate(2) modes, linux/falloc.h.
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10

#: Logical block lengths a disk may have.
BLOCK_SIZES = (512, 4096)

#: The largest number of buffers one preadv/pwritev call accepts (IOV_MAX).
IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024

#: How much of a repeated pattern (WRITE SAME) goes to the file per call.
_PATTERN_CHUNK = 1 << 20


@functools.cache
def _load_fallocate() -> Callable[..., int] | None:
    """libc's fallocate, looked up on first use.

    The C library is already loaded into the interpreter, so its symbols
    are searched there (``dlopen(NULL)``): ``ctypes.util.find_library``
    would run ``ldconfig`` in a child process on every start.
    """
    try:
        func = ctypes.CDLL(None, use_errno=True).fallocate
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    func.restype = ctypes.c_int
    return func


def fallocate(fd: int, mode: int, offset: int, length: int) -> None:
    """fallocate(2) with any mode; raises OSError (EOPNOTSUPP when unavailable)."""
    _fallocate = _load_fallocate()
    if _fallocate is None:
        raise OSError(errno.EOPNOTSUPP, "fallocate is not available")
    if _fallocate(fd, mode, offset, length) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@dataclass(frozen=True, slots=True)
class Extent:
    """A run of blocks with one provisioning status (SBC-4 5.8.2)."""

    lba: int
    count: int
    deallocated: bool


class BlockMethods:
    """What a block store derives from its ``read_into``, ``write_from`` and ``flush``:
    a read into a new buffer, and WRITE SAME's pattern (SBC-4 5.49) written in chunks."""

    __slots__ = ()
    block_size: int
    shift: int

    def read_into(self, lba: int, count: int, iov: Sequence[memoryview]) -> int:
        raise NotImplementedError

    def write_from(
        self, lba: int, count: int, iov: Sequence[memoryview], *, durable: bool = False
    ) -> int:
        raise NotImplementedError

    def flush(self) -> None:
        raise NotImplementedError

    def read(self, lba: int, count: int) -> bytearray:
        """The content of ``count`` blocks at ``lba`` as a new buffer."""
        buf = bytearray(count << self.shift)
        self.read_into(lba, count, [memoryview(buf)])
        return buf

    def write_pattern(self, lba: int, count: int, block: bytes, *, durable: bool = False) -> None:
        """Write ``block`` (one logical block) to each of ``count`` blocks (WRITE SAME)."""
        if len(block) != self.block_size:
            raise ValueError("pattern must be exactly one logical block")
        per_chunk = max(1, _PATTERN_CHUNK >> self.shift)
        chunk = memoryview(bytes(block) * min(per_chunk, count))
        done = 0
        while done < count:
            n = min(per_chunk, count - done)
            self.write_from(lba + done, n, [chunk[: n << self.shift]])
            done += n
        if durable:
            self.flush()


class DiskImage(BlockMethods):
    """An open image file seen as ``capacity`` blocks of ``block_size`` bytes."""

    __slots__ = ("block_size", "capacity", "fd", "path", "read_at", "read_only", "shift")

    def __init__(self, path: str | Path, block_size: int = 512, *, read_only: bool = False) -> None:
        if block_size not in BLOCK_SIZES:
            raise ValueError(f"block size {block_size} is not one of {BLOCK_SIZES}")
        self.path = Path(path)
        self.block_size = block_size
        self.shift = block_size.bit_length() - 1
        self.read_only = read_only
        flags = (os.O_RDONLY if read_only else os.O_RDWR) | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags)
        except OSError as err:
            raise ImageError(self.path, None, f"cannot open: {err.strerror}") from err
        try:
            st = os.fstat(fd)
            if not _is_regular(st.st_mode):
                raise ImageError(self.path, None, "not a regular file")
            if st.st_size == 0:
                raise ImageError(self.path, None, "the image is empty (0 bytes)")
            if st.st_size % block_size:
                raise ImageError(
                    self.path,
                    f"offset {st.st_size}",
                    f"size {st.st_size} is not a multiple of the block size {block_size}",
                )
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if read_only else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            except BlockingIOError as err:
                raise ImageError(self.path, None, "in use by another process (locked)") from err
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self.capacity = st.st_size >> self.shift
        #: ``read_at(buffers, offset)``: one ``os.preadv`` of this image
        #: straight into ``buffers``, with no Python frame of its own (the
        #: READ handlers' common case; :meth:`read_into` does the rest).
        self.read_at = partial(os.preadv, fd)

    # --- data -----------------------------------------------------------------

    def read_into(self, lba: int, count: int, iov: Sequence[memoryview]) -> int:
        """Read ``count`` blocks at ``lba`` into ``iov``; return the bytes placed.

        It reads at most what the buffers hold, IOV_MAX buffers per call. A file
        shorter than the capacity (truncated behind our back) reads as
        zeros past its end.
        """
        want = count << self.shift
        offset = lba << self.shift
        bufs = prefix(iov, want)
        done = 0
        while bufs:
            chunk = bufs[:IOV_MAX]
            n = os.preadv(self.fd, chunk, offset + done)
            size = sum(map(len, chunk))
            done += n
            if n < size:
                if n == 0:
                    _zero_fill(skip(bufs, 0))
                    done += sum(map(len, bufs))
                    break
                bufs = skip(bufs, n)
            else:
                bufs = bufs[IOV_MAX:]
        return done

    def write_from(
        self, lba: int, count: int, iov: Sequence[memoryview], *, durable: bool = False
    ) -> int:
        """Write ``count`` blocks at ``lba`` from ``iov``; return the bytes written.

        ``durable`` makes the data reach stable storage before returning
        (``RWF_DSYNC``): a FUA write or a write with the cache disabled.
        One buffer of exactly the transfer takes one ``os.pwritev``.
        """
        want = count << self.shift
        offset = lba << self.shift
        flags = os.RWF_DSYNC if durable else 0
        if (
            len(iov) == 1
            and len(iov[0]) == want
            and os.pwritev(self.fd, iov, offset, flags) == want
        ):
            return want
        bufs = prefix(iov, want)
        done = 0
        while bufs:
            chunk = bufs[:IOV_MAX]
            n = os.pwritev(self.fd, chunk, offset + done, flags)
            size = sum(map(len, chunk))
            done += n
            bufs = skip(bufs, n) if n < size else bufs[IOV_MAX:]
        return done

    def write_zeros(self, lba: int, count: int, *, durable: bool = False) -> None:
        """Make ``count`` blocks at ``lba`` read as zeros and stay allocated."""
        try:
            fallocate(self.fd, FALLOC_FL_ZERO_RANGE, lba << self.shift, count << self.shift)
        except OSError:
            self.write_pattern(lba, count, bytes(self.block_size))
        if durable:
            self.flush()

    # --- provisioning -------------------------------------------------------------

    def unmap(self, lba: int, count: int, *, durable: bool = False) -> None:
        """Deallocate ``count`` blocks at ``lba``: a hole that reads as zeros.

        Where the file system cannot punch holes the blocks are written
        with zeros instead, so a read after unmap returns zeros either way
        (LBPRZ, SBC-4 4.7.4.5).
        """
        if count == 0:
            return
        try:
            fallocate(
                self.fd,
                FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                lba << self.shift,
                count << self.shift,
            )
        except OSError as err:
            if err.errno not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                raise
            self.write_pattern(lba, count, bytes(self.block_size))
        if durable:
            self.flush()

    def lba_status(self, lba: int, limit: int) -> list[Extent]:
        """Up to ``limit`` extents from ``lba`` on, mapped or deallocated.

        Found with ``lseek(SEEK_DATA/SEEK_HOLE)``; a block that holds any
        data is mapped. The first extent starts at ``lba`` (SBC-4 5.8.2).
        """
        bs = self.block_size
        end = self.capacity << self.shift
        pos = lba << self.shift
        out: list[Extent] = []
        while pos < end and len(out) < limit:
            data = self._seek(pos, os.SEEK_DATA, end)
            data -= data % bs
            if data > pos:
                nxt, deallocated = data, True
            else:
                hole = self._seek(pos, os.SEEK_HOLE, end)
                nxt = min(end, max(pos + bs, -(-hole // bs) * bs))
                deallocated = False
            if out and out[-1].deallocated == deallocated:
                last = out.pop()
                out.append(Extent(last.lba, last.count + ((nxt - pos) >> self.shift), deallocated))
            else:
                out.append(Extent(pos >> self.shift, (nxt - pos) >> self.shift, deallocated))
            pos = nxt
        return out

    def _seek(self, pos: int, whence: int, end: int) -> int:
        try:
            return min(os.lseek(self.fd, pos, whence), end)
        except OSError as err:
            if err.errno == errno.ENXIO:
                return end
            raise

    def allocated_bytes(self) -> int:
        """Bytes of storage the image file occupies (st_blocks * 512)."""
        return os.fstat(self.fd).st_blocks * 512

    # --- cache ------------------------------------------------------------------

    def flush(self) -> None:
        """Put every written block on stable storage (SYNCHRONIZE CACHE, SBC-4 5.27)."""
        if not self.read_only:
            os.fdatasync(self.fd)

    def prefetch(self, lba: int, count: int) -> None:
        """Ask the kernel to read ``count`` blocks at ``lba`` ahead (PRE-FETCH)."""
        os.posix_fadvise(self.fd, lba << self.shift, count << self.shift, os.POSIX_FADV_WILLNEED)

    def close(self) -> None:
        if self.fd >= 0:
            try:
                self.flush()
            finally:
                os.close(self.fd)
                self.fd = -1

    def __enter__(self) -> DiskImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def create_image(path: str | Path, size: int, block_size: int = 512) -> None:
    """Create a sparse image of ``size`` bytes; refuse to overwrite a file."""
    if block_size not in BLOCK_SIZES:
        raise ValueError(f"block size {block_size} is not one of {BLOCK_SIZES}")
    if size <= 0 or size % block_size:
        raise ValueError(f"size {size} must be a positive multiple of the block size {block_size}")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except FileExistsError as err:
        raise ImageError(path, None, "already exists; not overwriting it") from err
    except OSError as err:
        raise ImageError(path, None, f"cannot create: {err.strerror}") from err
    try:
        os.ftruncate(fd, size)
    except OSError as err:
        os.close(fd)
        os.unlink(path)
        raise ImageError(path, None, f"cannot size to {size} bytes: {err.strerror}") from err
    os.close(fd)


def _is_regular(mode: int) -> bool:
    return stat.S_ISREG(mode)


def _zero_fill(bufs: list[memoryview]) -> None:
    for buf in bufs:
        buf[:] = bytes(len(buf))
