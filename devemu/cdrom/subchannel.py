"""Sub-channel data: the Q channel of a sector and its CRC.

ECMA-130 22.3: each sector carries 96 sub-channel bits per channel P to W.
Q in mode 1 (ADR 1, the current position) holds CONTROL/ADR, the track
number, the index, the relative time in the track (counting down in a
pregap), a zero byte and the absolute time, all BCD, then a CRC-16 with
generator x^16 + x^12 + x^5 + 1 stored inverted (ECMA-130 22.3.5).
P is set during a pause between tracks.

READ CD (MMC-6 6.20.2, table 380) returns raw P-W (each of 96 bytes
carries one bit of each channel, P in bit 7), formatted Q (16 bytes) or
de-interleaved R-W; R-W is empty on discs without CD-TEXT/CD+G.
"""

from __future__ import annotations

from enum import Enum

from devemu.cdrom.msf import frames_to_msf, lba_to_msf, to_bcd


class SubchannelKind(Enum):
    """The sub-channel data selection field of READ CD (MMC-6 table 380)."""

    NONE = 0
    RAW_PW = 1
    FORMATTED_Q = 2
    RW = 4

    @property
    def size(self) -> int:
        return {0: 0, 1: 96, 2: 16, 4: 96}[self.value]


def crc16(data: bytes) -> int:
    """CRC-16/CCITT (0x1021, initial 0), not inverted (ECMA-130 22.3.5, CD-TEXT)."""
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def q_subchannel(control: int, track: int, index: int, relative: int, lba: int) -> bytes:
    """The 12 bytes of a mode 1 Q sub-channel frame, CRC included.

    ``track`` 0xAA is the lead-out. ``relative`` is in frames; negative
    values (the lead-out position of a gap) are taken as absolute.
    """
    rm, rs, rf = frames_to_msf(abs(relative))
    am, as_, af = lba_to_msf(lba)
    tno = track if track == 0xAA else to_bcd(track)
    body = bytes(
        (
            (control << 4) | 0x01,
            tno,
            to_bcd(index),
            to_bcd(rm),
            to_bcd(rs),
            to_bcd(rf),
            0,
            to_bcd(am),
            to_bcd(as_),
            to_bcd(af),
        )
    )
    return body + (crc16(body) ^ 0xFFFF).to_bytes(2, "big")


def formatted_q(q: bytes) -> bytes:
    """Formatted Q sub-channel data of READ CD: the 12 Q bytes and 4 zeros."""
    return q + bytes(4)


def raw_pw(q: bytes, pause: bool) -> bytes:
    """96 bytes of raw P-W: bit 7 is P (all set in a pause), bit 6 is Q."""
    p = 0x80 if pause else 0
    bits = int.from_bytes(q, "big")
    return bytes(p | (((bits >> (95 - i)) & 1) << 6) for i in range(96))


def interleave(linear: bytes) -> bytes:
    """96 raw P-W bytes from the channel-by-channel order (12 bytes of P, then Q ... W).

    Byte ``i`` of the result holds bit ``i`` of each channel, P in bit 7.
    """
    out = bytearray(96)
    for channel in range(8):
        bits = int.from_bytes(linear[channel * 12 : channel * 12 + 12], "big")
        mask = 0x80 >> channel
        for i in range(96):
            if (bits >> (95 - i)) & 1:
                out[i] |= mask
    return bytes(out)


def deinterleave(pw: bytes) -> bytes:
    """The channel-by-channel order of 96 raw P-W bytes (the inverse of :func:`interleave`)."""
    out = bytearray()
    for channel in range(8):
        shift = 7 - channel
        bits = 0
        for i in range(96):
            bits = (bits << 1) | ((pw[i] >> shift) & 1)
        out += bits.to_bytes(12, "big")
    return bytes(out)


def q_of_raw(pw: bytes) -> bytes:
    """The 12 Q bytes carried in bit 6 of 96 raw P-W bytes."""
    return deinterleave(pw)[12:24]
