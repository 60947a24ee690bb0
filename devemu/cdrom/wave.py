"""WAVE files named by a CUE sheet: 44.1 kHz, 16-bit, stereo PCM only.

A FILE of type WAVE holds CD-DA audio (IEC 60908: 44100 Hz, two
channels, 16-bit little-endian samples, 2352 bytes per sector) after a
RIFF header. The RIFF chunks are walked here (a ``fmt `` chunk, then the
``data`` chunk) so that every malformed header is an
:class:`~devemu.errors.ImageError` naming the byte offset, and sectors are
read from the file directly at the ``data`` chunk's offset.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from devemu.errors import ImageError

_RIFF = struct.Struct("<4sI4s")
_CHUNK_HEADER = struct.Struct("<4sI")
#: The PCM part of a ``fmt `` chunk: format tag, channels, rate, byte rate, block align, bits.
_FMT = struct.Struct("<HHIIHH")
_PCM = 0x0001
_EXTENSIBLE = 0xFFFE
#: The PCM sub-format GUID of WAVE_FORMAT_EXTENSIBLE (KSDATAFORMAT_SUBTYPE_PCM).
_PCM_GUID = bytes.fromhex("0100000000001000800000aa00389b71")
#: Chunks walked before giving up on finding ``data`` (a bound on hostile files).
_MAX_CHUNKS = 1024


@dataclass(frozen=True, slots=True)
class WaveData:
    """Where the PCM samples of a WAVE file are: byte offset and length."""

    offset: int
    length: int


def wave_data(path: Path, where: str) -> WaveData:
    """Check that ``path`` is CD audio and locate its samples.

    ``where`` names the sheet line that refers to the file; a problem is
    reported as an :class:`ImageError` on the WAVE file itself, at
    ``where`` and the byte offset in the WAVE file.
    """
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            return _walk(f, size, path, where)
    except OSError as err:
        raise ImageError(path, where, f"cannot read: {err.strerror}") from None


def _walk(f: BinaryIO, size: int, path: Path, where: str) -> WaveData:
    def fail(offset: int, reason: str) -> ImageError:
        return ImageError(path, f"{where}, offset {offset}", reason)

    head = f.read(_RIFF.size)
    if len(head) < _RIFF.size:
        raise fail(0, "not a PCM WAVE file: shorter than a RIFF header")
    riff, _riff_size, form = _RIFF.unpack(head)
    if riff != b"RIFF" or form != b"WAVE":
        raise fail(0, "not a PCM WAVE file: no RIFF/WAVE header")
    pos = _RIFF.size
    fmt: tuple[int, int, int, int, int, int] | None = None
    for _ in range(_MAX_CHUNKS):
        f.seek(pos)
        chunk = f.read(_CHUNK_HEADER.size)
        if len(chunk) < _CHUNK_HEADER.size:
            raise fail(pos, "WAVE file has no data chunk")
        name, length = _CHUNK_HEADER.unpack(chunk)
        body = pos + _CHUNK_HEADER.size
        if name == b"fmt ":
            fmt = _format(f.read(min(length, 40)), length, pos, fail)
        elif name == b"data":
            if fmt is None:
                raise fail(pos, "WAVE data chunk before its fmt chunk")
            if body + length > size:
                raise fail(
                    pos,
                    f"WAVE data chunk claims {length} bytes but the file holds "
                    f"{max(size - body, 0)} after its header",
                )
            return WaveData(body, length - length % 4)
        pos = body + length + (length & 1)
    raise fail(pos, f"WAVE file has no data chunk in its first {_MAX_CHUNKS} chunks")


def _format(
    raw: bytes, length: int, pos: int, fail: Callable[[int, str], ImageError]
) -> tuple[int, int, int, int, int, int]:
    if length < _FMT.size:
        raise fail(pos, f"WAVE fmt chunk of {length} bytes is too short")
    if len(raw) < _FMT.size:
        raise fail(pos, "WAVE fmt chunk is cut short by the end of the file")
    fields: tuple[int, int, int, int, int, int] = _FMT.unpack_from(raw)
    tag, channels, rate, _byte_rate, _align, bits = fields
    if tag == _EXTENSIBLE and len(raw) >= 40:
        tag = _PCM if raw[24:40] == _PCM_GUID else tag
    if tag != _PCM:
        raise fail(pos, f"not a PCM WAVE file: format tag 0x{tag:04x}")
    if (channels, bits, rate) != (2, 16, 44100):
        raise fail(
            pos,
            f"WAVE audio must be 44100 Hz 16-bit stereo, not {rate} Hz "
            f"{bits}-bit with {channels} channel(s)",
        )
    return fields
