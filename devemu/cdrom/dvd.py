"""DVD structures and keys: READ DISC STRUCTURE (READ DVD STRUCTURE) and
REPORT KEY (MMC-6 6.24, 6.30).

A DVD answers the physical format information (format 00h), copyright
information (01h, no content protection, all regions), manufacturing
information (04h, empty) and the structure list (FFh). The physical
format names the medium's book (DVD-ROM, DVD-R, DVD+R: ECMA-267, ECMA-359,
ECMA-349) and, on a recordable disc, the whole data zone whatever is
written (``dvd+rw-mediainfo`` reports it as the lead-out). A BD (media
type 1) answers the disc information (format 00h, one DI unit naming the
disc type: BDO, BDR) and the structure list. The RPC state of REPORT KEY
is a Phase II drive with no region set.
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
#: Book type and part version (physical format byte 0): DVD-ROM 1, DVD-R 2.5, DVD+R 1.
BOOK_TYPES = {Profile.DVD_ROM: 0x01, Profile.DVD_R: 0x25, Profile.DVD_PLUS_R: 0xA1}
#: Layer type (byte 2, bits 3-0): embossed (01b), recordable (10b).
LAYER_TYPES = {Profile.DVD_ROM: 0x01, Profile.DVD_R: 0x02, Profile.DVD_PLUS_R: 0x02}
#: Where a DVD+R's physical format names its maker and media type (ECMA-349: bytes 19-29),
#: and what this drive's blank discs say there (8 bytes of maker, 3 of type).
DVD_PLUS_R_MEDIA_ID = 19
MEDIA_ID = b"DEVEMU\0\0" + b"001"
#: BD disc type identifiers of a DI unit: read-only, write-once.
BD_DISC_TYPES = {Profile.BD_ROM: b"BDO", Profile.BD_R: b"BDR"}
#: Media type field of READ DISC STRUCTURE (MMC-6 table 427): DVD, BD.
MEDIA_DVD = 0
MEDIA_BD = 1
#: Bytes of the BD disc information structure (MMC-6 6.24.3.2.1: DI units of 112 bytes).
BD_DI_BYTES = 4096
BD_DI_UNIT = 112

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


def _structure(fmt: int, sectors: int, profile: Profile = Profile.DVD_ROM) -> bytes:
    if fmt == PHYSICAL:
        body: bytes = PhysicalFormat.build(
            {
                "book": BOOK_TYPES.get(profile, 0x01),
                "size_rate": 0x02,  # 120 mm, 10.08 Mbps
                "layers": LAYER_TYPES.get(profile, 0x01),  # one layer, parallel track path
                "density": 0x10,  # 0.267 um/bit, 0.74 um/track
                "start": DVD_FIRST_SECTOR,
                "end": DVD_FIRST_SECTOR + sectors - 1,
                "end_layer0": 0,
                "bca": 0,
            }
        )
        out = bytearray(body.ljust(2048, b"\0"))
        if profile is Profile.DVD_PLUS_R:
            # ECMA-349 (DVD+R) physical format: disc manufacturer ID, media type ID.
            out[DVD_PLUS_R_MEDIA_ID : DVD_PLUS_R_MEDIA_ID + len(MEDIA_ID)] = MEDIA_ID
        return bytes(out)
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


def bd_disc_information(profile: Profile) -> bytes:
    """One DI unit (BD Part 1: "DI", format 1, the disc type, a manufacturer and
    media type identifier) in the 4096 bytes of format 00h."""
    unit = bytearray(BD_DI_UNIT)
    unit[0:2] = b"DI"
    unit[2] = 0x01  # DI format 1
    unit[3] = 0x00  # unit 0 of the block
    unit[4] = 0x01  # one DI unit
    unit[8:11] = BD_DISC_TYPES.get(profile, b"BDO")
    unit[100:106] = MEDIA_ID[:6]
    unit[106:109] = MEDIA_ID[8:]
    return bytes(unit).ljust(BD_DI_BYTES, b"\0")


def _bd_structure(fmt: int, profile: Profile) -> bytes:
    if fmt == PHYSICAL:
        return bd_disc_information(profile)
    return (
        bytes((PHYSICAL, 0x40))
        + (BD_DI_BYTES + 4).to_bytes(2, "big")
        + bytes((STRUCTURE_LIST, 0x40))
        + (8 + 4).to_bytes(2, "big")
    )


def read_disc_structure(
    device: CdromDevice,
    cmd: Command,
    media_type: int,
    layer_number: int,
    format: int,
    allocation_length: int,
) -> int:
    """READ DISC STRUCTURE, MMC-6 6.24: DVD structures (media type 0) of a DVD, BD
    structures (media type 1) of a BD."""
    disc = device.ready_disc()
    rec = device.recording
    if rec is not None and rec.medium.overwritable:
        return rewritable_structures.read_disc_structure(
            device, cmd, media_type, layer_number, format, allocation_length
        )
    fmt = format
    profile = device.profile
    if media_type == MEDIA_BD and profile.is_bd:
        if fmt not in (PHYSICAL, STRUCTURE_LIST):
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(7))
        body = _bd_structure(fmt, profile)
    elif media_type == MEDIA_DVD and profile.is_dvd:
        if fmt not in (PHYSICAL, COPYRIGHT, MANUFACTURING, STRUCTURE_LIST):
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(7))
        if fmt != STRUCTURE_LIST and layer_number != 0:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(6))
        rec = device.recording
        sectors = rec.sectors if rec is not None else disc.leadout
        body = _structure(fmt, sectors, profile)
    else:
        raise SenseError(CANNOT_READ_MEDIUM_INCOMPATIBLE_FORMAT_ILLEGAL)
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
