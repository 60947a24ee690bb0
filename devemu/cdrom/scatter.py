"""Writing a stream of bytes into a command's data-in buffers.

A READ lands in the buffers of :attr:`devemu.scsi.command.Command.iov`
(memoryviews into the transport's shared memory). :class:`Scatter` keeps
a cursor over them so sector after sector can be appended, and
:meth:`Scatter.preadv` reads straight from a file into the buffers
(zero copy) when the sectors are stored as they are sent.
"""

from __future__ import annotations

import os


class Scatter:
    """A write cursor over a list of buffers.

    Bytes past the end of the buffers are dropped: an initiator that gave
    less room than the transfer gets what fits, and :attr:`written` says
    how much that was (the data-in length the transport reports).
    """

    __slots__ = ("_buffers", "_index", "_offset", "written")

    def __init__(self, buffers: list[memoryview]) -> None:
        self._buffers = buffers
        self._index = 0
        self._offset = 0
        self.written = 0

    def _views(self, length: int) -> list[memoryview]:
        """The buffer pieces covering the next ``length`` bytes, or what is left of
        the buffers if that is less; advances the cursor."""
        views: list[memoryview] = []
        need = length
        buffers = self._buffers
        while need > 0 and self._index < len(buffers):
            buf = buffers[self._index]
            take = min(len(buf) - self._offset, need)
            views.append(buf[self._offset : self._offset + take])
            need -= take
            self._offset += take
            if self._offset == len(buf):
                self._index += 1
                self._offset = 0
        self.written += length - need
        return views

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data``."""
        src = memoryview(data).cast("B")
        pos = 0
        for view in self._views(len(src)):
            view[:] = src[pos : pos + len(view)]
            pos += len(view)

    def zeros(self, length: int) -> None:
        for view in self._views(length):
            view[:] = bytes(len(view))

    def preadv(self, fd: int, offset: int, length: int) -> None:
        """Read ``length`` bytes of ``fd`` at ``offset`` straight into the buffers.

        Bytes past the end of the file read as zeros (a short last track).
        """
        views = self._views(length)
        length = sum(len(v) for v in views)
        if not length:
            return
        done = os.preadv(fd, views, offset)
        while done < length:
            rest = _skip(views, done)
            n = os.preadv(fd, rest, offset + done)
            if n == 0:
                for view in rest:
                    view[:] = bytes(len(view))
                return
            done += n


def _skip(views: list[memoryview], count: int) -> list[memoryview]:
    out: list[memoryview] = []
    for view in views:
        if count >= len(view):
            count -= len(view)
            continue
        out.append(view[count:])
        count = 0
    return out
