"""Writes with a promise about what other commands and a crash can see: ORWRITE, WRITE ATOMIC.

ORWRITE (16) (SBC-4, the ORWRITE (16) command) reads the blocks, ORs
the data-out into them and writes the result. WRITE ATOMIC (16) (SBC-4,
the WRITE ATOMIC (16) command, and the atomic writes model of SBC-4
4.29) writes its blocks so that a reader sees all of the old data or all
of the new, never a mix.

With respect to other commands both are atomic because the daemon runs
one command of a logical unit at a time, from its first byte read to its
last byte written: no READ, WRITE or COMPARE AND WRITE of this disk runs
between the read and the write of an ORWRITE.

With respect to ``kill -9`` of the daemon, what the image file can
promise decides the Block Limits VPD fields (:mod:`devemu.disk.pages`):

- Linux copies a ``pwrite`` into the page cache one page at a time and
  looks for a fatal signal only between pages, so a write that lies
  inside one 4096-byte page of the file is on the image whole or not at
  all when the process dies. The disk therefore advertises a MAXIMUM
  ATOMIC TRANSFER LENGTH and an ATOMIC ALIGNMENT of one page (8 blocks of
  512 bytes, 1 block of 4096) and refuses a WRITE ATOMIC that would cross
  a page. An ATOMIC BOUNDARY of 1 (every block its own atomic write) is
  the largest it accepts: each block of an image lies inside one page.
- Both commands are idempotent (OR-ing the same data twice gives what
  OR-ing it once does), so a daemon restarted after ``kill -9`` runs a
  command found half done again and completes it.
- A power failure or a host crash is the file system's business: an
  image file has no atomic write unit on stable storage, and nothing
  here claims one. FUA, or the write cache off, makes the data durable
  before GOOD, as for WRITE.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devemu.disk.checks import write_error
from devemu.scsi.command import Command
from devemu.scsi.sense import INVALID_FIELD_IN_CDB, SenseError, cdb_field

if TYPE_CHECKING:
    from devemu.disk.device import Disk

#: How many bytes ORWRITE reads, ORs and writes at a time.
_OR_CHUNK = 1 << 20

#: CDB bytes of the WRITE ATOMIC (16) fields a refusal points at.
_LBA_BYTE = 2
_ATOMIC_BOUNDARY_BYTE = 10
_TRANSFER_LENGTH_BYTE = 12


def orwrite_16(dev: Disk, cmd: Command, fua: int, lba: int, transfer_length: int) -> None:
    """ORWRITE (16), SBC-4: each block becomes itself OR the data-out; FUA as for WRITE.

    Checked before anything is read: the range (LOGICAL BLOCK ADDRESS OUT
    OF RANGE) and the data-out length; ORPROTECT is refused by the table.
    """
    count = transfer_length
    dev.check_range(lba, count)
    shift = dev.shift
    dev.check_data_out(cmd, count << shift)
    if not count:
        return
    data = memoryview(cmd.data_out())
    per_chunk = max(1, _OR_CHUNK >> shift)
    image = dev.image
    done = 0
    try:
        while done < count:
            n = min(per_chunk, count - done)
            nbytes = n << shift
            start = done << shift
            old = image.read(lba + done, n)
            new = int.from_bytes(old, "big") | int.from_bytes(data[start : start + nbytes], "big")
            image.write_from(lba + done, n, [memoryview(new.to_bytes(nbytes, "big"))])
            done += n
        if dev.durable(bool(fua)):
            image.flush()
    except OSError as err:
        raise write_error(err, lba + done) from err


def write_atomic_16(
    dev: Disk, cmd: Command, fua: int, lba: int, atomic_boundary: int, transfer_length: int
) -> None:
    """WRITE ATOMIC (16), SBC-4: one atomic write, or one per ATOMIC BOUNDARY blocks.

    A transfer the Block Limits VPD page does not allow is ILLEGAL REQUEST /
    INVALID FIELD IN CDB, the field pointer on the field at fault (SBC-4
    4.29): with ATOMIC BOUNDARY 0, a TRANSFER LENGTH over the MAXIMUM
    ATOMIC TRANSFER LENGTH or not a multiple of the ATOMIC TRANSFER LENGTH
    GRANULARITY, or an LBA that is not a multiple of the ATOMIC ALIGNMENT;
    otherwise an ATOMIC BOUNDARY over the MAXIMUM ATOMIC BOUNDARY SIZE or a
    TRANSFER LENGTH over the MAXIMUM ATOMIC TRANSFER LENGTH WITH ATOMIC
    BOUNDARY. Then the range and the data-out length, as for WRITE.
    """
    limits = dev.limits
    count = transfer_length
    if atomic_boundary == 0:
        if count > limits.max_atomic_transfer or count % limits.atomic_granularity:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(_TRANSFER_LENGTH_BYTE))
        if lba % limits.atomic_alignment:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(_LBA_BYTE))
    else:
        if atomic_boundary > limits.max_atomic_boundary:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(_ATOMIC_BOUNDARY_BYTE))
        if count > limits.max_atomic_with_boundary:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(_TRANSFER_LENGTH_BYTE))
    dev.check_range(lba, count)
    dev.check_data_out(cmd, count << dev.shift)
    if not count:
        return
    try:
        # One pwrite inside one page (boundary 0), or whole blocks (boundary 1).
        dev.image.write_from(lba, count, cmd.iov, durable=dev.durable(bool(fua)))
    except OSError as err:
        raise write_error(err, lba) from err
