"""One ring on ``/dev/uioN``: its mapping, its doorbell, and the thread that rings early.

The doorbell (``Documentation/target/tcmu-design.rst``): a 4-byte
``read()`` consumes the kernel's "entries queued" events, a 4-byte
``write()`` makes the kernel reap completions (``tcmu_irqcontrol`` ->
``tcmu_handle_completions``, under the device's ``cmdr_lock``). That
``write()`` is also where the kernel copies data-in out of the data area
(``gather_data_area``), a copy as long as the handler's own for a large
READ. :meth:`UioChannel.notify` writes at once; :meth:`UioChannel.notify_soon`,
which the ring loop uses after a large READ, hands the ``write()`` to a
thread of the channel's own, so the copy runs while the loop serves the
next commands.

That thread is the only second thread that touches a ring, and it
touches nothing but the file descriptor: the loop has stored ``cmd_tail``
before it asks, and the kernel reads the tail while the loop goes on
writing the next answers, which is why every store the kernel may read
concurrently is a single aligned store (see :func:`devemu.tcmu.abi.mailbox_words`).
Writes coalesce: one ``write()`` reaps everything behind ``cmd_tail``,
so a request made while one is pending is covered by it. For small
batches the hand-over costs more than it saves, so only large READs use it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading

from devemu.tcmu.uio import UioDevice, UioMapping

log = logging.getLogger(__name__)


class UioChannel:
    """A ring on ``/dev/uioN`` as the daemon's loop sees it; also the ring's doorbell."""

    def __init__(self, uio: UioDevice) -> None:
        self.uio = uio
        self._map = UioMapping(uio)
        os.set_blocking(self._map.fd, False)
        self.mapping = memoryview(self._map.mem)
        # A binary semaphore between the loop's thread and the ringer thread
        # (the one second thread a ring has): held while no write() is
        # wanted, released (once) to want one.
        self._bell = threading.Lock()
        self._bell.acquire()
        self._rung = False
        self._closing = False
        self._ringer: threading.Thread | None = None

    def _ring(self) -> None:
        fd = self._map.fd
        bell = self._bell
        while True:
            bell.acquire()
            self._rung = False
            try:
                os.write(fd, b"\0\0\0\0")
            except OSError as err:
                log.debug("%s: write: %s", self.uio.dev, err)
            if self._closing:
                return

    def fileno(self) -> int:
        return self._map.fd

    def acknowledge(self) -> bool:
        """Consume the doorbell that made ``fileno`` readable; False if the ring is gone."""
        try:
            os.read(self._map.fd, 4)
        except BlockingIOError:
            return True
        except OSError as err:
            log.debug("%s: read: %s", self.uio.dev, err)
            return False
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """The daemon's selector waits instead; never blocks."""
        return False

    def notify(self) -> None:
        """The ``write()`` that makes the kernel reap completions, now."""
        self._map.notify()

    def notify_soon(self) -> None:
        """The same ``write()``, made by the ringer thread; returns at once."""
        if self._rung:
            return
        if self._ringer is None:
            self._ringer = threading.Thread(
                target=self._ring, name=f"devemu-{self.uio.dev.name}", daemon=True
            )
            self._ringer.start()
        self._rung = True
        self._bell.release()

    def close(self) -> None:
        self._closing = True
        if self._ringer is not None:
            if not self._rung:
                self._rung = True
                self._bell.release()
            self._ringer.join()
            self._ringer = None
        with contextlib.suppress(BufferError):
            self.mapping.release()
        self._map.close()
