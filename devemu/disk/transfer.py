"""Commands that move user data: READ, WRITE, VERIFY, WRITE AND VERIFY, COMPARE AND WRITE.

READ and WRITE (SBC-4 5.12-5.15, 5.41-5.44) are the hot path: the
dispatcher hands each handler the LBA and transfer length its CDB
declaration names, the handler checks the range, and the image moves the
data between the file and the transport's buffers
(:meth:`~devemu.disk.image.DiskImage.read_into` is one ``os.preadv``
when the buffers are exactly the transfer, as they are from Linux).

Data-out length: a WRITE whose buffer is not exactly the transfer length
is refused (INVALID FIELD IN COMMAND INFORMATION UNIT) before anything is
written. A READ into a larger buffer transfers what the CDB asks for and
reports that length (the transport computes the underflow residual); into
a smaller one it fills the buffer. Write protection is the dispatcher's:
these handlers run only on a writable medium.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from devemu.disk.checks import out_of_range, read_error, write_error
from devemu.scsi.command import Command, Deferred
from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    MISCOMPARE_DURING_VERIFY_OPERATION,
    SenseError,
    cdb_field,
)

if TYPE_CHECKING:
    from devemu.disk.device import Disk

#: The expected bytes at (offset, length) of a verified range.
_Expected = Callable[[int, int], memoryview]
#: How many bytes VERIFY reads from the image at a time.
_VERIFY_CHUNK = 1 << 20


# --- READ ---------------------------------------------------------------------------


def read_6(dev: Disk, cmd: Command, lba: int, transfer_length: int) -> int | Deferred:
    """READ (6), SBC-4 5.12: a transfer length of 0 means 256 blocks."""
    return read_10(dev, cmd, lba, transfer_length or 256)


def read_10(dev: Disk, cmd: Command, lba: int, transfer_length: int) -> int | Deferred:
    """READ (10), SBC-4 5.13, and READ (12) and (16), SBC-4 5.14 and 5.15, which
    take the same fields; DPO and FUA are accepted (the page cache is coherent).
    On an NBD export served by a ring, answered when the server replies."""
    if lba + transfer_length > dev.capacity:
        raise out_of_range(lba, dev.capacity)
    queue = dev.queue
    if queue is not None and transfer_length:
        return queue.read(cmd, lba, transfer_length)
    image = dev.image
    iov = cmd.iov
    nbytes = transfer_length << dev.shift
    try:
        # Buffers of exactly the transfer (what a transport hands a READ): one preadv.
        if (
            len(iov) == 1
            and len(iov[0]) == nbytes
            and image.read_at(iov, lba << dev.shift) == nbytes
        ):
            return nbytes
        return image.read_into(lba, transfer_length, iov)
    except OSError as err:
        raise read_error(lba) from err


read_12 = read_16 = read_10


# --- WRITE --------------------------------------------------------------------------


def _write(dev: Disk, cmd: Command, fua: int, lba: int, count: int) -> Deferred | None:
    if lba + count > dev.capacity:
        raise out_of_range(lba, dev.capacity)
    nbytes = count << dev.shift
    iov = cmd.iov
    if (len(iov[0]) if len(iov) == 1 else sum(map(len, iov))) != nbytes:
        dev.check_data_out(cmd, nbytes)
    if not count:
        return None
    queue = dev.queue
    if queue is not None:
        return queue.write(cmd, lba, count, bool(fua) or not dev.write_cache)
    try:
        dev.image.write_from(lba, count, iov, durable=bool(fua) or not dev.write_cache)
    except OSError as err:
        raise write_error(err, lba) from err
    return None


def write_6(dev: Disk, cmd: Command, lba: int, transfer_length: int) -> Deferred | None:
    """WRITE (6), SBC-4 5.41: a transfer length of 0 means 256 blocks."""
    return _write(dev, cmd, 0, lba, transfer_length or 256)


def write_10(dev: Disk, cmd: Command, fua: int, lba: int, transfer_length: int) -> Deferred | None:
    """WRITE (10), SBC-4 5.42 (and (12), 5.43, and (16), 5.44); FUA makes the data
    durable before GOOD. On an NBD export served by a ring, answered when the server
    replies."""
    return _write(dev, cmd, fua, lba, transfer_length)


write_12 = write_16 = write_10


# --- VERIFY and WRITE AND VERIFY ------------------------------------------------------------


def _verify(dev: Disk, cmd: Command, bytchk: int, lba: int, count: int) -> None:
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


def verify_10(dev: Disk, cmd: Command, bytchk: int, lba: int, transfer_length: int) -> None:
    """VERIFY (10), SBC-4 5.34 (and (12), 5.35, and (16), 5.36): BYTCHK 00b medium,
    01b data-out, 11b one block for all."""
    _verify(dev, cmd, bytchk, lba, transfer_length)


verify_12 = verify_16 = verify_10


def write_and_verify_10(
    dev: Disk, cmd: Command, bytchk: int, lba: int, transfer_length: int
) -> None:
    """WRITE AND VERIFY (10), SBC-4 5.46 (and (12), 5.47, and (16), 5.48): written
    durably, then read back."""
    count = transfer_length
    if bytchk & 0b10:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 2))
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


write_and_verify_12 = write_and_verify_16 = write_and_verify_10


# --- COMPARE AND WRITE -------------------------------------------------------------------


def compare_and_write(dev: Disk, cmd: Command, fua: int, lba: int, number_of_blocks: int) -> None:
    """COMPARE AND WRITE, SBC-4 5.3.

    The data-out buffer holds the verify data then the write data, each
    NUMBER OF LOGICAL BLOCKS long. On a mismatch nothing is written and the
    INFORMATION field holds the offset of the first differing byte.
    """
    count = number_of_blocks
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
        dev.image.write_from(lba, count, [data[half:]], durable=dev.durable(bool(fua)))
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
