"""The host's side of the agent: run commands in a guest that stays up.

:class:`AgentClient` connects to the Unix socket QEMU listens on for the
guest's virtio-serial port, greets the agent (``HELLO``/``WELCOME``, what
arrived before is skipped) and then runs commands one after the other
(:meth:`AgentClient.run`), forwards control requests
(:meth:`AgentClient.control`) or powers the guest off
(:meth:`AgentClient.shutdown`). QEMU serves one client at a time: a
second client's connection waits until the first closes.
"""

from __future__ import annotations

import json
import secrets
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from devemu.control_protocol import ControlError
from devemu.vm.agent_protocol import (
    Decoder,
    Frame,
    Kind,
    encode,
    encode_data,
    encode_json,
)
from devemu.vm.errors import VmError

#: Seconds to wait for the agent's greeting.
HELLO_TIMEOUT = 30.0


class AgentError(VmError):
    """The agent could not be reached, or refused a request."""


class CommandTimeoutError(AgentError):
    """A command ran past its time limit (its process group was killed)."""


@dataclass(frozen=True)
class CommandResult:
    """What one command in the guest produced.

    ``returncode`` is its exit status (-N when signal N killed it, 127
    when it could not be started); ``duration`` the host's wall time
    from request to exit.
    """

    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes
    duration: float

    @property
    def text(self) -> str:
        """stdout as text."""
        return self.stdout.decode(errors="replace")

    @property
    def error_text(self) -> str:
        """stderr as text."""
        return self.stderr.decode(errors="replace")

    def check(self) -> CommandResult:
        """Return self; raise :class:`AgentError` (with stderr) when the status is not 0."""
        if self.returncode != 0:
            raise AgentError(
                f"{' '.join(self.argv)}: exit status {self.returncode}\n{self.error_text}"
            )
        return self


Sink = Callable[[bytes], None]


class AgentClient:
    """One connection to a guest's agent."""

    def __init__(self, path: Path | str, *, timeout: float = HELLO_TIMEOUT) -> None:
        self.path = str(path)
        self._decoder = Decoder()
        self._frames: list[Frame] = []
        # Channels start at random: frames a killed command of an earlier
        # connection still sends never match this connection's.
        self._next_channel = secrets.randbelow(0xFFFFFF00) + 1
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.settimeout(timeout)
            self._sock.connect(self.path)
            nonce = secrets.token_hex(16)
            self._sock.sendall(encode_json(Kind.HELLO, 0, {"nonce": nonce}))
            deadline = time.monotonic() + timeout
            while True:
                frame = self._next(deadline)
                if frame.kind is Kind.WELCOME and frame.json().get("nonce") == nonce:
                    break
        except TimeoutError as err:
            self._sock.close()
            raise AgentError(f"{self.path}: the guest's agent did not answer") from err
        except OSError as err:
            self._sock.close()
            raise AgentError(f"{self.path}: cannot reach the guest's agent: {err}") from err
        self._sock.settimeout(None)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -------------------------------------------------------------- frames

    def _next(self, deadline: float | None) -> Frame:
        """The next frame, waiting until ``deadline`` (monotonic; None: forever)."""
        while not self._frames:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self._sock.settimeout(left)
            else:
                self._sock.settimeout(None)
            data = self._sock.recv(1 << 16)
            if not data:
                raise AgentError(f"{self.path}: the guest closed the connection (powered off?)")
            self._frames.extend(self._decoder.feed(data))
        return self._frames.pop(0)

    def _channel(self) -> int:
        channel = self._next_channel
        self._next_channel = channel % 0xFFFFFFFE + 1
        return channel

    # ------------------------------------------------------------ commands

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stdin: bytes | None = None,
        timeout: float | None = None,
        on_stdout: Sink | None = None,
        on_stderr: Sink | None = None,
    ) -> CommandResult:
        """Run ``argv`` in the guest and wait for it; output streams to the sinks as it comes.

        After ``timeout`` seconds the command's process group is killed and
        :class:`CommandTimeoutError` raised.
        """
        started = time.monotonic()
        channel = self._channel()
        request = {
            "argv": list(argv),
            "env": dict(env or {}),
            "cwd": cwd,
            "stdin": stdin is not None,
        }
        frames = [encode_json(Kind.EXEC, channel, request)]
        if stdin is not None:
            frames += encode_data(Kind.STDIN, channel, stdin)
            frames.append(encode(Kind.STDIN_EOF, channel))
        self._send(b"".join(frames))
        deadline = None if timeout is None else started + timeout
        out, err = bytearray(), bytearray()
        while True:
            try:
                frame = self._next(deadline)
            except TimeoutError:
                self._send(encode_json(Kind.SIGNAL, channel, {"signal": 9}))
                raise CommandTimeoutError(
                    f"{' '.join(argv)}: still running after {timeout:g} s: killed"
                ) from None
            if frame.channel != channel:
                continue
            if frame.kind is Kind.STDOUT:
                out += frame.payload
                if on_stdout is not None:
                    on_stdout(frame.payload)
            elif frame.kind is Kind.STDERR:
                err += frame.payload
                if on_stderr is not None:
                    on_stderr(frame.payload)
            elif frame.kind is Kind.EXIT:
                exit_info = frame.json()
                status = exit_info.get("status")
                if "error" in exit_info:
                    message = f"devemu agent: {exit_info['error']}\n".encode()
                    err += message
                    if on_stderr is not None:
                        on_stderr(message)
                return CommandResult(
                    tuple(argv),
                    status if isinstance(status, int) else 255,
                    bytes(out),
                    bytes(err),
                    time.monotonic() - started,
                )
            elif frame.kind is Kind.ERROR:
                raise AgentError(f"the agent refused the command: {frame.json().get('error')}")

    def control_line(self, line: str, *, socket_path: str | None = None) -> str:
        """Send one raw request line to the guest daemon's control socket; return the answer."""
        channel = self._channel()
        self._send(encode_json(Kind.CONTROL, channel, {"socket": socket_path, "request": line}))
        while True:
            frame = self._next(None)
            if frame.channel != channel:
                continue
            if frame.kind is Kind.ERROR:
                raise AgentError(f"the agent refused the request: {frame.json().get('error')}")
            if frame.kind is Kind.REPLY:
                reply = frame.json()
                if "error" in reply:
                    raise ControlError(f"in the guest: {reply['error']}")
                return str(reply.get("reply", ""))

    def control(
        self, device: str | None, op: str, *, socket_path: str | None = None, **args: Any
    ) -> dict[str, Any]:
        """One control request (as :func:`devemu.control.call`); its result, or ControlError."""
        request: dict[str, Any] = {"op": op, "args": args}
        if device is not None:
            request["device"] = device
        answer = self.control_line(json.dumps(request), socket_path=socket_path)
        try:
            reply = json.loads(answer)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise ControlError(f"the guest's daemon answered {answer[:200]!r}")
        if reply.get("ok") is not True:
            raise ControlError(str(reply.get("error", "request failed")))
        result = reply.get("result", {})
        return result if isinstance(result, dict) else {"result": result}

    def shutdown(self, timeout: float = 30.0) -> None:
        """Ask the agent to end; the guest then stops its daemon and powers off."""
        self._send(encode_json(Kind.SHUTDOWN, 0, {}))
        deadline = time.monotonic() + timeout
        while True:
            try:
                frame = self._next(deadline)
            except (TimeoutError, AgentError):
                return
            if frame.kind is Kind.EXIT and frame.channel == 0:
                return

    def _send(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as err:
            raise AgentError(f"{self.path}: the connection to the agent failed: {err}") from err
