"""READ DEFECT DATA (10) and (12): an image file has no defects.

SBC-4 READ DEFECT DATA (10) and (12) commands: the answer is the defect
list header alone, with PLISTV and GLISTV set as REQ_PLIST and REQ_GLIST
asked (the lists asked for are returned, and both are empty) and a
DEFECT LIST LENGTH of zero.

Address descriptor formats (SBC-4 6.2, table of the DEFECT LIST FORMAT
field): a logical unit whose blocks live in a file has no cylinders,
heads, sectors or index, so it returns its lists in the block formats
only: short block (000b) and long block (011b). A request for any other
format (the physical and bytes-from-index ones, extended or not, and the
vendor specific one) is answered as SBC-4 says for a format the device
server cannot return: the list in its default format (long block, which
holds any LBA), that format named in the header, and then CHECK
CONDITION with RECOVERED ERROR / DEFECT LIST NOT FOUND after the data.
The reserved value 111b is INVALID FIELD IN CDB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from construct import BitsInteger, BitStruct, Flag, Int8ub, Int16ub, Int32ub, Struct

from devemu.scsi.command import Command
from devemu.scsi.sense import (
    DEFECT_LIST_NOT_FOUND,
    INVALID_FIELD_IN_CDB,
    SenseError,
    cdb_field,
)

if TYPE_CHECKING:
    from devemu.disk.device import Disk

#: DEFECT LIST FORMAT values, SBC-4 6.2.
SHORT_BLOCK = 0b000
LONG_BLOCK = 0b011
RESERVED_FORMAT = 0b111
#: The formats an image's (empty) lists are returned in.
SUPPORTED_FORMATS = frozenset({SHORT_BLOCK, LONG_BLOCK})
#: The format returned when the one asked for cannot be.
DEFAULT_FORMAT = LONG_BLOCK

#: Byte 1 of both defect list headers.
_ListFlags = BitStruct(
    "reserved" / BitsInteger(3),
    "plistv" / Flag,
    "glistv" / Flag,
    "defect_list_format" / BitsInteger(3),
)

#: READ DEFECT DATA (10) parameter data header, SBC-4 READ DEFECT DATA (10) parameter data.
DefectListHeader10 = Struct(
    "reserved" / Int8ub,
    "flags" / _ListFlags,
    "defect_list_length" / Int16ub,
)

#: READ DEFECT DATA (12) parameter data header, SBC-4 READ DEFECT DATA (12) parameter data.
DefectListHeader12 = Struct(
    "reserved" / Int8ub,
    "flags" / _ListFlags,
    "generation_code" / Int16ub,
    "defect_list_length" / Int32ub,
)


def _answer(
    cmd: Command,
    header: Struct,
    extra: dict[str, Any],
    req_plist: int,
    req_glist: int,
    defect_list_format: int,
    allocation_length: int,
    format_byte: int,
) -> int:
    if defect_list_format == RESERVED_FORMAT:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(format_byte, 2))
    returned = defect_list_format if defect_list_format in SUPPORTED_FORMATS else DEFAULT_FORMAT
    data: bytes = header.build(
        {
            "reserved": 0,
            "flags": {
                "reserved": 0,
                "plistv": bool(req_plist),
                "glistv": bool(req_glist),
                "defect_list_format": returned,
            },
            "defect_list_length": 0,
            **extra,
        }
    )
    placed = cmd.data_in(data, allocation_length)
    if returned != defect_list_format:
        raise SenseError(DEFECT_LIST_NOT_FOUND, transferred=placed)
    return placed


def read_defect_data_10(
    dev: Disk,
    cmd: Command,
    req_plist: int,
    req_glist: int,
    defect_list_format: int,
    allocation_length: int,
) -> int:
    """READ DEFECT DATA (10), SBC-4: the 4-byte header, no descriptors."""
    return _answer(
        cmd,
        DefectListHeader10,
        {},
        req_plist,
        req_glist,
        defect_list_format,
        allocation_length,
        format_byte=2,
    )


def read_defect_data_12(
    dev: Disk,
    cmd: Command,
    req_plist: int,
    req_glist: int,
    defect_list_format: int,
    allocation_length: int,
) -> int:
    """READ DEFECT DATA (12), SBC-4: the 8-byte header, no descriptors.

    Whatever ADDRESS DESCRIPTOR INDEX names, no descriptor follows it. The
    lists never change, so the GENERATION CODE stays 0.
    """
    return _answer(
        cmd,
        DefectListHeader12,
        {"generation_code": 0},
        req_plist,
        req_glist,
        defect_list_format,
        allocation_length,
        format_byte=1,
    )
