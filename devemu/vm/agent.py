"""The agent inside a guest that stays up: runs the host's commands.

    python -m devemu.vm.agent [--port NAME | --fd N] [--control-socket PATH]

It reads frames (:mod:`devemu.vm.agent_protocol`) from the virtio-serial
port named NAME (``/sys/class/virtio-ports/*/name``; no udev is needed)
and answers on the same port:

- ``EXEC`` starts ``argv`` in its own session (stdin a pipe when asked,
  else ``/dev/null``), streams its stdout and stderr as they come and
  ends with ``EXIT``; ``STDIN``/``STDIN_EOF`` feed it, ``SIGNAL`` signals
  its process group;
- ``CONTROL`` hands one request line to the devemu daemon's control
  socket and returns its answer line as ``REPLY``;
- ``HELLO`` starts a connection: whatever the previous host client left
  running is killed (it is gone: QEMU serves one client at a time);
- ``SHUTDOWN`` kills everything and ends the agent (the guest's init then
  powers off).

Every byte from the port is untrusted: frames are bounded
(:data:`~devemu.vm.agent_protocol.MAX_PAYLOAD`), at most
:data:`MAX_COMMANDS` commands run at once, stdin waiting for a command
is bounded by :data:`MAX_STDIN_QUEUED`, a control answer by
:data:`MAX_REPLY`, and a bad frame is answered with ``ERROR`` and
skipped. When the host closes the port, the agent waits for the next
one (``--fd``: it ends).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from devemu.vm.agent_protocol import (
    AGENT_PORT,
    CHUNK,
    Decoder,
    Frame,
    Kind,
    ProtocolError,
    encode,
    encode_json,
)

PORTS_CLASS = Path("/sys/class/virtio-ports")
DEFAULT_CONTROL_SOCKET = "/run/devemu/control.sock"
#: Commands running at once.
MAX_COMMANDS = 64
#: Bytes of stdin queued for one command that has not read them yet.
MAX_STDIN_QUEUED = 8 << 20
#: Longest control answer line.
MAX_REPLY = 16 << 20
#: Seconds a control request may take.
CONTROL_TIMEOUT = 60.0
#: How often a port whose host side is closed is looked at again, in seconds.
RECONNECT_POLL = 0.02


class _Command:
    """One running command: its process, its stdin feeder and its output pumps."""

    def __init__(self, agent: Agent, channel: int, process: subprocess.Popen[bytes]) -> None:
        self.agent = agent
        self.channel = channel
        self.process = process
        self.stdin: queue.Queue[bytes | None] = queue.Queue()
        self.queued = 0
        self.orphaned = False
        self.lock = threading.Lock()
        self.pumps = [
            threading.Thread(target=self._pump, args=(stream, kind), daemon=True)
            for stream, kind in ((process.stdout, Kind.STDOUT), (process.stderr, Kind.STDERR))
        ]

    def start(self) -> None:
        for pump in self.pumps:
            pump.start()
        if self.process.stdin is not None:
            threading.Thread(target=self._feed, daemon=True).start()
        threading.Thread(target=self._finish, daemon=True).start()

    def _pump(self, stream: Any, kind: Kind) -> None:
        fd = stream.fileno()
        while chunk := os.read(fd, CHUNK):
            if not self.orphaned:
                self.agent.send(encode(kind, self.channel, chunk))
        stream.close()

    def _feed(self) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            while (data := self.stdin.get()) is not None:
                with self.lock:
                    self.queued -= len(data)
                stdin.write(data)
                stdin.flush()
        except (BrokenPipeError, OSError):
            pass
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    def give(self, data: bytes | None) -> str | None:
        """Queue stdin ``data`` (None: end of input); an error text when refused."""
        if self.process.stdin is None:
            return "the command was started without stdin"
        if data is not None:
            with self.lock:
                if self.queued + len(data) > MAX_STDIN_QUEUED:
                    return f"more than {MAX_STDIN_QUEUED} bytes of stdin queued"
                self.queued += len(data)
        self.stdin.put(data)
        return None

    def _finish(self) -> None:
        for pump in self.pumps:
            pump.join()
        status = self.process.wait()
        self.agent.finished(self)
        if not self.orphaned:
            self.agent.send(encode_json(Kind.EXIT, self.channel, {"status": status}))

    def kill(self) -> None:
        """Kill the command's process group; nothing more of it is sent."""
        self.orphaned = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.stdin.put(None)


