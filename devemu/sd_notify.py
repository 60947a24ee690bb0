"""systemd's service notifications (``sd_notify(3)``), spoken without libsystemd.

A unit of ``Type=notify`` learns how its service is doing from datagrams
the service sends to the ``AF_UNIX`` socket named in ``$NOTIFY_SOCKET``.
Each datagram is newline-separated ``KEY=value`` assignments
(``sd_notify(3)``, "Well-known assignments"):

- ``READY=1``: start-up is finished (for devemu: every LUN is linked);
- ``STOPPING=1``: shutdown has begun;
- ``STATUS=...``: one line saying what the service does, shown by
  ``systemctl status``;
- ``WATCHDOG=1``: the keep-alive, due at least every ``$WATCHDOG_USEC``
  microseconds while that is set (and ``$WATCHDOG_PID``, when set, is this
  process); devemu sends it from its event loop, every half interval, so a
  loop that hangs is noticed.

A socket name that starts with ``@`` lies in the abstract namespace: the
``@`` stands for the leading NUL byte of its address (``unix(7)``). Other
names must be absolute paths; anything else (a relative path, systemd's
newer ``vsock:`` addresses) is not a socket this module can reach and is
logged once, as is a datagram that cannot be sent: the service manager
going away never stops the daemon. Without ``$NOTIFY_SOCKET`` every call
does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

NOTIFY_SOCKET = "NOTIFY_SOCKET"
WATCHDOG_USEC = "WATCHDOG_USEC"
WATCHDOG_PID = "WATCHDOG_PID"


def socket_address(name: str) -> str | bytes | None:
    """The ``sendto`` address of ``$NOTIFY_SOCKET``; None when it names no Unix socket."""
    if name.startswith("@") and len(name) > 1:
        return b"\0" + os.fsencode(name[1:])
    if name.startswith("/"):
        return name
    return None


def watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between keep-alives (half of ``$WATCHDOG_USEC``); None when not asked for."""
    usec = environ.get(WATCHDOG_USEC, "")
    owner = environ.get(WATCHDOG_PID, "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if owner and owner != str(pid):
        return None
    return int(usec) / 2e6


def message(**fields: str) -> bytes:
    """``KEY=value`` lines; a value is one line (a newline in it would start a new key)."""
    return "\n".join(
        f"{key}={' '.join(value.splitlines())}" for key, value in fields.items()
    ).encode()


class Notifier:
    """Sends this process's notifications to the service manager, if there is one."""

    def __init__(
        self,
        address: str | bytes | None = None,
        watchdog: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.address = address
        self.watchdog = watchdog
        self.clock = clock
        self._socket: socket.socket | None = None
        self._next_keepalive = 0.0  # the first one is due at once
        self._failed = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """The notifier ``$NOTIFY_SOCKET`` and ``$WATCHDOG_USEC`` describe."""
        env = os.environ if environ is None else environ
        name = env.get(NOTIFY_SOCKET, "")
        if not name:
            return cls()
        address = socket_address(name)
        if address is None:
            log.warning("%s=%r is not a Unix socket; no service notifications", NOTIFY_SOCKET, name)
            return cls()
        return cls(address, watchdog_interval(env, os.getpid()))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, **fields: str) -> None:
        """One datagram of ``fields``; a failure is logged once and otherwise ignored."""
        if self.address is None:
            return
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
                self._socket.setblocking(False)
            self._socket.sendto(message(**fields), self.address)
        except OSError as err:
            if not self._failed:
                log.warning("cannot notify the service manager: %s", err)
            self._failed = True

    def ready(self, status: str) -> None:
        self.send(READY="1", STATUS=status)

    def stopping(self, status: str) -> None:
        self.send(STOPPING="1", STATUS=status)

    def status(self, status: str) -> None:
        self.send(STATUS=status)

    def keepalive(self) -> None:
        """``WATCHDOG=1`` when it is due; call it from the loop, as often as it turns."""
        if self.watchdog is None:
            return
        now = self.clock()
        if now >= self._next_keepalive:
            self._next_keepalive = now + self.watchdog
            self.send(WATCHDOG="1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
