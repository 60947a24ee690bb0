"""Logical block protection: the control data protection mode page and CRC32C (SSC-5 4.2 and 8.3).

A host that turns logical block protection on (SSC-5 4.2, logical block
protection) sends each logical block it writes with protection
information after it, and gets each block it reads back with the
protection information after it. The control data protection mode page
(page 0Ah, subpage F0h, SSC-5 8.3) says how:

- LOGICAL BLOCK PROTECTION METHOD: 00h none, 01h the Reed-Solomon CRC
  of ECMA-319 (what LTO-5 and LTO-6 drives use), 02h CRC32C (LTO-7 and
  later); the drive takes either;
- LOGICAL BLOCK PROTECTION INFORMATION LENGTH: 4 (0 with no method);
- LBP_W: WRITE data carries the protection information, which the drive
  checks before the block is written (a mismatch ends the command with
  ABORTED COMMAND, LOGICAL BLOCK GUARD CHECK FAILED, and nothing
  written);
- LBP_R: READ data carries it, computed by the drive over the block it
  returns;
- RBDP (recover buffered data protected) is not changeable: the drive
  buffers nothing.

CRC32C (Castagnoli) goes after the block least significant byte first,
as LTO drives and LTFS (``crc32c_crc.c``) put it. The Reed-Solomon CRC
is the four check bytes of a Reed-Solomon code over GF(2^8) (field
polynomial x^8+x^4+x^3+x^2+1, generator polynomial x^4 + 38h x^3 + CFh
x^2 + 38h x + 01h), computed a byte at a time from a register of zero
and sent most significant byte first (ECMA-319; LTFS's
``reed_solomon_crc.c`` computes the same). The cartridge keeps only the
blocks' data: protection is a property of the transfer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from construct import BitsInteger, BitStruct, Flag, Int8ub, Padding, Struct

from devemu.scsi.mode_pages import ModePage
from devemu.scsi.sense import INVALID_FIELD_IN_PARAMETER_LIST, SenseError, param_field
from devemu.tape.castagnoli import crc32c_of

CONTROL_PAGE = 0x0A
CONTROL_DATA_PROTECTION_SUBPAGE = 0xF0
#: Bytes of the page after its four-byte sub_page header (SSC-5 8.3: page length 1Ch).
PAGE_LENGTH = 0x1C
#: Protection information length of CRC32C.
CRC32C_LENGTH = 4


class ProtectionMethod(IntEnum):
    """LOGICAL BLOCK PROTECTION METHOD, SSC-5 8.3 (control data protection mode page)."""

    NONE = 0x00
    REED_SOLOMON = 0x01
    CRC32C = 0x02


#: SSC-5 8.3, control data protection mode page: the parameters after the sub_page header.
ControlDataProtection = Struct(
    "method" / Int8ub,
    "information_length" / BitStruct(Padding(2), "length" / BitsInteger(6)),
    "flags" / BitStruct("lbp_w" / Flag, "lbp_r" / Flag, "rbdp" / Flag, Padding(5)),
    Padding(PAGE_LENGTH - 3),
)


@dataclass(frozen=True, slots=True)
class Protection:
    """What the page asks for: protection information on writes, on reads, and how."""

    write: bool = False
    read: bool = False
    method: ProtectionMethod = ProtectionMethod.CRC32C

    @property
    def on(self) -> bool:
        return self.write or self.read


NO_PROTECTION = Protection()


def page_body(method: int = 0, length: int = 0, lbp_w: bool = False, lbp_r: bool = False) -> bytes:
    out: bytes = ControlDataProtection.build(
        {
            "method": method,
            "information_length": {"length": length},
            "flags": {"lbp_w": lbp_w, "lbp_r": lbp_r, "rbdp": False},
        }
    )
    return out


def control_data_protection_page() -> ModePage:
    """Page 0Ah/F0h: protection off; method, length, LBP_W and LBP_R changeable."""
    changeable = bytes([0xFF, 0x3F, 0xC0]) + bytes(PAGE_LENGTH - 3)
    return ModePage(CONTROL_PAGE, page_body(), changeable, subpage=CONTROL_DATA_PROTECTION_SUBPAGE)


#: Byte offsets of the fields in the page's parameters, for the field pointer.
_METHOD_BYTE = 0
_LENGTH_BYTE = 1


def protection_of(body: bytes) -> Protection:
    """The protection page 0Ah/F0h values ask for; SenseError when the drive cannot do it.

    The field pointer counts from the first parameter byte (the mode page
    set moves it into the MODE SELECT parameter list, SPC-5 4.4.2.4.2).
    """
    page = ControlDataProtection.parse(body)
    method, length = page.method, page.information_length.length
    if method == ProtectionMethod.NONE:
        if length:
            raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(_LENGTH_BYTE))
        return NO_PROTECTION
    if method not in (ProtectionMethod.CRC32C, ProtectionMethod.REED_SOLOMON):
        raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(_METHOD_BYTE))
    if length != CRC32C_LENGTH:
        raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(_LENGTH_BYTE))
    return Protection(page.flags.lbp_w, page.flags.lbp_r, ProtectionMethod(method))


def crc32c(pieces: Sequence[memoryview | bytes]) -> int:
    """CRC32C over the concatenation of ``pieces`` (no copy)."""
    crc = 0
    for piece in pieces:
        crc = crc32c_of(piece, crc)
    return crc


def protection_bytes(crc: int) -> bytes:
    """The four bytes of CRC32C protection information: least significant byte first."""
    return crc.to_bytes(CRC32C_LENGTH, "little")


#: GF(2^8) of the Reed-Solomon CRC: x^8+x^4+x^3+x^2+1.
_FIELD_POLYNOMIAL = 0x11D
#: The generator polynomial's coefficients below x^4, highest first.
_GENERATOR = (0x38, 0xCF, 0x38, 0x01)


def _gf_multiply(a: int, b: int) -> int:
    product = 0
    while b:
        if b & 1:
            product ^= a
        a <<= 1
        if a & 0x100:
            a ^= _FIELD_POLYNOMIAL
        b >>= 1
    return product


#: The register's change for each value of its top byte xor the next data byte.
_RS_TABLE = tuple(
    int.from_bytes(bytes(_gf_multiply(v, g) for g in _GENERATOR), "big") for v in range(256)
)


def reed_solomon_crc(pieces: Sequence[memoryview | bytes]) -> int:
    """The ECMA-319 Reed-Solomon CRC of the concatenation of ``pieces`` (a byte at a time)."""
    reg = 0
    table = _RS_TABLE
    for piece in pieces:
        for byte in bytes(piece):
            reg = ((reg << 8) & 0xFFFFFFFF) ^ table[byte ^ (reg >> 24)]
    return reg


def protection_information(method: ProtectionMethod, pieces: Sequence[memoryview | bytes]) -> bytes:
    """The four bytes that follow a block protected with ``method``."""
    if method == ProtectionMethod.REED_SOLOMON:
        return reed_solomon_crc(pieces).to_bytes(CRC32C_LENGTH, "big")
    return protection_bytes(crc32c(pieces))
