"""Where the tape is, kept where a killed daemon's successor finds it.

A daemon killed with SIGKILL is not a power cycle of the drive: the host
still believes the tape is where its last acknowledged command left it,
and Linux st (6.1) treats the POWER ON RESET that follows as a new
session at BOP without asking the drive. A drive that came back at BOP
would then take the host's next WRITE or WRITE FILEMARKS there and lose
everything after it (SSC-5 4.2.20: writing at a position makes it end of
data). So the drive keeps (partition, logical object) in eight bytes of a
memory-mapped file, stored with one aligned 64-bit store per motion: no
system call on the command path, and the page cache outlives the process.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

_PARTITION_SHIFT = 56
_POSITION_MASK = (1 << _PARTITION_SHIFT) - 1
_VALID = 1 << 63


class PositionSpot:
    """Eight bytes in a file: bit 63 valid, bits 62-56 partition, 55-0 position."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size < 8:
                os.ftruncate(fd, 8)
            self._map = mmap.mmap(fd, 8)
        finally:
            os.close(fd)
        self._word = memoryview(self._map).cast("Q")

    def read(self) -> tuple[int, int] | None:
        """The stored (partition, position), or None if nothing valid was stored."""
        value = self._word[0]
        if not value & _VALID:
            return None
        return (value >> _PARTITION_SHIFT) & 0x7F, value & _POSITION_MASK

    def store(self, partition: int, position: int) -> None:
        self._word[0] = _VALID | (partition << _PARTITION_SHIFT) | (position & _POSITION_MASK)
