"""DVD structures and keys: READ DISC STRUCTURE (READ DVD STRUCTURE) and
REPORT KEY (MMC-6 6.24, 6.30).

A DVD-ROM image answers the physical format information (format 00h),
copyright information (01h, no content protection, all regions),
manufacturing information (04h, empty) and the structure list (FFh). The
RPC state of REPORT KEY is a Phase II drive with no region set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from construct import Int8ub, Int16ub, Int24ub, Padding, Struct

from devemu.cdrom.profiles import Profile
from devemu.scsi.command import Command
from devemu.scsi.sense import (
    CANNOT_READ_MEDIUM_INCOMPATIBLE_FORMAT_ILLEGAL,
    INVALID_FIELD_IN_CDB,
    SenseError,
    cdb_field,
)

if TYPE_CHECKING:
    from devemu.cdrom.device import CdromDevice

PHYSICAL = 0x00
COPYRIGHT = 0x01
MANUFACTURING = 0x04
STRUCTURE_LIST = 0xFF
#: First physical sector of the data area of a DVD (ECMA-267 13.3.2).
DVD_FIRST_SECTOR = 0x030000

#: ECMA-267 / MMC-6 table 435: physical format information (first 17 bytes).
PhysicalFormat = Struct(
    "book" / Int8ub,
    "size_rate" / Int8ub,
    "layers" / Int8ub,
    "density" / Int8ub,
    Padding(1),
    "start" / Int24ub,
    Padding(1),
    "end" / Int24ub,
    Padding(1),
    "end_layer0" / Int24ub,
    "bca" / Int8ub,
)

AGID = 0x00
RPC_STATE = 0x08
INVALIDATE_AGID = 0x3F

#: MMC-6 table 577: RPC state (Phase II, no region set, 4 vendor resets, 5 user changes).
RpcState = Struct(
    "length" / Int16ub,
    Padding(2),
    "counts" / Int8ub,
    "region_mask" / Int8ub,
    "scheme" / Int8ub,
    Padding(1),
)


def _structure(fmt: int, sectors: int) -> bytes:
    if fmt == PHYSICAL:
        body: bytes = PhysicalFormat.build(
            {
                "book": 0x01,  # DVD-ROM, part version 1
                "size_rate": 0x02,  # 120 mm, 10.08 Mbps
                "layers": 0x01,  # one layer, parallel track path, embossed
                "density": 0x10,  # 0.267 um/bit, 0.74 um/track
                "start": DVD_FIRST_SECTOR,
                "end": DVD_FIRST_SECTOR + sectors - 1,
                "end_layer0": 0,
                "bca": 0,
            }
        )
        return body.ljust(2048, b"\0")
    if fmt == COPYRIGHT:
        return bytes(4)  # no protection, all regions
    if fmt == MANUFACTURING:
        return bytes(2048)
    entries = b"".join(
        bytes((code, 0x40)) + (size + 4).to_bytes(2, "big")
        for code, size in (
            (PHYSICAL, 2048),
            (COPYRIGHT, 4),
            (MANUFACTURING, 2048),
            (STRUCTURE_LIST, 16),
        )
    )
    return entries


def read_disc_structure(
    device: CdromDevice,
    cmd: Command,
    media_type: int,
    layer_number: int,
    format: int,
    allocation_length: int,
) -> int:
    """READ DISC STRUCTURE (media type 0: DVD), MMC-6 6.24."""
    disc = device.ready_disc()
    rec = device.recording
    if rec is not None and rec.medium.overwritable:
        return rewritable_structures.read_disc_structure(
            device, cmd, media_type, layer_number, format, allocation_length
        )
    fmt = format
    if device.profile is not Profile.DVD_ROM or media_type:
        raise SenseError(CANNOT_READ_MEDIUM_INCOMPATIBLE_FORMAT_ILLEGAL)
    if fmt not in (PHYSICAL, COPYRIGHT, MANUFACTURING, STRUCTURE_LIST):
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(7))
    if fmt != STRUCTURE_LIST and layer_number != 0:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(6))
    body = _structure(fmt, disc.leadout)
    data = (len(body) + 2).to_bytes(2, "big") + b"\0\0" + body
    return cmd.data_in(data, allocation_length)


def report_key(
    device: CdromDevice, cmd: Command, key_class: int, allocation_length: int, key_format: int
) -> int | None:
    """REPORT KEY, MMC-6 6.30: AGID, RPC state, invalidate AGID."""
    if key_class != 0:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(7))
    fmt = key_format
    if fmt == RPC_STATE:
        data: bytes = RpcState.build(
            {"length": 6, "counts": (4 << 3) | 5, "region_mask": 0x00, "scheme": 0x01}
        )
        return cmd.data_in(data, allocation_length)
    if fmt == AGID:
        return cmd.data_in(bytes((0, 6, 0, 0, 0, 0, 0, 0)), allocation_length)
    if fmt == INVALIDATE_AGID:
        return None
    raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(10, 5))


# Imported last: it builds on this module's structures (PhysicalFormat, the format codes).
from devemu.cdrom import rewritable_structures  # noqa: E402
