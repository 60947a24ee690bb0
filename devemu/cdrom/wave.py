"""WAVE files named by a CUE sheet: 44.1 kHz, 16-bit, stereo PCM only.

A FILE of type WAVE holds CD-DA audio (IEC 60908: 44100 Hz, two
channels, 16-bit little-endian samples, 2352 bytes per sector) after a
RIFF header. The stdlib :mod:`wave` module checks the format; the offset
of the ``data`` chunk is found by walking the RIFF chunks so that
sectors are read from the file directly.
"""

from __future__ import annotations

import struct
import wave as _wave
from dataclasses import dataclass
from pathlib import Path

from devemu.errors import ImageError

_CHUNK_HEADER = struct.Struct("<4sI")


@dataclass(frozen=True, slots=True)
class WaveData:
    """Where the PCM samples of a WAVE file are: byte offset and length."""

    offset: int
    length: int


def wave_data(path: Path, where: str) -> WaveData:
    """Check that ``path`` is CD audio and locate its samples.

    ``where`` names the sheet line that refers to the file; a problem is
    reported as an :class:`ImageError` on the WAVE file itself.
    """
    try:
        with _wave.open(str(path), "rb") as w:
            params = (w.getnchannels(), w.getsampwidth(), w.getframerate())
            frames = w.getnframes()
    except (_wave.Error, EOFError) as err:
        raise ImageError(path, where, f"not a PCM WAVE file: {err}") from None
    if params != (2, 2, 44100):
        channels, width, rate = params
        raise ImageError(
            path,
            where,
            f"WAVE audio must be 44100 Hz 16-bit stereo, not {rate} Hz "
            f"{8 * width}-bit with {channels} channel(s)",
        )
    with path.open("rb") as f:
        f.seek(12)
        while True:
            head = f.read(_CHUNK_HEADER.size)
            if len(head) < _CHUNK_HEADER.size:
                raise ImageError(path, where, "WAVE file has no data chunk")
            name, size = _CHUNK_HEADER.unpack(head)
            if name == b"data":
                return WaveData(f.tell(), min(size, frames * 4))
            f.seek(size + (size & 1), 1)
