"""A control server driven the way the daemon's loop drives it, and raw clients."""

from __future__ import annotations

import json
import selectors
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devemu.control import ControlServer
from devemu.served import ServedDevice

#: Seconds a test waits for one answer; the server answers in milliseconds.
WAIT = 5.0


class Serving:
    """A :class:`ControlServer` whose loop runs in a thread, as ``Daemon.step`` runs it.

    An exception out of a callback ends the loop as it would end the
    daemon: it is kept in ``error`` and :meth:`close` raises it.
    """

    def __init__(self, path: Path, devices: dict[str, ServedDevice], **kwargs: Any) -> None:
        self.selector = selectors.DefaultSelector()
        self.server = ControlServer(path, devices, self.selector, **kwargs)
        self.path = path
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                for key, events in self.selector.select(0.02):
                    key.data(events)
                self.server.expire()
        except BaseException as err:
            self.error = err

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(WAIT)
        self.server.close()
        self.selector.close()
        if self.error is not None:
            raise AssertionError(f"the control loop ended: {self.error!r}") from self.error


def connect(path: Path) -> socket.socket:
    """A connected client; waits (up to ``WAIT``) while the listen backlog is full."""
    deadline = time.monotonic() + WAIT
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(WAIT)
        try:
            sock.connect(str(path))
        except BlockingIOError:
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.001)
            continue
        except BaseException:
            sock.close()
            raise
        return sock


def eventually(condition: Callable[[], bool]) -> bool:
    """Whether ``condition`` becomes true within ``WAIT`` seconds."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def read_line(sock: socket.socket) -> bytes:
    """One answer line; b"" if the server closed the connection first."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            return data
        data += chunk
    return data


def ask(sock: socket.socket, request: bytes | dict[str, Any]) -> dict[str, Any]:
    """Send one request line and return the decoded answer."""
    line = request if isinstance(request, bytes) else json.dumps(request).encode()
    sock.sendall(line + b"\n")
    answer = read_line(sock)
    assert answer, "the server closed the connection"
    reply: dict[str, Any] = json.loads(answer)
    return reply


def ask_once(path: Path, request: bytes | dict[str, Any]) -> dict[str, Any]:
    with connect(path) as sock:
        return ask(sock, request)
