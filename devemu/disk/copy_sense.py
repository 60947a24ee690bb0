"""The sense data of a copy that failed part way, SPC-4 6.3.3.3 and 4.5.2.9.

A segment that fails once processing began ends the command in COPY
ABORTED, and the sense data say how far the copy got: which segment,
how many of its blocks were not copied, and what the copy source or
destination answered (its status and sense data, forwarded).
"""

from __future__ import annotations

from dataclasses import dataclass

from devemu.scsi.command import Status
from devemu.scsi.sense import (
    FIXED_SENSE_LENGTH,
    SenseCode,
    SenseError,
    build_sense,
)

#: SENSE DATA SOURCE of a forwarded sense data descriptor, SPC-4 4.5.2.9 table 39:
#: the EXTENDED COPY command's source device, then its destination devices
#: (this copy manager's segments have one destination each).
COPY_SOURCE = 0
COPY_DESTINATION = 1
#: The forwarded sense data descriptor type, SPC-4 4.5.2.9 table 38.
FORWARDED_SENSE_DESCRIPTOR = 0x0C


# --- sense data of a copy that failed part way ------------------------------------------


@dataclass(frozen=True, slots=True)
class Forwarded:
    """What a CSCD answered the copy manager: status and sense (SPC-4 4.5.2.9)."""

    source: int
    status: Status
    sense: bytes = b""


class CopyAbortedError(SenseError):
    """COPY ABORTED during segment processing, with how far it got (SPC-4 6.3.3.3).

    Fixed format: COMMAND-SPECIFIC INFORMATION holds, byte by byte, the
    offset of the copy source's forwarded sense data in the sense data,
    that of the copy destination's, then the segment number (two bytes);
    the forwarded sense data follow the 18 bytes. Descriptor format:
    the segment number in the command-specific information descriptor,
    each CSCD's answer in a forwarded sense data descriptor. INFORMATION
    holds the blocks of the failed segment not copied, in the unit its
    NUMBER OF BLOCKS counts.
    """

    def __init__(
        self,
        code: SenseCode,
        segment: int,
        residue: int,
        forwarded: Forwarded | None = None,
    ) -> None:
        super().__init__(code, information=residue, command_specific=segment)
        self.segment = segment
        self.forwarded = forwarded

    def sense_bytes(self, *, descriptor: bool = False) -> bytes:
        fwd = self.forwarded
        if descriptor:
            self.command_specific = self.segment
            out = bytearray(build_sense(self, descriptor=True))
            if fwd is not None:
                body = bytes([fwd.source & 0x0F, fwd.status]) + fwd.sense
                out += bytes([FORWARDED_SENSE_DESCRIPTOR, len(body)]) + body
                out[7] = len(out) - 8
            return bytes(out)
        offsets = [0, 0]
        if fwd is not None and fwd.sense:
            offsets[0 if fwd.source == COPY_SOURCE else 1] = FIXED_SENSE_LENGTH
        self.command_specific = (offsets[0] << 24) | (offsets[1] << 16) | (self.segment & 0xFFFF)
        out = bytearray(build_sense(self))
        if fwd is not None and fwd.sense:
            out += fwd.sense
            out[7] = len(out) - 8
        return bytes(out)


def forward(source: int, error: SenseError) -> Forwarded:
    return Forwarded(source, Status.CHECK_CONDITION, error.sense_bytes(descriptor=False))
