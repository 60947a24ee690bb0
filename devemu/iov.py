"""A command's data buffers: a list of memoryviews into the transport's shared
mapping (the TCMU data area), cut without copying."""

from __future__ import annotations

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
