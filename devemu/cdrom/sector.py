"""Raw CD sectors: sync, header, sub-header, EDC and the RSPC parity.

ECMA-130 (CD-ROM, 2nd edition) 14: a 2352-byte sector is a 12-byte sync
pattern, a 4-byte header (BCD MSF address and the mode byte), then per
mode:

- Mode 1 (14.3): 2048 user bytes, a 4-byte EDC over bytes 0-2063, eight
  zero bytes, then the P (172 bytes) and Q (104 bytes) parity of annex A.
- Mode 2 (14.4, CD-ROM XA form 1/form 2): an 8-byte sub-header (the same
  four bytes twice), then form 1: 2048 user bytes, EDC over bytes
  16-2071, P and Q parity computed with the header taken as zero; form 2:
  2324 user bytes and an EDC over bytes 16-2347.
- Mode 2 formless: 2336 user bytes and nothing else.

The EDC is a 32-bit CRC with generator x^32 + x^31 + x^16 + x^15 + x^4 +
x^3 + x + 1 (0x8001801B) fed least significant bit first, stored little
endian (ECMA-130 14.3). The P and Q parity is a Reed-Solomon product code
over GF(2^8) with the field polynomial x^8 + x^4 + x^3 + x^2 + 1
(annex A): bytes 12-2075 (Mode 1) are 1032 16-bit words in two planes
(most and least significant bytes); P runs down 43 columns of 24 words
per plane (RS(26,24)), Q along 26 diagonals of 43 words (RS(45,43))
covering the P parity as well. Each code word c satisfies
sum(c_i) = 0 and sum(c_i * alpha^(n-1-i)) = 0.

Theory of operation: parity is computed a whole row of code words at a
time. Row k holds element k of every code word of one kind (86 for P,
52 for Q); multiplying a row by alpha^w is one ``bytes.translate`` with
a 256-entry table, and summing rows is an XOR of big integers. That
keeps a full sector's parity to a few dozen C-level operations.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from operator import itemgetter

from devemu.cdrom.msf import lba_to_msf, to_bcd

RAW_SECTOR_SIZE = 2352
USER_DATA_SIZE = 2048
MODE2_FORM2_DATA_SIZE = 2324
MODE2_FORMLESS_SIZE = 2336
SYNC = b"\x00" + b"\xff" * 10 + b"\x00"
#: The sub-header of a Mode 2 form 1 data sector (data, form 1).
FORM1_SUBHEADER = b"\x00\x00\x08\x00"
#: The sub-header bit that marks form 2 (ECMA-130 / CD-ROM XA submode bit 5).
SUBMODE_FORM2 = 0x20


class SectorMode(IntEnum):
    """The mode byte of a data sector header (ECMA-130 14.2)."""

    MODE0 = 0
    MODE1 = 1
    MODE2 = 2


# --- GF(2^8), field polynomial 0x11D, primitive element alpha = 2 ---------------

_GF_POLY = 0x11D
_EXP = [0] * 512
_LOG = [0] * 256
_x = 1
for _i in range(255):
    _EXP[_i] = _x
    _LOG[_x] = _i
    _x <<= 1
    if _x & 0x100:
        _x ^= _GF_POLY
for _i in range(255, 512):
    _EXP[_i] = _EXP[_i - 255]


def gf_mul(a: int, b: int) -> int:
    """Product in GF(2^8) with the ECMA-130 annex A field polynomial."""
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def _mul_table(factor: int) -> bytes:
    return bytes(gf_mul(v, factor) for v in range(256))


#: _POW_TABLES[w] multiplies every byte by alpha^w.
_POW_TABLES = [_mul_table(_EXP[w]) for w in range(45)]
#: Multiplies by 1 / (alpha + 1): solves the two parity equations.
_DIV_ALPHA_PLUS_ONE = _mul_table(_EXP[255 - _LOG[_EXP[1] ^ 1]])

# --- the EDC: CRC-32 0x8001801B, least significant bit first -------------------

_EDC_POLY_REFLECTED = 0xD8018001


def _edc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (_EDC_POLY_REFLECTED if c & 1 else 0)
        table.append(c)
    return table


_EDC_TABLE = _edc_table()


def edc(data: bytes | bytearray | memoryview) -> int:
    """The ECMA-130 14.3 error detection code of ``data``."""
    table = _EDC_TABLE
    crc = 0
    for b in bytes(data):
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


# --- P and Q parity --------------------------------------------------------------

_P_COLUMNS = 86
_P_ROWS = 24
_Q_DIAGONALS = 52
_Q_ROWS = 43
_P_REGION = _P_COLUMNS * _P_ROWS  # 2064 bytes from offset 12
_Q_REGION = _P_REGION + 2 * _P_COLUMNS  # 2236 bytes: the P parity is inside
_Q_WORDS = _Q_REGION // 2


def _q_order() -> Callable[[bytes], tuple[int, ...]]:
    indexes = []
    for k in range(_Q_ROWS):
        for v in range(_Q_DIAGONALS):
            n, plane = divmod(v, 2)
            word = (44 * k + 43 * n) % _Q_WORDS
            indexes.append(2 * word + plane)
    return itemgetter(*indexes)


_Q_GATHER = _q_order()


def _parity(rows: list[bytes], width: int) -> bytes:
    """The two parity rows of code words whose data rows are ``rows``."""
    n = len(rows) + 2
    total = 0
    weighted = 0
    for k, row in enumerate(rows):
        total ^= int.from_bytes(row, "big")
        weighted ^= int.from_bytes(row.translate(_POW_TABLES[n - 1 - k]), "big")
    p0 = (total ^ weighted).to_bytes(width, "big").translate(_DIV_ALPHA_PLUS_ONE)
    p1 = (total ^ int.from_bytes(p0, "big")).to_bytes(width, "big")
    return p0 + p1


def p_parity(region: bytes) -> bytes:
    """172 bytes of P parity over the 2064 bytes starting at sector offset 12."""
    rows = [region[k * _P_COLUMNS : (k + 1) * _P_COLUMNS] for k in range(_P_ROWS)]
    return _parity(rows, _P_COLUMNS)


def q_parity(region: bytes) -> bytes:
    """104 bytes of Q parity over the 2236 bytes starting at sector offset 12."""
    gathered = bytes(_Q_GATHER(region))
    rows = [gathered[k * _Q_DIAGONALS : (k + 1) * _Q_DIAGONALS] for k in range(_Q_ROWS)]
    return _parity(rows, _Q_DIAGONALS)


def fill_ecc(sector: bytearray, *, zero_header: bool = False) -> None:
    """Write P and Q parity (bytes 2076-2351) into a 2352-byte sector."""
    region = bytes(sector[12:2076])
    if zero_header:
        region = b"\x00\x00\x00\x00" + region[4:]
    p = p_parity(region)
    q = q_parity(region + p)
    sector[2076:2248] = p
    sector[2248:2352] = q


# --- whole sectors ---------------------------------------------------------------


def header(lba: int, mode: SectorMode) -> bytes:
    """The 4-byte sector header: BCD MSF address and mode (ECMA-130 14.2)."""
    m, s, f = lba_to_msf(lba)
    return bytes((to_bcd(m), to_bcd(s), to_bcd(f), mode))


def mode1_sector(lba: int, data: bytes | memoryview) -> bytearray:
    """A complete Mode 1 sector around 2048 user bytes (ECMA-130 14.3)."""
    sector = bytearray(RAW_SECTOR_SIZE)
    sector[0:12] = SYNC
    sector[12:16] = header(lba, SectorMode.MODE1)
    sector[16:2064] = data
    sector[2064:2068] = edc(sector[0:2064]).to_bytes(4, "little")
    fill_ecc(sector)
    return sector


def mode2_form1_sector(
    lba: int, data: bytes | memoryview, subheader: bytes = FORM1_SUBHEADER
) -> bytearray:
    """A complete Mode 2 form 1 sector (ECMA-130 14.4, CD-ROM XA)."""
    sector = bytearray(RAW_SECTOR_SIZE)
    sector[0:12] = SYNC
    sector[12:16] = header(lba, SectorMode.MODE2)
    sector[16:24] = subheader + subheader
    sector[24:2072] = data
    sector[2072:2076] = edc(sector[16:2072]).to_bytes(4, "little")
    fill_ecc(sector, zero_header=True)
    return sector


def mode2_form2_sector(lba: int, data: bytes | memoryview, subheader: bytes) -> bytearray:
    """A complete Mode 2 form 2 sector: 2324 user bytes and the EDC."""
    sector = bytearray(RAW_SECTOR_SIZE)
    sector[0:12] = SYNC
    sector[12:16] = header(lba, SectorMode.MODE2)
    sector[16:24] = subheader + subheader
    sector[24:2348] = data
    sector[2348:2352] = edc(sector[16:2348]).to_bytes(4, "little")
    return sector


def mode2_sector(lba: int, body: bytes | memoryview) -> bytearray:
    """A Mode 2 sector from its 2336 bytes after the header.

    When the body starts with a CD-ROM XA sub-header the form bit decides
    whether form 1 or form 2 EDC/ECC is regenerated; otherwise the sector
    is formless and kept as it is.
    """
    body = bytes(body)
    sub = body[0:4]
    if sub == body[4:8] and sub != b"\x00\x00\x00\x00":
        if sub[2] & SUBMODE_FORM2:
            return mode2_form2_sector(lba, body[8:2332], sub)
        return mode2_form1_sector(lba, body[8:2056], sub)
    sector = bytearray(RAW_SECTOR_SIZE)
    sector[0:12] = SYNC
    sector[12:16] = header(lba, SectorMode.MODE2)
    sector[16:2352] = body
    return sector
