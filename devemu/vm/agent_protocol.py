"""Frames between the host and the agent of a guest that stays up.

The host reaches the guest's agent (:mod:`devemu.vm.agent`) over one
virtio-serial port, a byte stream. Both directions carry frames::

    magic (2 bytes, b"dV") | kind (1) | channel (4, big-endian) | length (4) | payload

``channel`` multiplexes: the host picks one per command it runs, and
every frame about that command (its stdin, stdout and stderr chunks, its
exit) carries it; channel 0 is the connection itself. Payloads of the
JSON kinds are one UTF-8 JSON object; the data kinds carry raw bytes.

The stream may hold junk: a host client that died in the middle of a
frame leaves half of it behind, and a guest writing while no host is
connected loses bytes. A :class:`Decoder` therefore never trusts the
stream: a header with the wrong magic, an unknown kind or a length over
:data:`MAX_PAYLOAD` is skipped byte by byte until the next magic, and
nothing it holds grows past one frame. Each connection starts with a
``HELLO`` carrying a random nonce, answered by a ``WELCOME`` with the
same nonce: the host discards what arrives before it.
"""

from __future__ import annotations

import enum
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Name of the agent's virtio-serial port (``/sys/class/virtio-ports/*/name``).
AGENT_PORT = "devemu.agent"
MAGIC = b"dV"
HEADER = struct.Struct(">2sBII")
#: Largest payload of one frame, in bytes.
MAX_PAYLOAD = 1 << 20
#: Data frames are cut at this size (a chunk of output or input).
CHUNK = 64 << 10
#: Protocol version, sent in ``WELCOME``.
VERSION = 1


class Kind(enum.IntEnum):
    """What a frame carries. JSON kinds carry an object; the others raw bytes."""

    HELLO = 1  # host: {"nonce": str}
    WELCOME = 2  # agent: {"nonce": str, "version": int, "pid": int}
    EXEC = 3  # host: {"argv": [str], "env": {str: str}, "cwd": str|None, "stdin": bool}
    STDIN = 4  # host: bytes for the command's stdin
    STDIN_EOF = 5  # host: close the command's stdin (empty payload)
    STDOUT = 6  # agent: bytes the command wrote to stdout
    STDERR = 7  # agent: bytes the command wrote to stderr
    EXIT = 8  # agent: {"status": int} (-N: killed by signal N) or {"status": 127, "error": str}
    SIGNAL = 9  # host: {"signal": int} for the command's process group
    CONTROL = 10  # host: {"socket": str|None, "request": str} (one control line)
    REPLY = 11  # agent: {"reply": str} or {"error": str}
    SHUTDOWN = 12  # host: stop the agent (the guest powers off); answered by EXIT on 0
    ERROR = 13  # agent: {"error": str}, a frame it refused


JSON_KINDS = frozenset(
    {
        Kind.HELLO,
        Kind.WELCOME,
        Kind.EXEC,
        Kind.EXIT,
        Kind.SIGNAL,
        Kind.CONTROL,
        Kind.REPLY,
        Kind.SHUTDOWN,
        Kind.ERROR,
    }
)
_KINDS = frozenset(int(kind) for kind in Kind)


class ProtocolError(ValueError):
    """A frame that does not say what its kind requires."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame."""

    kind: Kind
    channel: int
    payload: bytes

    def json(self) -> dict[str, Any]:
        """The payload of a JSON kind as an object; :class:`ProtocolError` otherwise."""
        try:
            value = json.loads(self.payload)
        except (ValueError, UnicodeDecodeError) as err:
            raise ProtocolError(f"{self.kind.name} payload is not JSON") from err
        if not isinstance(value, dict):
            raise ProtocolError(f"{self.kind.name} payload is not a JSON object")
        return value


def encode(kind: Kind, channel: int, payload: bytes = b"") -> bytes:
    """One frame's bytes. Raises :class:`ProtocolError` for an oversized payload."""
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    if not 0 <= channel <= 0xFFFFFFFF:
        raise ProtocolError(f"channel {channel} is out of range")
    return HEADER.pack(MAGIC, kind, channel, len(payload)) + payload


def encode_json(kind: Kind, channel: int, value: Mapping[str, Any]) -> bytes:
    """A frame of a JSON kind."""
    return encode(kind, channel, json.dumps(value, separators=(",", ":")).encode())


def encode_data(kind: Kind, channel: int, data: bytes) -> list[bytes]:
    """``data`` as frames of at most :data:`CHUNK` bytes each (none for no data)."""
    return [encode(kind, channel, data[at : at + CHUNK]) for at in range(0, len(data), CHUNK)]


class Decoder:
    """Frames out of a byte stream that may hold junk; memory bounded by one frame.

    ``discarded`` counts the bytes skipped to find the next good header.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self.discarded = 0
        self._buffer = bytearray()

    def reset(self) -> None:
        """Forget any partial frame (a new connection starts)."""
        self._buffer.clear()

    @property
    def pending(self) -> int:
        """Bytes held of a frame not yet complete."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        """Add ``data``; return every frame completed by it."""
        self._buffer += data
        frames: list[Frame] = []
        while True:
            if not self._resync():
                return frames
            if len(self._buffer) < HEADER.size:
                return frames
            _, kind, channel, length = HEADER.unpack_from(self._buffer)
            if kind not in _KINDS or length > self.max_payload:
                self._skip(1)
                continue
            end = HEADER.size + length
            if len(self._buffer) < end:
                return frames
            frames.append(Frame(Kind(kind), channel, bytes(self._buffer[HEADER.size : end])))
            del self._buffer[:end]

    def _resync(self) -> bool:
        """Drop bytes up to the next magic (or a possible start of one); True if one leads."""
        at = self._buffer.find(MAGIC)
        if at < 0:
            keep = 1 if self._buffer.endswith(MAGIC[:1]) else 0
            self._skip(len(self._buffer) - keep)
            return False
        self._skip(at)
        return True

    def _skip(self, count: int) -> None:
        if count:
            del self._buffer[:count]
            self.discarded += count