def _text_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ProtocolError(f"{what} must be an object of strings")
    return value


def exec_request(frame: Frame) -> tuple[list[str], dict[str, str], str | None, bool]:
    """``argv``, environment additions, ``cwd`` and ``stdin`` of an ``EXEC`` frame."""
    request = frame.json()
    unknown = set(request) - {"argv", "env", "cwd", "stdin"}
    if unknown:
        raise ProtocolError(f"EXEC has unknown fields: {', '.join(sorted(unknown))}")
    argv = request.get("argv")
    if (
        not isinstance(argv, list)
        or not argv
        or not all(isinstance(a, str) and "\0" not in a for a in argv)
    ):
        raise ProtocolError("EXEC argv must be a non-empty list of strings")
    env = _text_map(request.get("env"), "EXEC env")
    if any("=" in k or "\0" in k + v or not k for k, v in env.items()):
        raise ProtocolError("EXEC env holds a name or value the kernel cannot pass")
    cwd = request.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise ProtocolError("EXEC cwd must be a string")
    stdin = request.get("stdin", False)
    if not isinstance(stdin, bool):
        raise ProtocolError("EXEC stdin must be a boolean")
    return argv, env, cwd, stdin


def control_exchange(path: str, line: str, timeout: float = CONTROL_TIMEOUT) -> str:
    """Send one request line to the daemon's control socket; return its answer line."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(line.rstrip("\n").encode() + b"\n")
        answer = bytearray()
        while not answer.endswith(b"\n"):
            if len(answer) > MAX_REPLY:
                raise OSError(f"answer longer than {MAX_REPLY} bytes")
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError("the daemon closed the connection without an answer")
            answer += chunk
    return answer.decode(errors="replace").rstrip("\n")


class Agent:
    """Serves one byte stream (``read_fd``/``write_fd``) until ``SHUTDOWN``."""

    def __init__(
        self,
        read_fd: int,
        write_fd: int,
        *,
        control_socket: str = DEFAULT_CONTROL_SOCKET,
        reconnect: bool = False,
        spawn: Callable[..., subprocess.Popen[bytes]] = subprocess.Popen,
    ) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.control_socket = control_socket
        self.reconnect = reconnect
        self.spawn = spawn
        self.decoder = Decoder()
        self.commands: dict[int, _Command] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()

    # ------------------------------------------------------------- output

    def send(self, data: bytes) -> None:
        """Write whole frames; a host gone away loses them (QEMU drops them too)."""
        with self._write_lock:
            view = memoryview(data)
            while view:
                try:
                    written = os.write(self.write_fd, view)
                except BlockingIOError:
                    time.sleep(0.001)
                    continue
                except OSError:
                    return
                view = view[written:]

    def refuse(self, channel: int, error: str) -> None:
        self.send(encode_json(Kind.ERROR, channel, {"error": error}))

    def finished(self, command: _Command) -> None:
        with self._lock:
            if self.commands.get(command.channel) is command:
                del self.commands[command.channel]

    def kill_all(self) -> None:
        with self._lock:
            commands = list(self.commands.values())
            self.commands.clear()
        for command in commands:
            command.kill()

    # -------------------------------------------------------------- input

    def serve(self) -> int:
        """Read and answer frames until ``SHUTDOWN`` (or the end of the stream)."""
        while True:
            try:
                data = os.read(self.read_fd, 1 << 16)
            except InterruptedError:
                continue
            except ConnectionResetError:
                data = b""  # a reset is the host gone, as an end of stream is
            if not data:
                # The host closed its side: what it ran is orphaned.
                self.kill_all()
                self.decoder.reset()
                if not self.reconnect:
                    return 0
                time.sleep(RECONNECT_POLL)
                continue
            for frame in self.decoder.feed(data):
                if self.handle(frame):
                    return 0

    def handle(self, frame: Frame) -> bool:
        """Act on one frame; True when the agent must end."""
        try:
            return self._handle(frame)
        except ProtocolError as err:
            self.refuse(frame.channel, str(err))
            return False

    def _handle(self, frame: Frame) -> bool:
        kind, channel = frame.kind, frame.channel
        if kind is Kind.HELLO:
            nonce = frame.json().get("nonce")
            if not isinstance(nonce, str) or len(nonce) > 128:
                raise ProtocolError("HELLO nonce must be a short string")
            self.kill_all()
            welcome = {"nonce": nonce, "version": 1, "pid": os.getpid()}
            self.send(encode_json(Kind.WELCOME, 0, welcome))
        elif kind is Kind.EXEC:
            self._exec(frame)
        elif kind in (Kind.STDIN, Kind.STDIN_EOF):
            command = self.commands.get(channel)
            if command is None:
                raise ProtocolError(f"no command runs on channel {channel}")
            error = command.give(frame.payload if kind is Kind.STDIN else None)
            if error is not None:
                raise ProtocolError(error)
        elif kind is Kind.SIGNAL:
            number = frame.json().get("signal")
            command = self.commands.get(channel)
            if command is None:
                raise ProtocolError(f"no command runs on channel {channel}")
            if not isinstance(number, int) or not 0 < number < signal.NSIG:
                raise ProtocolError("SIGNAL needs a signal number")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(command.process.pid, number)
        elif kind is Kind.CONTROL:
            request = frame.json()
            line, path = request.get("request"), request.get("socket")
            if not isinstance(line, str) or "\n" in line.rstrip("\n"):
                raise ProtocolError("CONTROL request must be one line of text")
            if path is not None and not isinstance(path, str):
                raise ProtocolError("CONTROL socket must be a string")
            threading.Thread(
                target=self._control, args=(channel, path or self.control_socket, line), daemon=True
            ).start()
        elif kind is Kind.SHUTDOWN:
            self.kill_all()
            self.send(encode_json(Kind.EXIT, channel, {"status": 0}))
            return True
        else:
            raise ProtocolError(f"{kind.name} is not a request")
        return False

    def _exec(self, frame: Frame) -> None:
        argv, env, cwd, stdin = exec_request(frame)
        channel = frame.channel
        with self._lock:
            if channel == 0 or channel in self.commands:
                raise ProtocolError(f"channel {channel} is taken")
            if len(self.commands) >= MAX_COMMANDS:
                raise ProtocolError(f"{MAX_COMMANDS} commands run already")
            try:
                process = self.spawn(
                    argv,
                    stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env={**os.environ, **env},
                    cwd=cwd,
                    start_new_session=True,
                )
            except OSError as err:
                error = f"{argv[0]}: {err.strerror or err}"
                self.send(encode_json(Kind.EXIT, channel, {"status": 127, "error": error}))
                return
            command = _Command(self, channel, process)
            self.commands[channel] = command
        command.start()

    def _control(self, channel: int, path: str, line: str) -> None:
        try:
            reply: dict[str, str] = {"reply": control_exchange(path, line)}
        except OSError as err:
            reply = {"error": f"{path}: {err.strerror or err}"}
        self.send(encode_json(Kind.REPLY, channel, reply))


def find_port(name: str, ports: Path = PORTS_CLASS, dev: Path = Path("/dev")) -> Path:
    """The ``/dev/vportNpM`` node of the virtio-serial port called ``name``."""
    for entry in sorted(ports.glob("*")):
        try:
            if (entry / "name").read_text().strip() == name:
                return dev / entry.name
        except OSError:
            continue
    raise FileNotFoundError(f"no virtio-serial port named {name!r} under {ports}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devemu.vm.agent", description=__doc__)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--port", default=AGENT_PORT, help="virtio-serial port name")
    where.add_argument("--fd", type=int, help="serve this file descriptor (tests)")
    parser.add_argument("--control-socket", default=DEFAULT_CONTROL_SOCKET)
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the port")
    parser.add_argument("--ready-file", help="created once the port is open")
    args = parser.parse_args(argv)
    if args.fd is not None:
        agent = Agent(args.fd, args.fd, control_socket=args.control_socket)
        return agent.serve()
    deadline = time.monotonic() + args.wait
    while True:
        try:
            node = find_port(args.port)
            fd = os.open(node, os.O_RDWR)
            break
        except OSError as err:
            if time.monotonic() > deadline:
                print(f"devemu agent: {err}", file=sys.stderr)
                return 1
            time.sleep(0.05)
    if args.ready_file:
        Path(args.ready_file).write_text(f"{os.getpid()}\n")
    agent = Agent(fd, fd, control_socket=args.control_socket, reconnect=True)
    return agent.serve()


if __name__ == "__main__":
    sys.exit(main())
