"""A command's data buffers: a list of memoryviews into the transport's shared
mapping (the TCMU data area), cut without copying."""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence


def prefix(iov: Sequence[memoryview], length: int) -> list[memoryview]:
    """The first ``length`` bytes of ``iov`` as a list of buffers (all of it when shorter)."""
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


def skip(iov: Sequence[memoryview], n: int) -> list[memoryview]:
    """``iov`` without its first ``n`` bytes."""
    out: list[memoryview] = []
    for buf in iov:
        if n >= len(buf):
            n -= len(buf)
            continue
        out.append(buf[n:] if n else buf)
        n = 0
    return out


def pwrite_all(fd: int, iov: Sequence[memoryview], offset: int) -> int:
    """Write every byte of ``iov`` at ``offset`` of ``fd``: one ``os.pwritev``, and after a
    short write (a full file system) the rest from where it stopped, never a copy; a write
    that takes nothing is ENOSPC. Returns the bytes written."""
    want = sum(len(b) for b in iov)
    done = os.pwritev(fd, iov, offset)
    while done < want:
        n = os.pwritev(fd, skip(iov, done), offset + done)
        if n <= 0:
            raise OSError(errno.ENOSPC, "short write")
        done += n
    return done
