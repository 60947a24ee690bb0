"""Logical block protection: the control data protection mode page and CRC32C (SSC-5 4.2 and 8.3).

A host that turns logical block protection on (SSC-5 4.2, logical block
protection) sends each logical block it writes with protection
information after it, and gets each block it reads back with the
protection information after it. The control data protection mode page
(page 0Ah, subpage F0h, SSC-5 8.3) says how:

- LOGICAL BLOCK PROTECTION METHOD: 00h none, 02h CRC32C (the method the
  LTO-7 and later drives use; 01h, the Reed-Solomon CRC of ECMA-319 that
  LTO-5 and LTO-6 drives use, is not offered: the page refuses it);
- LOGICAL BLOCK PROTECTION INFORMATION LENGTH: 4 for CRC32C (0 with no
  method);
- LBP_W: WRITE data carries the protection information, which the drive
  checks before the block is written (a mismatch ends the command with
  ABORTED COMMAND, LOGICAL BLOCK GUARD CHECK FAILED, and nothing
  written);
- LBP_R: READ data carries it, computed by the drive over the block it
  returns;
- RBDP (recover buffered data protected) is not changeable: the drive
  buffers nothing.

The CRC is CRC32C (Castagnoli), least significant byte first after the
block, as LTO drives and LTFS (``crc32c_crc.c``) put it. The cartridge
keeps only the blocks' data: protection is a property of the transfer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from construct import BitsInteger, BitStruct, Flag, Int8ub, Padding, Struct

from devemu.scsi.mode_pages import ModePage
from devemu.scsi.sense import INVALID_FIELD_IN_PARAMETER_LIST, SenseError, param_field
from devemu.tape.records import crc32c_of

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
    """What the page asks for: protection information on writes, on reads."""

    write: bool = False
    read: bool = False

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
    if method != ProtectionMethod.CRC32C:
        raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(_METHOD_BYTE))
    if length != CRC32C_LENGTH:
        raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(_LENGTH_BYTE))
    return Protection(write=page.flags.lbp_w, read=page.flags.lbp_r)


def crc32c(pieces: Sequence[memoryview | bytes]) -> int:
    """CRC32C over the concatenation of ``pieces`` (no copy)."""
    crc = 0
    for piece in pieces:
        crc = crc32c_of(piece, crc)
    return crc


def protection_bytes(crc: int) -> bytes:
    """The four bytes of protection information: the CRC, least significant byte first."""
    return crc.to_bytes(CRC32C_LENGTH, "little")
