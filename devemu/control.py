"""The daemon's control socket: JSON lines over a Unix stream socket.

Protocol
--------
A client sends one JSON object per line and reads one JSON object per line
back, in order::

    -> {"device": "cd0", "op": "insert", "args": {"image": "/srv/a.iso"}}
    <- {"ok": true, "result": {...}}
    <- {"ok": false, "error": "cd0: no such device"}

What a request may hold and how it is answered is
:mod:`devemu.control_protocol`; this module is the socket. The server
lives in the daemon's single ``selectors`` loop: it never blocks on a
client, and a request runs to completion before the next event is looked
at, so operations see the device between two SCSI commands.

No client can end the loop or make it grow without bound (:class:`Limits`):

- a request line longer than ``Limits.line`` is refused and the
  connection closed after that answer;
- a connection gets :data:`REQUESTS_PER_EVENT` requests answered per
  event, so that a pipelined burst cannot hold the loop away from the
  rings; a client that sends requests without reading the answers is
  dropped once more than ``Limits.pending`` bytes of answers (or of
  requests not yet answered) wait for it;
- past ``Limits.connections`` open connections, a new one gets one
  ``ok: false`` line and is closed; so does one accepted while the
  process is out of file descriptors (a spare descriptor is kept for
  this), and if even that fails accepting pauses for a second;
- a connection that sends and reads nothing for ``Limits.idle`` seconds
  is closed (:meth:`ControlServer.expire`, called by the loop), unless
  it is a trace stream, which waits as long as no command comes;
- a trace stream (the ``trace`` op, :mod:`devemu.trace`) reads nothing
  more from its client; at most ``Limits.trace_records`` records wait for
  it, newer ones are dropped and counted, and they become JSON lines
  only as the client reads, :data:`STREAM_CHUNK` bytes at a time;
- an exception in a connection's handler is logged and ends that
  connection only.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import selectors
import socket
import stat
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devemu.control_protocol import (
    ControlError,
    FabricStatus,
    answer,
    encode,
    refusal,
    trace_request,
)

if TYPE_CHECKING:  # the daemon's side: a client (devemu cdrom, library...) imports none of it
    from devemu.served import ServedDevice
    from devemu.trace import Subscriber, TraceHub

__all__ = ["CALL_TIMEOUT", "ControlError", "ControlServer", "Limits", "call", "stream"]

log = logging.getLogger(__name__)

#: Client-side time limit for one call, in seconds.
CALL_TIMEOUT = 30.0
#: Longest answer line the client reads.
MAX_ANSWER = 16 << 20
#: How long accepting pauses when not even the spare descriptor helps.
ACCEPT_PAUSE = 1.0
#: Connections accepted per readiness event of the listening socket.
ACCEPT_BURST = 16
#: Requests of one connection answered per event: the rings get their turn in between.
REQUESTS_PER_EVENT = 16
#: Bytes of trace records encoded for a stream at a time (they wait as records before).
STREAM_CHUNK = 64 << 10


@dataclass(frozen=True, slots=True)
class Limits:
    """What one client may hold of the daemon (the README lists the defaults)."""

    #: Longest request line, in bytes, newline excluded.
    line: int = 64 << 10
    #: Answers waiting for a client that does not read them (or requests it sent
    #: ahead of them), in bytes, before it is dropped.
    pending: int = 1 << 20
    #: Open connections.
    connections: int = 64
    #: Seconds a connection may send and read nothing (a trace stream excepted).
    idle: float = 60.0
    #: Records waiting for one trace stream before newer ones are dropped (and counted).
    trace_records: int = 1024


class _Connection:
    def __init__(self, server: ControlServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.inbox = bytearray()
        self.outbox = bytearray()
        self.closing = False  # answer what is queued, then close
        self.active = time.monotonic()
        self.stream: Subscriber | None = None  # a trace stream from its trace request on

    @property
    def open(self) -> bool:
        return self.sock.fileno() >= 0

    def on_event(self, events: int) -> None:
        try:
            if events & selectors.EVENT_READ and not self.closing:
                self._receive()
            if self.open and not self.closing and self.stream is None:
                self._answer_some()
            if self.open:
                self._flush()
        except Exception:
            log.exception("control connection failed; closing it")
            self.close()

    def _receive(self) -> None:
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            return
        self.active = time.monotonic()
        if self.stream is not None:
            return  # a trace stream reads nothing more; what its client sends is dropped
        self.inbox += data
        if len(self.inbox) > self.server.limits.pending + self.server.limits.line:
            self._drop("it sends requests faster than it reads the answers")

    def _answer_some(self) -> None:
        """Answer up to :data:`REQUESTS_PER_EVENT` waiting requests; the rest wait their turn."""
        limits = self.server.limits
        for _ in range(REQUESTS_PER_EVENT):
            end = self.inbox.find(b"\n")
            if end < 0:
                break
            if end > limits.line:
                self._refuse_line()
                return
            line = bytes(self.inbox[:end])
            del self.inbox[: end + 1]
            if line.strip():
                self.outbox += self._respond(line)
                if self.stream is not None:
                    self.inbox.clear()
                    return
            if len(self.outbox) > limits.pending:
                self._drop("it reads no answers")
                return
        if len(self.inbox) > limits.line and b"\n" not in self.inbox:
            self._refuse_line()

    def _respond(self, line: bytes) -> bytes:
        """The answer to one request line; a trace request turns this connection into a stream."""
        tracing = self.server.tracing
        if tracing is not None:
            from devemu.trace import TraceFilterError  # noqa: PLC0415 (loaded with the hub)

            try:
                args = trace_request(line)
                if args is not None:
                    limit = self.server.limits.trace_records
                    self.stream = tracing.subscribe(args, self._stream_waits, limit)
                    devices = [name for name in tracing.tables if tracing.wants(name)]
                    log.info("trace stream opened (%s)", ", ".join(devices))
                    return encode({"ok": True, "result": {"devices": devices, "queue": limit}})
            except (ControlError, TraceFilterError) as err:
                return encode(refusal(f"trace: {err}"))
        return answer(self.server.devices, line, self.server.fabric_status)

    def _stream_waits(self) -> None:
        """Records wait for this stream: write when the client can take them."""
        if self.open:
            self.server.selector.modify(
                self.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, self.on_event
            )

    def _refuse_line(self) -> None:
        limit = self.server.limits.line
        self.outbox += encode(refusal(f"request line longer than {limit} bytes"))
        self.inbox.clear()
        self.closing = True

    def _drop(self, why: str) -> None:
        log.warning("control client dropped: %s", why)
        self.close()

    def _flush(self) -> None:
        stream = self.stream
        if stream is not None:
            budget = min(STREAM_CHUNK, self.server.limits.pending) - len(self.outbox)
            if budget > 0 and stream.pending:
                self.outbox += stream.take(budget)
        if self.outbox:
            try:
                sent = self.sock.send(self.outbox)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self.close()
                return
            if sent:
                del self.outbox[:sent]
                self.active = time.monotonic()
        if self.closing and not self.outbox:
            self.close()
            return
        # Waiting requests bring the loop back as soon as it may write.
        events = 0 if self.closing else selectors.EVENT_READ
        if (
            self.outbox
            or (not self.closing and b"\n" in self.inbox)
            or (stream is not None and stream.pending)
        ):
            events |= selectors.EVENT_WRITE
        self.server.selector.modify(self.sock, events, self.on_event)

    def close(self) -> None:
        if self.stream is not None and self.server.tracing is not None:
            self.server.tracing.unsubscribe(self.stream)
            log.info("trace stream closed")
        self.stream = None
        if self.sock.fileno() >= 0:
            with contextlib.suppress(KeyError, ValueError):
                self.server.selector.unregister(self.sock)
            self.sock.close()
        if self in self.server.connections:
            self.server.connections.discard(self)
            self.server.resume()


class ControlServer:
    """The listening socket and its connections, registered in ``selector``."""

    def __init__(
        self,
        path: Path,
        devices: Mapping[str, ServedDevice],
        selector: selectors.BaseSelector,
        limits: Limits | None = None,
        tracing: TraceHub | None = None,
        fabric_status: FabricStatus | None = None,
    ) -> None:
        self.path = path
        self.devices = devices
        #: The fabric's part of ``devemu status`` (iSCSI sessions), if any.
        self.fabric_status = fabric_status
        #: The daemon's trace subscribers; None: the ``trace`` op is refused.
        self.tracing = tracing
        self.selector = selector
        self.limits = limits or Limits()
        self.connections: set[_Connection] = set()
        self._paused_until: float | None = None
        self._refusing = False
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
        self._spare: int | None = _open_spare()
        selector.register(self.sock, selectors.EVENT_READ, self._on_accept)

    def expire(self, now: float | None = None) -> None:
        """Close the connections idle for longer than ``Limits.idle``; resume accepting.

        The daemon's loop calls this on every step (it wakes at least once a
        second); it costs one comparison per open connection.
        """
        now = time.monotonic() if now is None else now
        idle = self.limits.idle
        for conn in [c for c in self.connections if c.stream is None and now - c.active > idle]:
            log.info("control connection closed: idle for %g s", self.limits.idle)
            conn.close()
        if self._paused_until is not None and now >= self._paused_until:
            self.resume()

    def resume(self) -> None:
        """Listen again after a pause for want of file descriptors."""
        if self._paused_until is None or self.sock.fileno() < 0:
            return
        self._paused_until = None
        self.selector.register(self.sock, selectors.EVENT_READ, self._on_accept)

    def _on_accept(self, events: int) -> None:
        try:
            self.expire()
            for _ in range(ACCEPT_BURST):
                if self._paused_until is not None or not self._accept_one():
                    return
        except Exception:
            log.exception("control socket: accept failed")

    def _accept_one(self) -> bool:
        """Accept one connection; False when none is waiting."""
        try:
            sock, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as err:
            if err.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                self._shed(err)
                return True
            if err.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM):
                return True
            log.warning("control socket: accept failed: %s", err.strerror)
            return False
        if len(self.connections) >= self.limits.connections:
            self._turn_away(
                sock, f"too many control connections ({self.limits.connections}); try again later"
            )
            return True
        if self._refusing:
            log.info("control socket: accepting connections again")
            self._refusing = False
        sock.setblocking(False)
        conn = _Connection(self, sock)
        self.connections.add(conn)
        self.selector.register(sock, selectors.EVENT_READ, conn.on_event)
        return True

    def _shed(self, err: OSError) -> None:
        """Out of descriptors: turn the next client away with the spare one, or pause."""
        if not self._refusing:
            log.warning("control socket: out of file descriptors (%s)", err.strerror)
            self._refusing = True
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None
            with contextlib.suppress(OSError):
                sock, _ = self.sock.accept()
                self._turn_away(sock, "the daemon is out of file descriptors; try again later")
            self._spare = _open_spare()
            if self._spare is not None:
                return
        self._paused_until = time.monotonic() + ACCEPT_PAUSE
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(self.sock)

    def _turn_away(self, sock: socket.socket, reason: str) -> None:
        if not self._refusing:
            log.warning("control socket: refusing connections: %s", reason)
        self._refusing = True
        with sock:
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.send(encode(refusal(reason)))

    def close(self) -> None:
        for conn in list(self.connections):
            conn.close()
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(self.sock)
        self.sock.close()
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _open_spare() -> int | None:
    try:
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


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


# --------------------------------------------------------------------- client


def unreachable(path: Path | str, err: OSError) -> str:
    """Why ``connect()`` to the daemon's socket failed, and what to do about it."""
    prefix = f"{path}: cannot reach the devemu daemon"
    running = "is `devemu serve` running? (--socket or $DEVEMU_SOCKET name another socket)"
    code = err.errno
    if code in (errno.EACCES, errno.EPERM):
        return (
            f"{prefix}: permission denied; the socket is for the daemon's user only"
            " (mode 0600): run this as root, or check the mode of the socket and its folder"
        )
    if code == errno.ENOENT:
        return f"{prefix}: no such socket; {running}"
    if code == errno.ECONNREFUSED and not _is_socket(path):
        return f"{prefix}: the file is not a socket; {running}"
    if code == errno.ECONNREFUSED:
        return f"{prefix}: nothing listens on the socket (a stopped daemon left it); {running}"
    if code in (errno.EAGAIN, errno.EWOULDBLOCK):
        return f"{prefix}: it has too many connections waiting; try again later"
    return f"{prefix}: {err.strerror or err}"


