"""The sense a disk answers when an operation on its image cannot be done.

SBC-4 4.5: an access outside the medium is LOGICAL BLOCK ADDRESS OUT OF
RANGE, and the INFORMATION field names the first LBA outside it. An I/O
error of the image file becomes a MEDIUM ERROR naming the LBA; a thin
image whose file system is full becomes DATA PROTECT / SPACE ALLOCATION
FAILED WRITE PROTECT (SBC-4 4.7.3.6).
"""

from __future__ import annotations

import errno

from devemu.scsi.sense import (
    LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE,
    SPACE_ALLOCATION_FAILED_WRITE_PROTECT,
    UNRECOVERED_READ_ERROR,
    WRITE_ERROR,
    SenseError,
)

#: The largest value the fixed-format INFORMATION field holds (SPC-5 4.4.3).
_INFORMATION_MAX = 0xFFFFFFFF


def information(lba: int) -> int | None:
    """``lba`` for the INFORMATION field, or None when it does not fit."""
    return lba if lba <= _INFORMATION_MAX else None


def out_of_range(lba: int, capacity: int) -> SenseError:
    """LOGICAL BLOCK ADDRESS OUT OF RANGE naming the first LBA past the medium."""
    return SenseError(
        LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE, information=information(max(lba, capacity))
    )


def read_error(lba: int) -> SenseError:
    """MEDIUM ERROR / UNRECOVERED READ ERROR at ``lba``."""
    return SenseError(UNRECOVERED_READ_ERROR, information=information(lba))


def write_error(err: OSError, lba: int) -> SenseError:
    """Out of space on a thin image, else MEDIUM ERROR / WRITE ERROR at ``lba``."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return SenseError(SPACE_ALLOCATION_FAILED_WRITE_PROTECT)
    return SenseError(WRITE_ERROR, information=information(lba))
