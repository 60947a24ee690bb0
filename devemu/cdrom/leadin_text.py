"""CD-TEXT written in a Session At Once lead-in (MMC-6 6.33, 4.2.5.2 and annex J).

With bit 6 of the lead-in entry's data form set (41h) the host writes
the lead-in's R-W sub-channel itself: WRITE (10) from the lead-in start
(the ATIP lead-in start on a blank disc, READ DISC INFORMATION bytes
17-19) up to the first track's pregap, 96 bytes a sector. Each of those
bytes carries one 6-bit R-W symbol in its low bits (P and Q above are
the drive's); 96 symbols are 72 bytes, four CD-TEXT packs of 18 bytes
(pack type, track, sequence number, block/position, 12 bytes of payload,
CRC-16 stored inverted). The host repeats its packs over the whole
lead-in; :class:`LeadInText` keeps each pack once, in the order of its
block and sequence number, and drops packs whose CRC is wrong (as a
drive's reading of the lead-in would). A sector already seen (the
host's cycle of packs comes round again) is recognised by its bytes and
not decoded again: the thousands of lead-in sectors cost a set look-up
each.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from devemu.cdrom.subchannel import crc16

#: Bytes the host sends a lead-in sector: one R-W symbol each.
SECTOR_BYTES = 96
PACK_BYTES = 18
#: 96 six-bit symbols are 72 bytes: four packs.
PACKS_PER_SECTOR = SECTOR_BYTES * 6 // 8 // PACK_BYTES
#: At most eight blocks (languages) of 256 packs each (MMC-6 annex J).
MAX_PACKS = 8 * 256
_SYMBOL = 0x3F


def symbols_to_bytes(sector: bytes | memoryview) -> bytes:
    """The 72 bytes carried by the low 6 bits of 96 sub-channel bytes, most significant
    symbol first."""
    out = bytearray()
    for i in range(0, SECTOR_BYTES, 4):
        a, b, c, d = (x & _SYMBOL for x in sector[i : i + 4])
        word = a << 18 | b << 12 | c << 6 | d
        out += word.to_bytes(3, "big")
    return bytes(out)


def bytes_to_symbols(data: bytes) -> bytes:
    """72 bytes as 96 sub-channel bytes of one 6-bit symbol each (P and Q zero)."""
    out = bytearray()
    for i in range(0, len(data), 3):
        word = int.from_bytes(data[i : i + 3], "big")
        out += bytes(word >> shift & _SYMBOL for shift in (18, 12, 6, 0))
    return bytes(out)


def pack_valid(pack: bytes) -> bool:
    """The pack's CRC-16 (over its first 16 bytes, stored inverted) is right."""
    return (crc16(pack[:16]) ^ 0xFFFF).to_bytes(2, "big") == pack[16:18]


@dataclass(slots=True)
class LeadInText:
    """The CD-TEXT packs gathered from lead-in sectors, each once."""

    packs: dict[tuple[int, int], bytes] = field(default_factory=dict)
    _seen: set[bytes] = field(default_factory=set)

    def add_sectors(self, data: bytes | memoryview, count: int) -> None:
        """Take ``count`` lead-in sectors of :data:`SECTOR_BYTES` each."""
        for n in range(count):
            sector = bytes(data[n * SECTOR_BYTES : (n + 1) * SECTOR_BYTES])
            if sector in self._seen:
                continue
            if len(self._seen) < MAX_PACKS:
                self._seen.add(sector)
            raw = symbols_to_bytes(sector)
            for p in range(PACKS_PER_SECTOR):
                pack = raw[p * PACK_BYTES : (p + 1) * PACK_BYTES]
                if not pack_valid(pack):
                    continue
                key = ((pack[3] >> 4) & 0x07, pack[2])  # block, sequence number
                if key not in self.packs and len(self.packs) < MAX_PACKS:
                    self.packs[key] = pack

    def data(self) -> bytes:
        """The packs in block and sequence order; b"" when none was valid."""
        return b"".join(self.packs[k] for k in sorted(self.packs))
