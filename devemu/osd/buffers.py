"""Ranges of a command's data buffers, without copying (OSD-2 4.14.5).

An OSD command's data-out buffer holds the data, the set attributes list
and the get attributes list at offsets the CDB gives; its data-in buffer
holds the data and the retrieved attributes. The buffers arrive as a list
of memoryviews into the transport's mapping; these helpers cut a byte
range out of that list as views (for ``os.pwritev`` and ``os.preadv``) or
as bytes (for the small lists a handler parses).
"""

from __future__ import annotations

from collections.abc import Sequence


def views(iov: Sequence[memoryview], start: int, length: int) -> list[memoryview]:
    """Views of bytes ``start`` to ``start + length`` of the buffers (fewer at the end)."""
    out: list[memoryview] = []
    at = 0
    end = start + length
    for buf in iov:
        n = len(buf)
        lo, hi = max(start - at, 0), min(end - at, n)
        if lo < hi:
            out.append(buf[lo:hi])
        at += n
        if at >= end:
            break
    return out


def gather(iov: Sequence[memoryview], start: int, length: int) -> bytes:
    """A copy of bytes ``start`` to ``start + length`` (shorter when the buffers end)."""
    return b"".join(bytes(v) for v in views(iov, start, length))


def scatter(iov: Sequence[memoryview], start: int, payload: bytes) -> int:
    """Write ``payload`` at byte ``start`` of the buffers; return the bytes written."""
    done = 0
    for view in views(iov, start, len(payload)):
        n = len(view)
        view[:] = payload[done : done + n]
        done += n
    return done


def total(iov: Sequence[memoryview]) -> int:
    return sum(len(b) for b in iov)
