"""Addresses on a CD: MSF time codes, BCD and logical block addresses.

MMC-6 4.2.3.4 (table 15): LBA = (minute * 60 + second) * 75 + frame - 150
for MSF 00:00:00 to 89:59:74; minutes 90 to 99 address the lead-in with
negative LBAs (LBA = ... - 450150). ECMA-130 14.2 stores sector headers
and sub-channel Q time codes in BCD.
"""

from __future__ import annotations

from typing import NamedTuple

FRAMES_PER_SECOND = 75
SECONDS_PER_MINUTE = 60
FRAMES_PER_MINUTE = FRAMES_PER_SECOND * SECONDS_PER_MINUTE
#: Frames between MSF 00:00:00 and LBA 0 (the two-second pregap of track 1).
LBA_OFFSET = 150
#: MSF minutes at and above this address the lead-in (negative LBAs).
LEAD_IN_MINUTE = 90
_LEAD_IN_SHIFT = 450150


class Msf(NamedTuple):
    """A time code: minute, second, frame."""

    minute: int
    second: int
    frame: int

    def __str__(self) -> str:
        return f"{self.minute:02d}:{self.second:02d}:{self.frame:02d}"


def lba_to_msf(lba: int) -> Msf:
    """The MSF address of ``lba`` (MMC-6 table 15)."""
    frames = lba + LBA_OFFSET if lba >= -LBA_OFFSET else lba + _LEAD_IN_SHIFT
    if frames < 0:
        raise ValueError(f"LBA {lba} has no MSF address")
    minute, rest = divmod(frames, FRAMES_PER_MINUTE)
    second, frame = divmod(rest, FRAMES_PER_SECOND)
    return Msf(minute, second, frame)


def msf_to_lba(minute: int, second: int, frame: int) -> int:
    """The LBA of an MSF address (MMC-6 table 15)."""
    frames = (minute * SECONDS_PER_MINUTE + second) * FRAMES_PER_SECOND + frame
    if minute >= LEAD_IN_MINUTE:
        return frames - _LEAD_IN_SHIFT
    return frames - LBA_OFFSET


def packed_msf_to_lba(value: int) -> int:
    """The LBA of an MSF address held in a 3-byte CDB field: minute, second, frame."""
    return msf_to_lba(value >> 16, (value >> 8) & 0xFF, value & 0xFF)


def frames_to_msf(frames: int) -> Msf:
    """A duration or relative time in frames as MSF (no 150-frame offset)."""
    minute, rest = divmod(frames, FRAMES_PER_MINUTE)
    second, frame = divmod(rest, FRAMES_PER_SECOND)
    return Msf(minute, second, frame)


def parse_msf(text: str) -> int:
    """``"mm:ss:ff"`` as a frame count (the CUE sheet time format)."""
    parts = text.split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"{text!r} is not mm:ss:ff")
    minute, second, frame = (int(p) for p in parts)
    if second >= SECONDS_PER_MINUTE or frame >= FRAMES_PER_SECOND:
        raise ValueError(f"{text!r} is not a valid time (seconds < 60, frames < 75)")
    return (minute * SECONDS_PER_MINUTE + second) * FRAMES_PER_SECOND + frame


def to_bcd(value: int) -> int:
    """Two decimal digits packed in one byte (ECMA-130 14.2)."""
    return ((value // 10) << 4) | (value % 10)


def from_bcd(value: int) -> int:
    return (value >> 4) * 10 + (value & 0x0F)


def msf_bytes(lba: int) -> bytes:
    """The 4-byte MSF address field of MMC-6 (0, M, S, F; binary, not BCD)."""
    m, s, f = lba_to_msf(lba)
    return bytes((0, m, s, f))
