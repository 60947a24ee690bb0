"""The daemon's control socket: JSON lines over a Unix stream socket.

Protocol
--------
A client sends one JSON object per line and reads one JSON object per line
back, in order::

    -> {"device": "cd0", "op": "insert", "args": {"image": "/srv/a.iso"}}
    <- {"ok": true, "result": {...}}
    <- {"ok": false, "error": "cd0: no such device"}

``op`` is looked up in the device's ``ServedDevice.control`` table. The
built-in ``status`` op answers for one device (``ServedDevice.status``) or,
without ``device``, for all of them. The server lives in the daemon's single
``selectors`` loop: it never blocks on a client, and a request runs to
completion before the next event is looked at, so operations see the
device between two SCSI commands.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import selectors
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from devemu.errors import DevemuError
from devemu.served import ServedDevice

log = logging.getLogger(__name__)

#: Longest request line accepted; a client sending more is disconnected.
MAX_REQUEST = 1 << 20
#: Client-side time limit for one call, in seconds.
CALL_TIMEOUT = 30.0

#: What the selector's ``data`` holds for each registered file: called with the events.
Callback = Callable[[int], None]


class ControlError(DevemuError):
    """A control request that failed; the message says why."""


def dispatch(devices: Mapping[str, ServedDevice], request: Any) -> dict[str, Any]:
    """Answer one decoded request; never raises."""
    if not isinstance(request, dict):
        return {"ok": False, "error": "request must be a JSON object"}
    op = request.get("op")
    name = request.get("device")
    args = request.get("args", {})
    if not isinstance(op, str):
        return {"ok": False, "error": "request needs an 'op' string"}
    if not isinstance(args, dict):
        return {"ok": False, "error": "'args' must be an object"}
    if name is None:
        if op != "status":
            return {"ok": False, "error": f"op {op!r} needs a 'device'"}
        return {"ok": True, "result": {"devices": [_status(d) for d in devices.values()]}}
    if not isinstance(name, str):
        return {"ok": False, "error": "'device' must be a string"}
    device = devices.get(name)
    if device is None:
        known = ", ".join(devices) or "none"
        return {"ok": False, "error": f"{name}: no such device (served: {known})"}
    try:
        if op == "status":
            result = _status(device)
        elif op in device.control:
            result = device.control[op](args)
        else:
            ops = ", ".join(["status", *device.control])
            return {"ok": False, "error": f"{name}: unknown op {op!r} (ops: {ops})"}
    except DevemuError as err:
        return {"ok": False, "error": str(err)}
    except Exception as err:
        log.exception("control op %s on %s failed", op, name)
        return {"ok": False, "error": f"{name}: {op} failed: {type(err).__name__}: {err}"}
    if not isinstance(result, dict):
        return {"ok": False, "error": f"{name}: {op} returned {type(result).__name__}"}
    return {"ok": True, "result": result}


def _status(device: ServedDevice) -> dict[str, Any]:
    status = {"name": device.name, "kind": device.kind, "ops": ["status", *device.control]}
    status.update(device.status())
    return status


def _encode(reply: dict[str, Any]) -> bytes:
    return json.dumps(reply, default=str).encode() + b"\n"


class _Connection:
    def __init__(self, server: ControlServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.inbox = bytearray()
        self.outbox = bytearray()

    def on_event(self, events: int) -> None:
        if events & selectors.EVENT_READ:
            self._read()
        if self.sock.fileno() >= 0 and events & selectors.EVENT_WRITE:
            self._flush()

    def _read(self) -> None:
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            return
        self.inbox += data
        while (end := self.inbox.find(b"\n")) >= 0:
            line = bytes(self.inbox[:end])
            del self.inbox[: end + 1]
            if line.strip():
                self.outbox += _encode(self.server.answer(line))
        if len(self.inbox) > MAX_REQUEST:
            self.close()
            return
        self._flush()

    def _flush(self) -> None:
        try:
            sent = self.sock.send(self.outbox)
            del self.outbox[:sent]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.close()
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.outbox else 0)
        self.server.selector.modify(self.sock, events, self.on_event)

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            self.server.selector.unregister(self.sock)
            self.sock.close()
        self.server.connections.discard(self)


class ControlServer:
    """The listening socket and its connections, registered in ``selector``."""

    def __init__(
        self, path: Path, devices: Mapping[str, ServedDevice], selector: selectors.BaseSelector
    ) -> None:
        self.path = path
        self.devices = devices
        self.selector = selector
        self.connections: set[_Connection] = set()
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            old_umask = os.umask(0o177)
            try:
                self.sock.bind(str(path))
            finally:
                os.umask(old_umask)
            self.sock.listen(16)
            self.sock.setblocking(False)
        except OSError as err:
            self.sock.close()
            raise ControlError(f"{path}: cannot listen: {err.strerror}") from err
        selector.register(self.sock, selectors.EVENT_READ, self._accept)

    def answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except (ValueError, UnicodeDecodeError) as err:
            return {"ok": False, "error": f"not JSON: {err}"}
        return dispatch(self.devices, request)

    def _accept(self, events: int) -> None:
        try:
            sock, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        sock.setblocking(False)
        conn = _Connection(self, sock)
        self.connections.add(conn)
        self.selector.register(sock, selectors.EVENT_READ, conn.on_event)

    def close(self) -> None:
        for conn in list(self.connections):
            conn.close()
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(self.sock)
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _remove_stale(path: Path) -> None:
    """Remove a socket file left by a dead daemon; refuse if one is listening."""
    if not path.exists() and not path.is_symlink():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError as err:
        if err.errno in (errno.ECONNREFUSED, errno.ENOENT, errno.ENOTSOCK):
            path.unlink(missing_ok=True)
            return
        raise ControlError(f"{path}: cannot check the existing socket: {err.strerror}") from err
    else:
        raise ControlError(f"{path}: another devemu daemon is listening there")
    finally:
        probe.close()


def call(socket_path: Path | str, device: str | None, op: str, **args: Any) -> dict[str, Any]:
    """Send one request to the daemon at ``socket_path``; return its result.

    Raises :class:`ControlError` when the daemon cannot be reached or
    answers with an error.
    """
    request: dict[str, Any] = {"op": op, "args": args}
    if device is not None:
        request["device"] = device
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CALL_TIMEOUT)
    try:
        try:
            sock.connect(str(socket_path))
        except OSError as err:
            raise ControlError(
                f"{socket_path}: cannot reach the devemu daemon ({err.strerror});"
                " is `devemu serve` running?"
            ) from err
        sock.sendall(json.dumps(request).encode() + b"\n")
        buffer = bytearray()
        while not buffer.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise ControlError(f"{socket_path}: the daemon closed the connection")
            buffer += chunk
    except TimeoutError as err:
        raise ControlError(f"{socket_path}: no answer within {CALL_TIMEOUT:g} s") from err
    finally:
        sock.close()
    reply = json.loads(buffer)
    if not reply.get("ok"):
        raise ControlError(str(reply.get("error", "request failed")))
    result: dict[str, Any] = reply.get("result", {})
    return result
