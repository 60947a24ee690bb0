"""Raw writing (write type 03h of page 05h, MMC-6 7.5.4.3): the host writes every sector
of a session itself, lead-in to lead-out, each with its sub-channel.

A raw session is a run of sectors at consecutive addresses from the
lead-in (the host starts at or after the lead-in start of READ DISC
INFORMATION) through the program area to the lead-out. Each sector is
2352 bytes of main channel (the host builds sync, header, user data,
EDC/ECC of data sectors) followed by its sub-channel, in the form the
data block type names (MMC-6 table 647):

- 01h: 16 bytes of P-Q, the 12 bytes of the Q sub-channel first;
- 03h: 96 bytes of raw P-W, one byte per symbol, Q in bit 6 and the
  R-W symbol (CD-TEXT in the lead-in) in bits 5-0.

The host scrambles data sectors (ECMA-130 annex B: bytes 12 to 2351
XORed with the output of the 15-bit register x^15 + x + 1 started at 1,
as a drive does before recording); audio sectors are not scrambled. The
drive reads the layout from what it is asked to record: the Q
sub-channel's mode 1 frames (ADR 1) name the track and index of each
program-area sector, their CONTROL nibble an audio or a data track, and
track AAh the lead-out (MMC-6 4.2.3, ECMA-130 22.3). Frames of other
modes (catalog number, ISRC) continue the track before them. A track
starts at its first sector (its pregap, index 0) and its index 1 is
where index 1 first shows. What is kept is what a Session At Once
recording of the same layout keeps: audio sectors whole, the 2048 user
bytes of a Mode 1 sector. A lead-in's R-W symbols go to the CD-TEXT
gatherer (:mod:`devemu.cdrom.leadin_text`). The first lead-out frame
closes the session (finalizing the disc unless page 05h allows a next
one); the rest of the lead-out is taken and not kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from devemu.cdrom.disc import TrackMode
from devemu.cdrom.leadin_text import SECTOR_BYTES as RW_BYTES
from devemu.cdrom.leadin_text import LeadInText
from devemu.cdrom.sector import RAW_SECTOR_SIZE, USER_DATA_SIZE
from devemu.cdrom.subchannel import crc16

#: Data block types of raw writing and the sub-channel bytes after each sector.
RAW_PQ_16 = 0x01
RAW_PW_96 = 0x03
SUBCHANNEL_BYTES = {RAW_PQ_16: 16, RAW_PW_96: 96}
LEAD_OUT = 0xAA
#: Byte 15 of a data sector's header: the sector mode (ECMA-130 14.3).
_MODE_BYTE = 15
_USER_DATA = 16
#: Bytes of a sector the scrambler covers: all but the 12 sync bytes (ECMA-130 annex B).
_SCRAMBLED = RAW_SECTOR_SIZE - 12


def _scramble_sequence() -> bytes:
    """ECMA-130 annex B: the register's output bits, least significant bit of each byte
    first."""
    out = bytearray(_SCRAMBLED)
    reg = 1
    for i in range(_SCRAMBLED):
        byte = 0
        for bit in range(8):
            byte |= (reg & 1) << bit
            feedback = (reg ^ (reg >> 1)) & 1
            reg = (reg >> 1) | (feedback << 14)
        out[i] = byte
    return bytes(out)


SCRAMBLE_SEQUENCE = _scramble_sequence()
_SCRAMBLE_INT = int.from_bytes(SCRAMBLE_SEQUENCE, "big")


def descramble(main: bytes | bytearray | memoryview) -> bytes:
    """A data sector's 2352 bytes with the scrambling undone (or done: it is its own
    inverse)."""
    body = int.from_bytes(main[12:RAW_SECTOR_SIZE], "big") ^ _SCRAMBLE_INT
    return bytes(main[:12]) + body.to_bytes(_SCRAMBLED, "big")


#: Maps each raw P-W byte to "1" or "0" by its Q bit (bit 6).
_Q_BITS = bytes((0x31 if b & 0x40 else 0x30) for b in range(256))


def _from_bcd(value: int) -> int:
    return (value >> 4) * 10 + (value & 0x0F)


def q_of_pw(pw: bytes | memoryview) -> bytes:
    """The 12 Q bytes carried in bit 6 of 96 raw P-W bytes (P-W byte order, MMC-6 4.2.3.3)."""
    return int(bytes(pw).translate(_Q_BITS), 2).to_bytes(12, "big")


@dataclass(frozen=True, slots=True)
class QPosition:
    """What a mode 1 Q frame says of its sector: control, track, index."""

    control: int
    track: int
    index: int

    @property
    def data(self) -> bool:
        return bool(self.control & 0x04)


def q_position(q: bytes) -> QPosition | None:
    """The position in a mode 1 Q frame with a good CRC; None for other modes or a bad CRC."""
    if q[0] & 0x0F != 0x01 or (crc16(q[:10]) ^ 0xFFFF).to_bytes(2, "big") != q[10:12]:
        return None
    track = LEAD_OUT if q[1] == LEAD_OUT else _from_bcd(q[1])
    return QPosition(q[0] >> 4, track, _from_bcd(q[2]))


@dataclass(slots=True)
class RawWrite:
    """A raw session being written: the next address and what it has seen so far."""

    block_type: int
    next: int
    #: The first sector of the session's program area (the first track's pregap).
    program_start: int
    #: The track and index of the last program-area sector (None before the first).
    position: QPosition | None = None
    #: Index 1 of the open track has been seen (its start is known).
    index1: bool = False
    leadout: bool = False
    text: LeadInText = field(default_factory=LeadInText)

    @property
    def sector_bytes(self) -> int:
        return RAW_SECTOR_SIZE + SUBCHANNEL_BYTES[self.block_type]

    def q(self, sector: memoryview) -> bytes:
        sub = sector[RAW_SECTOR_SIZE:]
        if self.block_type == RAW_PQ_16:
            return bytes(sub[:12])
        return q_of_pw(sub)

    def leadin_rw(self, sector: memoryview) -> None:
        """Take the R-W symbols of a lead-in sector (raw P-W only carries them)."""
        if self.block_type == RAW_PW_96:
            self.text.add_sectors(sector[RAW_SECTOR_SIZE : RAW_SECTOR_SIZE + RW_BYTES], 1)


def track_mode(position: QPosition, sector: bytes | memoryview) -> TrackMode | None:
    """The mode a track is kept in, from its first (descrambled) sector; None for one not
    recorded."""
    if not position.data:
        return TrackMode.AUDIO
    if sector[_MODE_BYTE] == 1:
        return TrackMode.MODE1_2048
    return None


def kept_bytes(mode: TrackMode, sector: memoryview) -> memoryview:
    """The bytes of a raw (descrambled) sector a track of ``mode`` keeps."""
    if mode is TrackMode.AUDIO:
        return sector[:RAW_SECTOR_SIZE]
    return sector[_USER_DATA : _USER_DATA + USER_DATA_SIZE]
