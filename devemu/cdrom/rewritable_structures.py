"""READ DISC STRUCTURE of rewritable DVD and BD media (MMC-6 6.24).

DVD+RW and DVD-RW (media type 0): the physical format information (00h)
with their book type (DVD+RW 9h, DVD-RW 3h, ECMA-337 / ECMA-338), copyright
information (01h), the DVD+RW ADIP information (11h) or the DVD-RW
pre-recorded information (0Eh) naming the disc's manufacturer, and the
structure list (FFh). BD-RE (media type 1): the disc information (00h,
one DI unit, BD disc type "BDW"), the spare area information (0Ah) of a
disc formatted with spares, and the list. dvd+rw-mediainfo and libburn read
these to name the medium.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devemu.cdrom.dvd import COPYRIGHT, DVD_FIRST_SECTOR, PHYSICAL, STRUCTURE_LIST, PhysicalFormat
from devemu.cdrom.format_unit import bd_spare_sizes
from devemu.cdrom.media import BlankMedium
from devemu.cdrom.recording import Recording
from devemu.scsi.command import Command
from devemu.scsi.sense import (
    CANNOT_READ_MEDIUM_INCOMPATIBLE_FORMAT_ILLEGAL,
    INVALID_FIELD_IN_CDB,
    SenseError,
    cdb_field,
)

if TYPE_CHECKING:
    from devemu.cdrom.device import CdromDevice

#: Format codes (MMC-6 tables 429, 447).
PRE_RECORDED = 0x0E
ADIP = 0x11
BD_DISC_INFORMATION = 0x00
BD_SPARE_AREA = 0x0A
#: Media type field of the CDB: DVD 0, BD 1.
MEDIA_DVD = 0
MEDIA_BD = 1
#: Physical format byte 0: book type and part version (ECMA-337: DVD+RW, ECMA-338: DVD-RW).
BOOK_DVD_PLUS_RW = 0x92
BOOK_DVD_RW = 0x32
#: Byte 2: one layer, layer type rewritable (bit 2).
LAYER_REWRITABLE = 0x04
#: The manufacturer and media type the emulated discs carry.
MANUFACTURER = b"DEVEMU"
MEDIA_TYPE = b"RW1"
#: Bytes of one BD disc information unit (BD-RE part 1: DI unit, 112 bytes).
DI_UNIT = 112


def _physical(rec: Recording) -> bytes:
    book = BOOK_DVD_PLUS_RW if rec.medium is BlankMedium.DVD_PLUS_RW else BOOK_DVD_RW
    body: bytes = PhysicalFormat.build(
        {
            "book": book,
            "size_rate": 0x0F,  # 120 mm, maximum rate not specified
            "layers": LAYER_REWRITABLE,
            "density": 0x10,  # 0.267 um/bit, 0.74 um/track
            "start": DVD_FIRST_SECTOR,
            "end": DVD_FIRST_SECTOR + rec.sectors - 1,
            "end_layer0": 0,
            "bca": 0,
        }
    )
    return body.ljust(2048, b"\0")


def _adip(rec: Recording) -> bytes:
    """DVD+RW ADIP information (11h): the physical format, then the disc's manufacturer
    (bytes 19-26) and media type (27-29), as ECMA-337 lays out the ADIP."""
    body = bytearray(_physical(rec)[:256])
    body[19:27] = MANUFACTURER.ljust(8, b"\0")
    body[27:30] = MEDIA_TYPE
    return bytes(body)


def _pre_recorded(rec: Recording) -> bytes:
    """DVD-RW pre-recorded information (0Eh): field 3 (manufacturer's first part) and
    field 4 (its second part), ECMA-338 pre-pit data blocks."""
    body = bytearray(40)
    body[16] = 3
    body[17:23] = MANUFACTURER
    body[24] = 4
    body[25:31] = MEDIA_TYPE.ljust(6, b"\0")
    return bytes(body)


def _disc_information(rec: Recording) -> bytes:
    """BD disc information (00h): one DI unit of a single-layer BD-RE."""
    unit = bytearray(DI_UNIT)
    unit[0:2] = b"DI"
    unit[2] = 0x01  # unit format 1
    unit[3] = 0x01  # one unit, layer 0
    unit[8:11] = b"BDW"  # BD-RE
    unit[11] = 0x01  # disc size 120 mm, class 0 version 1
    unit[12] = 0x01  # one layer
    unit[100:106] = MANUFACTURER
    unit[106:109] = MEDIA_TYPE
    return bytes(unit)


def _spare_area(rec: Recording) -> bytes:
    """BD spare area information (0Ah): free and allocated spare blocks."""
    spare = bd_spare_sizes(rec.sectors)[0] if rec.format is not None else 0
    return bytes(4) + spare.to_bytes(4, "big") + spare.to_bytes(4, "big")


def _available(rec: Recording, media_type: int) -> dict[int, bytes]:
    if media_type == MEDIA_BD:
        found = {BD_DISC_INFORMATION: _disc_information(rec)}
        if rec.format is not None and rec.format.spare:
            found[BD_SPARE_AREA] = _spare_area(rec)
        return found
    found = {PHYSICAL: _physical(rec), COPYRIGHT: bytes(4)}
    if rec.medium is BlankMedium.DVD_PLUS_RW:
        found[ADIP] = _adip(rec)
    else:
        found[PRE_RECORDED] = _pre_recorded(rec)
    return found


def structure_list(available: dict[int, bytes]) -> bytes:
    """Format FFh: each structure's code, SDS/RDS (readable) and length with its header."""
    codes = [*available, STRUCTURE_LIST]
    return b"".join(
        bytes((code, 0x40))
        + (
            len(available.get(code, b"")) + 4 if code != STRUCTURE_LIST else 4 * len(codes) + 4
        ).to_bytes(2, "big")
        for code in codes
    )


def read_disc_structure(
    device: CdromDevice,
    cmd: Command,
    media_type: int,
    layer_number: int,
    format: int,
    allocation_length: int,
) -> int:
    """READ DISC STRUCTURE of a rewritable DVD (media type 0) or BD-RE (media type 1)."""
    rec = device.recording
    assert rec is not None
    expected = MEDIA_BD if rec.medium is BlankMedium.BD_RE else MEDIA_DVD
    if media_type != expected:
        raise SenseError(CANNOT_READ_MEDIUM_INCOMPATIBLE_FORMAT_ILLEGAL)
    available = _available(rec, media_type)
    if format == STRUCTURE_LIST:
        body = structure_list(available)
    elif format in available:
        if layer_number != 0:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(6))
        body = available[format]
    else:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(7))
    data = (len(body) + 2).to_bytes(2, "big") + b"\0\0" + body
    return cmd.data_in(data, allocation_length)
