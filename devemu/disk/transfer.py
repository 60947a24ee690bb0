"""Commands that move user data: READ, WRITE, VERIFY, WRITE AND VERIFY, COMPARE AND WRITE.

READ and WRITE (SBC-4 5.12-5.15, 5.41-5.44) are the hot path: the CDB is
decoded by one precompiled struct, the range checked, and the data moved
by one ``os.preadv``/``os.pwritev`` between the image file and the
transport's buffers. Anything unusual (buffers of another length than the
CDB asks for, more buffers than IOV_MAX, a short transfer) drops to the
general code of :class:`~devemu.disk.image.DiskImage`.

Data-out length: a WRITE whose buffer is not exactly the transfer length
is refused (INVALID FIELD IN COMMAND INFORMATION UNIT) before anything is
written. A READ into a larger buffer transfers what the CDB asks for and
reports that length (the transport computes the underflow residual); into
a smaller one it fills the buffer.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from devemu.disk.cdbs import (
    FUA,
    RW6_FAST,
    RW6_LBA_MASK,
    RW10_FAST,
    RW12_FAST,
    RW16_FAST,
    CompareAndWrite,
)
from devemu.disk.checks import out_of_range, read_error, write_error
from devemu.disk.image import IOV_MAX
from devemu.scsi.command import Command
from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    MISCOMPARE_DURING_VERIFY_OPERATION,
    SenseError,
    cdb_field,
)

if TYPE_CHECKING:
    from devemu.disk.device import Disk

_RWF_DSYNC = os.RWF_DSYNC
_preadv = os.preadv
_unpack10 = RW10_FAST.unpack_from
_unpack16 = RW16_FAST.unpack_from
#: The expected bytes at (offset, length) of a verified range.
_Expected = Callable[[int, int], memoryview]
#: How many bytes VERIFY reads from the image at a time.
_VERIFY_CHUNK = 1 << 20


# --- READ ---------------------------------------------------------------------------


def _read(dev: Disk, cmd: Command, lba: int, count: int) -> int:
    if lba + count > dev.capacity:
        raise out_of_range(lba, dev.capacity)
    shift = dev.shift
    nbytes = count << shift
    iov = cmd.iov
    try:
        if len(iov) == 1:
            if len(iov[0]) == nbytes and _preadv(dev.fd, iov, lba << shift) == nbytes:
                return nbytes
        elif (
            len(iov) <= IOV_MAX
            and sum(map(len, iov)) == nbytes
            and _preadv(dev.fd, iov, lba << shift) == nbytes
        ):
            return nbytes
        return dev.image.read_into(lba, count, iov)
    except OSError as err:
        raise read_error(lba) from err


def read_6(dev: Disk, cmd: Command) -> int:
    """READ (6), SBC-4 5.12: a transfer length of 0 means 256 blocks."""
    word, count = RW6_FAST.unpack_from(cmd.cdb)
    return _read(dev, cmd, word & RW6_LBA_MASK, count or 256)


def read_10(dev: Disk, cmd: Command) -> int:
    """READ (10), SBC-4 5.13; DPO and FUA are accepted (the page cache is coherent)."""
    _, lba, count = _unpack10(cmd.cdb)
    return _read(dev, cmd, lba, count)


def read_12(dev: Disk, cmd: Command) -> int:
    """READ (12), SBC-4 5.14."""
    _, lba, count = RW12_FAST.unpack_from(cmd.cdb)
    return _read(dev, cmd, lba, count)


def read_16(dev: Disk, cmd: Command) -> int:
    """READ (16), SBC-4 5.15."""
    _, lba, count = _unpack16(cmd.cdb)
    return _read(dev, cmd, lba, count)


# --- WRITE --------------------------------------------------------------------------


def _write(dev: Disk, cmd: Command, flags: int, lba: int, count: int) -> None:
    if dev.read_only:
        dev.check_writable()
    if lba + count > dev.capacity:
        raise out_of_range(lba, dev.capacity)
    nbytes = count << dev.shift
    iov = cmd.iov
    if (len(iov[0]) if len(iov) == 1 else sum(map(len, iov))) != nbytes:
        dev.check_data_out(cmd, nbytes)
    if not count:
        return
    durable = flags & FUA or not dev.write_cache
    try:
        if len(iov) <= IOV_MAX:
            done = os.pwritev(dev.fd, iov, lba << dev.shift, _RWF_DSYNC if durable else 0)
            if done == nbytes:
                return
        dev.image.write_from(lba, count, iov, durable=bool(durable))
    except OSError as err:
        raise write_error(err, lba) from err


def write_6(dev: Disk, cmd: Command) -> None:
    """WRITE (6), SBC-4 5.41: a transfer length of 0 means 256 blocks."""
    word, count = RW6_FAST.unpack_from(cmd.cdb)
    _write(dev, cmd, 0, word & RW6_LBA_MASK, count or 256)


def write_10(dev: Disk, cmd: Command) -> None:
    """WRITE (10), SBC-4 5.42; FUA makes the data durable before GOOD."""
    flags, lba, count = RW10_FAST.unpack_from(cmd.cdb)
    _write(dev, cmd, flags, lba, count)


def write_12(dev: Disk, cmd: Command) -> None:
    """WRITE (12), SBC-4 5.43."""
    flags, lba, count = RW12_FAST.unpack_from(cmd.cdb)
    _write(dev, cmd, flags, lba, count)


def write_16(dev: Disk, cmd: Command) -> None:
    """WRITE (16), SBC-4 5.44."""
    flags, lba, count = RW16_FAST.unpack_from(cmd.cdb)
    _write(dev, cmd, flags, lba, count)


# --- VERIFY and WRITE AND VERIFY ------------------------------------------------------------


def _bytchk(flags: int) -> int:
    return (flags >> 1) & 0x3


def _verify(dev: Disk, cmd: Command, flags: int, lba: int, count: int) -> None:
    bytchk = _bytchk(flags)
    if bytchk == 0b10:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 2))
    dev.check_range(lba, count)
    if bytchk == 0b00:
        # Medium verification: every block of an image file is readable.
        dev.check_data_out(cmd, 0)
        return
    if bytchk == 0b01:
        dev.check_data_out(cmd, count << dev.shift)
        expected = memoryview(cmd.data_out())
        _compare(dev, lba, count, lambda off, n: expected[off : off + n])
        return
    # BYTCHK 11b: one block of data-out, compared with each block of the range.
    dev.check_data_out(cmd, dev.block_size)
    block = cmd.data_out()
    per_chunk = max(1, _VERIFY_CHUNK >> dev.shift)
    pattern = memoryview(block * min(per_chunk, max(count, 1)))
    _compare(dev, lba, count, lambda off, n: pattern[:n])


def _compare(dev: Disk, lba: int, count: int, expected_at: _Expected) -> None:
    """MISCOMPARE with the offset of the first differing byte (SBC-4 5.34)."""
    shift = dev.shift
    per_chunk = max(1, _VERIFY_CHUNK >> shift)
    done = 0
    while done < count:
        n = min(per_chunk, count - done)
        actual = dev.image.read(lba + done, n)
        offset = done << shift
        expected = expected_at(offset, n << shift)
        if actual != expected:
            raise SenseError(
                MISCOMPARE_DURING_VERIFY_OPERATION,
                information=offset + first_difference(actual, expected),
            )
        done += n


def verify_10(dev: Disk, cmd: Command) -> None:
    """VERIFY (10), SBC-4 5.34: BYTCHK 00b medium, 01b data-out, 11b one block for all."""
    flags, lba, count = RW10_FAST.unpack_from(cmd.cdb)
    _verify(dev, cmd, flags, lba, count)


def verify_16(dev: Disk, cmd: Command) -> None:
    """VERIFY (16), SBC-4 5.36."""
    flags, lba, count = RW16_FAST.unpack_from(cmd.cdb)
    _verify(dev, cmd, flags, lba, count)


def _write_and_verify(dev: Disk, cmd: Command, flags: int, lba: int, count: int) -> None:
    bytchk = _bytchk(flags)
    if bytchk & 0b10:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 2))
    dev.check_writable()
    dev.check_range(lba, count)
    nbytes = count << dev.shift
    dev.check_data_out(cmd, nbytes)
    if not count:
        return
    try:
        dev.image.write_from(lba, count, cmd.iov, durable=True)
    except OSError as err:
        raise write_error(err, lba) from err
    if bytchk == 0b01:
        expected = memoryview(cmd.data_out())
        _compare(dev, lba, count, lambda off, n: expected[off : off + n])


def write_and_verify_10(dev: Disk, cmd: Command) -> None:
    """WRITE AND VERIFY (10), SBC-4 5.46: written durably, then read back."""
    flags, lba, count = RW10_FAST.unpack_from(cmd.cdb)
    _write_and_verify(dev, cmd, flags, lba, count)


def write_and_verify_16(dev: Disk, cmd: Command) -> None:
    """WRITE AND VERIFY (16), SBC-4 5.48."""
    flags, lba, count = RW16_FAST.unpack_from(cmd.cdb)
    _write_and_verify(dev, cmd, flags, lba, count)


# --- COMPARE AND WRITE -------------------------------------------------------------------


def compare_and_write(dev: Disk, cmd: Command) -> None:
    """COMPARE AND WRITE, SBC-4 5.3.

    The data-out buffer holds the verify data then the write data, each
    NUMBER OF LOGICAL BLOCKS long. On a mismatch nothing is written and the
    INFORMATION field holds the offset of the first differing byte.
    """
    cdb = CompareAndWrite.parse(cmd.cdb)
    count = cdb.number_of_blocks
    lba = cdb.lba
    dev.check_writable()
    if count > dev.limits.max_compare_and_write:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(13))
    dev.check_range(lba, count)
    half = count << dev.shift
    dev.check_data_out(cmd, 2 * half)
    if not count:
        return
    data = memoryview(cmd.data_out())
    actual = dev.image.read(lba, count)
    if actual != data[:half]:
        raise SenseError(
            MISCOMPARE_DURING_VERIFY_OPERATION,
            information=first_difference(actual, data[:half]),
        )
    try:
        dev.image.write_from(lba, count, [data[half:]], durable=dev.durable(cdb.flags.fua))
    except OSError as err:
        raise write_error(err, lba) from err


# --- helpers ---------------------------------------------------------------------------


def first_difference(a: bytes | bytearray | memoryview, b: bytes | bytearray | memoryview) -> int:
    """Offset of the first byte where ``a`` and ``b`` differ (they must differ)."""
    lo, hi = 0, min(len(a), len(b))
    # Halve the range while the prefixes compare equal: O(log n) slice compares.
    while hi - lo > 64:
        mid = (lo + hi) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    for i in range(lo, hi):
        if a[i] != b[i]:
            return i
    return hi