def _is_socket(path: Path | str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def _connect(sock: socket.socket, socket_path: Path | str) -> None:
    """Connect, waiting (up to ``CALL_TIMEOUT``) while the daemon's listen backlog is full."""
    deadline = time.monotonic() + CALL_TIMEOUT
    while True:
        try:
            sock.connect(str(socket_path))
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
        else:
            return


def call(socket_path: Path | str, device: str | None, op: str, **args: Any) -> dict[str, Any]:
    """Send one request to the daemon at ``socket_path``; return its result.

    Raises :class:`ControlError` when the daemon cannot be reached or
    answers with an error.
    """
    request: dict[str, Any] = {"op": op, "args": args}
    if device is not None:
        request["device"] = device
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        line = _request(sock, socket_path, request)
    return _result(socket_path, line)


def stream(socket_path: Path | str, op: str, **args: Any) -> Generator[dict[str, Any], None, None]:
    """Open a stream (the ``trace`` op): its first answer's result, then each object it sends.

    Raises :class:`ControlError` when the daemon cannot be reached or
    refuses; the iteration ends when the daemon closes the stream.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        _send(sock, socket_path, {"op": op, "args": args})
        try:
            with sock.makefile("rb") as lines:
                first = lines.readline(MAX_ANSWER)
                if not first:
                    raise ControlError(f"{socket_path}: the daemon closed the connection")
                yield _result(socket_path, first)
                sock.settimeout(None)  # a stream is quiet for as long as no command comes
                for line in lines:
                    try:
                        item = json.loads(line)
                    except ValueError:
                        item = None
                    if not isinstance(item, dict):
                        raise ControlError(f"{socket_path}: the stream sent something not JSON")
                    yield item
        except TimeoutError as err:
            raise ControlError(f"{socket_path}: no answer within {CALL_TIMEOUT:g} s") from err
        except OSError as err:
            raise ControlError(f"{socket_path}: the connection failed: {err.strerror}") from None


def _send(sock: socket.socket, socket_path: Path | str, request: dict[str, Any]) -> None:
    """Connect ``sock`` (waiting up to ``CALL_TIMEOUT``) and send ``request``."""
    sock.settimeout(CALL_TIMEOUT)
    try:
        _connect(sock, socket_path)
    except TimeoutError as err:
        raise ControlError(f"{socket_path}: no answer within {CALL_TIMEOUT:g} s") from err
    except OSError as err:
        raise ControlError(unreachable(socket_path, err)) from None
    try:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            # A daemon that turns us away has already written why: read it.
            sock.sendall(json.dumps(request).encode() + b"\n")
    except TimeoutError as err:
        raise ControlError(f"{socket_path}: no answer within {CALL_TIMEOUT:g} s") from err
    except OSError as err:
        raise ControlError(f"{socket_path}: the connection failed: {err.strerror}") from None


def _request(sock: socket.socket, socket_path: Path | str, request: dict[str, Any]) -> bytes:
    """Connect ``sock``, send ``request``, return the answer line."""
    _send(sock, socket_path, request)
    try:
        return _read_line(sock, socket_path)
    except TimeoutError as err:
        raise ControlError(f"{socket_path}: no answer within {CALL_TIMEOUT:g} s") from err
    except OSError as err:
        raise ControlError(f"{socket_path}: the connection failed: {err.strerror}") from None


def _result(socket_path: Path | str, line: bytes) -> dict[str, Any]:
    """The result of an answer line; :class:`ControlError` for a refusal."""
    try:
        reply = json.loads(line)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        raise ControlError(f"{socket_path}: the answer is not a devemu control answer")
    if reply.get("ok") is not True:
        raise ControlError(str(reply.get("error", "request failed")))
    result = reply.get("result", {})
    if not isinstance(result, dict):
        raise ControlError(f"{socket_path}: the answer is not a devemu control answer")
    return result


def _read_line(sock: socket.socket, socket_path: Path | str) -> bytes:
    buffer = bytearray()
    while not buffer.endswith(b"\n"):
        if len(buffer) > MAX_ANSWER:
            raise ControlError(f"{socket_path}: answer longer than {MAX_ANSWER} bytes")
        chunk = sock.recv(65536)
        if not chunk:
            raise ControlError(f"{socket_path}: the daemon closed the connection")
        buffer += chunk
    return bytes(buffer)
