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

Large reads from memory
-----------------------
On a file system whose pages live only in memory (tmpfs, ramfs) the
image is also mapped, and :meth:`DiskImage.read_mapped` copies a large
read from that mapping with the C library's ``memcpy``: no device I/O can
fail there, and the copy the kernel makes for ``preadv`` (``rep movsb``)
is several times slower under an emulated CPU. It copies only runs whose
every page is in the page cache (``mincore``): touching a hole of a
tmpfs file through a mapping would allocate it, which a ``preadv`` of
the same hole does not. A file shrunk behind the server's back (its
``flock`` ignored) between that check and the copy would end the process
with SIGBUS; ``preadv`` would have read zeros.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import functools
import mmap
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from devemu.errors import ImageError

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

#: statfs(2) f_type of file systems that keep file pages in memory (linux/magic.h):
#: TMPFS_MAGIC, RAMFS_MAGIC.
_MEMORY_FS_MAGIC = frozenset({0x01021994, 0x858458F6})
#: mmap(2) MAP_NORESERVE on Linux (the mmap module of Python 3.11 lacks it).
_MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000)
_PAGE = mmap.PAGESIZE
#: The longest run :meth:`DiskImage.read_mapped` checks in one ``mincore`` call.
_MAPPED_MAX_PAGES = 4096
#: The shortest READ worth copying from a memory-backed image's mapping rather
#: than reading with ``preadv``: below it the ``mincore`` check costs more than
#: the slower copy saves.
MAPPED_READ_MIN = 128 << 10


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


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library already loaded into the interpreter (``dlopen(NULL)``)."""
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def memory_backed(fd: int) -> bool:
    """Is the file open on ``fd`` on tmpfs or ramfs? (``fstatfs``; False if unknown)."""
    libc = _libc()
    if libc is None or not hasattr(libc, "fstatfs"):
        return False
    buf = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on 64-bit Linux
    if libc.fstatfs(fd, buf) != 0:
        return False
    # f_type is the first member, a native long.
    return ctypes.c_long.from_buffer(buf).value in _MEMORY_FS_MAGIC


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


class DiskImage:
    """An open image file seen as ``capacity`` blocks of ``block_size`` bytes."""

    __slots__ = (
        "_incore",
        "_incore_c",
        "_map",
        "_map_addr",
        "_mincore",
        "_view",
        "block_size",
        "capacity",
        "fd",
        "path",
        "read_only",
        "shift",
    )

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
        self._map: mmap.mmap | None = None
        self._view: memoryview | None = None
        self._map_addr = 0
        self._mincore: Callable[..., int] | None = None
        self._incore = bytearray()
        self._incore_c: ctypes.Array[ctypes.c_ubyte] | None = None
        if memory_backed(fd):
            self._map_memory(self.capacity << self.shift)

    def _map_memory(self, size: int) -> None:
        """Map the image for :meth:`read_mapped`; without a mapping it reads with preadv."""
        libc = _libc()
        mincore = getattr(libc, "mincore", None)
        if mincore is None:
            return
        try:
            # Private and never written: pages are the file's page cache, no swap reserved.
            mapping = mmap.mmap(
                self.fd,
                size,
                flags=mmap.MAP_PRIVATE | _MAP_NORESERVE,
                prot=mmap.PROT_READ | mmap.PROT_WRITE,
            )
        except (OSError, ValueError):
            return
        anchor = ctypes.c_char.from_buffer(mapping)
        self._map_addr = ctypes.addressof(anchor)
        del anchor
        mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
        mincore.restype = ctypes.c_int
        self._mincore = mincore
        self._incore = bytearray(_MAPPED_MAX_PAGES)
        self._incore_c = (ctypes.c_ubyte * _MAPPED_MAX_PAGES).from_buffer(self._incore)
        self._map = mapping
        self._view = memoryview(mapping)

    @property
    def mapped(self) -> bool:
        """Large reads come from a mapping of the file (a memory-backed image)."""
        return self._view is not None

    # --- data -----------------------------------------------------------------

    def read_into(self, lba: int, count: int, iov: Sequence[memoryview]) -> int:
        """Read ``count`` blocks at ``lba`` into ``iov``; return the bytes placed.

        Reads at most what the buffers hold. A file shorter than the
        capacity (truncated behind our back) reads as zeros past its end.
        """
        want = count << self.shift
        offset = lba << self.shift
        bufs = _limit(iov, want)
        done = 0
        while bufs:
            chunk = bufs[:IOV_MAX]
            n = os.preadv(self.fd, chunk, offset + done)
            size = sum(map(len, chunk))
            done += n
            if n < size:
                if n == 0:
                    _zero_fill(_skip(bufs, 0))
                    done += sum(map(len, bufs))
                    break
                bufs = _skip(bufs, n)
            else:
                bufs = bufs[IOV_MAX:]
        return done

    def read_mapped(self, offset: int, iov: Sequence[memoryview], length: int) -> bool:
        """Copy ``length`` bytes at byte ``offset`` into ``iov`` from the mapping.

        ``iov`` must hold exactly ``length`` bytes. False, with nothing
        copied, when the image is not mapped, the run is not inside it or
        any of its pages is not in the page cache (a hole, or a page
        swapped out): the caller then reads with ``preadv``.
        """
        view = self._view
        end = offset + length
        if view is None or end > len(view) or offset < 0:
            return False
        first = offset - offset % _PAGE
        pages = (end - first + _PAGE - 1) // _PAGE
        mincore = self._mincore
        if pages > _MAPPED_MAX_PAGES or mincore is None:
            return False
        if mincore(self._map_addr + first, end - first, self._incore_c) != 0:
            return False
        # Linux writes 1 for a page in the page cache and 0 for one that is not.
        if self._incore.find(0, 0, pages) >= 0:
            return False
        at = offset
        for buf in iov:
            n = len(buf)
            buf[:] = view[at : at + n]
            at += n
        return True

    def write_from(
        self, lba: int, count: int, iov: Sequence[memoryview], *, durable: bool = False
    ) -> int:
        """Write ``count`` blocks at ``lba`` from ``iov``; return the bytes written.

        ``durable`` makes the data reach stable storage before returning
        (``RWF_DSYNC``): a FUA write or a write with the cache disabled.
        """
        want = count << self.shift
        offset = lba << self.shift
        bufs = _limit(iov, want)
        flags = os.RWF_DSYNC if durable else 0
        done = 0
        while bufs:
            chunk = bufs[:IOV_MAX]
            n = os.pwritev(self.fd, chunk, offset + done, flags)
            size = sum(map(len, chunk))
            done += n
            bufs = _skip(bufs, n) if n < size else bufs[IOV_MAX:]
        return done

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
        if self._view is not None:
            self._view.release()
            self._view = None
        if self._map is not None:
            self._incore_c = None
            self._map.close()
            self._map = None
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


def _limit(iov: Sequence[memoryview], length: int) -> list[memoryview]:
    """The first ``length`` bytes of ``iov`` as a list of buffers."""
    out: list[memoryview] = []
    left = length
    for buf in iov:
        if left <= 0:
            break
        n = len(buf)
        if n > left:
            out.append(buf[:left])
            break
        out.append(buf)
        left -= n
    return out


def _skip(bufs: list[memoryview], n: int) -> list[memoryview]:
    """``bufs`` without its first ``n`` bytes."""
    out: list[memoryview] = []
    for buf in bufs:
        if n >= len(buf):
            n -= len(buf)
            continue
        out.append(buf[n:] if n else buf)
        n = 0
    return out


def _zero_fill(bufs: list[memoryview]) -> None:
    for buf in bufs:
        buf[:] = bytes(len(buf))
