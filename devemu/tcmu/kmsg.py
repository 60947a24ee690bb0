"""Noticing that the kernel gave up on a ring: its log, and a doorbell to tell which ring.

When ``tcmu_handle_completions`` finds an entry behind ``cmd_tail`` whose
``cmd_id`` is not outstanding it prints ``cmd_id N not found, ring is
broken`` and sets ``TCMU_DEV_BIT_BROKEN``. From then on the device never
queues another command to the handler (``queue_cmd_ring`` fails every
command itself) and every doorbell ``write()`` prints ``ring broken, not
handling completions`` and does nothing else. Nothing in the ring or in
configfs shows the bit.

Signals a handler could watch, and why this one:

- "commands stop arriving while the LUN is linked" cannot be told apart
  from an initiator that is idle;
- the kernel log says it, in so many words, the instant it happens, but
  names no device (neither message carries the backstore's name);
- the doorbell answers the question for one ring: the message about a
  broken ring is printed inside the ``write()`` that the handler made, so
  it is in the log by the time ``write()`` returns. A ring that is not
  broken only reaps what is already behind its tail, which is harmless.

So :class:`RingWatch` follows ``/dev/kmsg`` (from its end: what was logged
before the daemon started is not its business) and, when a line about a
broken ring arrives, :meth:`RingWatch.is_broken` rings each ring's
doorbell in turn and looks for the kernel's answer. A ring counts as
broken only if two doorbells in a row were each answered so, so that a
line printed for another ring in the same instant does not condemn this
one.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from pathlib import Path
from typing import Final, Protocol

log = logging.getLogger(__name__)

KMSG: Final = Path("/dev/kmsg")
#: What target_core_user prints when it marks a ring broken (6.1).
BROKEN: Final = "ring is broken"
#: What it prints for every doorbell of a ring marked broken (6.1).
NOT_HANDLING: Final = "ring broken, not handling completions"
#: Room for one /dev/kmsg record (it hands out one per read; 6.1 keeps them under 1 KiB).
_RECORD_MAX = 8192


class Bell(Protocol):
    """A ring's doorbell: the ``write()`` that makes the kernel reap completions."""

    def notify(self) -> None: ...


class RingWatch:
    """Follows the kernel log for target_core_user's broken-ring messages."""

    def __init__(self, path: Path = KMSG) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with contextlib.suppress(OSError):  # a pipe in tests cannot seek
            os.lseek(self._fd, 0, os.SEEK_END)

    def fileno(self) -> int:
        return self._fd

    def _messages(self) -> list[str]:
        """Every record logged since the last read (text after the ``;`` of the prefix)."""
        found: list[str] = []
        while True:
            try:
                record = os.read(self._fd, _RECORD_MAX)
            except BlockingIOError:
                return found
            except OSError as err:
                if err.errno == errno.EPIPE:  # records overwritten before we read them
                    continue
                raise
            if not record:
                return found
            for line in record.decode(errors="replace").splitlines():
                if line.startswith(" "):  # a continuation line (KEY=value)
                    continue
                found.append(line.split(";", 1)[-1])

    def alarmed(self) -> bool:
        """Read what the kernel logged; True if any of it says a ring is broken."""
        return any(BROKEN in m or NOT_HANDLING in m for m in self._messages())

    def is_broken(self, bell: Bell) -> bool:
        """Ring ``bell`` and say whether the kernel answered that its ring is broken."""
        self._messages()
        for _ in range(2):
            bell.notify()
            if not any(NOT_HANDLING in m for m in self._messages()):
                return False
        return True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
