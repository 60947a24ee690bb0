"""The write cache and read-ahead: SYNCHRONIZE CACHE and PRE-FETCH.

The image's cache is the host's page cache. SYNCHRONIZE CACHE (SBC-4
5.31, 5.32) puts written blocks on stable storage with ``fdatasync``
(the whole file: a range gains nothing on a file system journal).
PRE-FETCH (SBC-4 5.10, 5.11) asks the kernel to read ahead and answers
CONDITION MET when the range fits in the cache it may use, GOOD when
it does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devemu.disk.checks import write_error
from devemu.scsi.command import Command, Deferred, Result, Status

if TYPE_CHECKING:
    from devemu.disk.device import Disk

_CONDITION_MET = Result(Status.CONDITION_MET)
#: How much a PRE-FETCH may ask for and still be told CONDITION MET.
PREFETCH_CACHE_BYTES = 64 << 20


def _synchronize(dev: Disk, cmd: Command, lba: int, count: int) -> Deferred | None:
    # NUMBER OF LOGICAL BLOCKS 0 means "to the last LBA" (SBC-4 5.31).
    dev.check_range(lba, count or 1)
    queue = dev.queue
    if queue is not None:
        return queue.flush(cmd, lba)
    try:
        dev.image.flush()
    except OSError as err:
        raise write_error(err, lba) from err
    return None


def synchronize_cache_10(
    dev: Disk, cmd: Command, lba: int, transfer_length: int
) -> Deferred | None:
    """SYNCHRONIZE CACHE (10) and (16), SBC-4 5.31 and 5.32; IMMED is accepted and the
    flush done anyway. On an NBD export served by a ring, the flush goes out once the
    writes answered before it have their replies (:mod:`devemu.disk.nbd_queue`)."""
    return _synchronize(dev, cmd, lba, transfer_length)


synchronize_cache_16 = synchronize_cache_10


def _prefetch(dev: Disk, lba: int, count: int) -> Result | None:
    if count == 0:
        # PREFETCH LENGTH 0: from the LBA to the last one (SBC-4 5.10).
        dev.check_range(lba, 1)
        count = dev.capacity - lba
    dev.check_range(lba, count)
    dev.image.prefetch(lba, count)
    if count << dev.shift <= PREFETCH_CACHE_BYTES:
        return _CONDITION_MET
    return None


def pre_fetch_10(dev: Disk, cmd: Command, lba: int, transfer_length: int) -> Result | None:
    """PRE-FETCH (10) and (16), SBC-4 5.10 and 5.11."""
    return _prefetch(dev, lba, transfer_length)


pre_fetch_16 = pre_fetch_10
