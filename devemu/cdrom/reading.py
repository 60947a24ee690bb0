"""Reading commands: READ CAPACITY, READ (10), READ (12), READ CD, READ CD
MSF and SEEK (10) (MMC-6 6.15, 6.16, 6.19, 6.20,
6.23, 6.38); writes are in :mod:`devemu.cdrom.write_commands`.

READ (10/12) return 2048-byte user data: from Mode 1 and Mode 2 form 1
sectors only; an audio or form 2 sector is ILLEGAL MODE FOR THIS TRACK
(MMC-6 6.15.3). READ CD returns the fields byte 9 selects of sectors of
the expected type byte 1 names (MMC-6 tables 376-380).

READ (10)/(12) are the hot path: the dispatcher hands the handler the
LBA and transfer length and the disc reads
(:meth:`~devemu.cdrom.disc.Disc.read_user_data` is one ``os.preadv``
straight into the buffers for 2048-byte Mode 1 sectors of one file).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from construct import Int32ub, Struct

from devemu.cdrom.disc import SectorFormat, SectorType
from devemu.cdrom.msf import packed_msf_to_lba
from devemu.cdrom.subchannel import SubchannelKind
from devemu.scsi.command import Command
from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    SenseError,
    cdb_field,
)

if TYPE_CHECKING:
    from devemu.cdrom.device import CdromDevice

BLOCK = 2048

#: MMC-6 table 498: READ CAPACITY data.
ReadCapacityData = Struct("last_lba" / Int32ub, "block_length" / Int32ub)


def read_capacity(device: CdromDevice, cmd: Command) -> int:
    """READ CAPACITY, MMC-6 6.23: the last readable LBA and 2048."""
    disc = device.ready_disc()
    # A blank disc answers 0 (MMC-6 6.23.2: no complete session).
    last = max(disc.leadout - 1, 0)
    data: bytes = ReadCapacityData.build({"last_lba": last, "block_length": BLOCK})
    return cmd.data_in(data)


def read_10(device: CdromDevice, cmd: Command, lba: int, transfer_length: int) -> int:
    """READ (10), MMC-6 6.15, and READ (12), MMC-6 6.16, which takes the same fields:
    2048-byte user data of Mode 1 and Mode 2 form 1 sectors. DPO, FUA and
    Streaming are accepted (the image is read through the page cache).

    The entry needs the medium: the dispatcher's readiness check has found
    the tray closed with a disc in it.
    """
    disc = device.disc
    assert disc is not None
    return disc.read_user_data(lba, transfer_length, cmd.iov)


read_12 = read_10


def _sector_format(fields: int, subchannel: int) -> SectorFormat:
    c2 = (fields >> 1) & 0x03
    if c2 == 3:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(9, 2))
    sub = subchannel & 0x07
    if sub not in (0, 1, 2, 4):
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(10, 2))
    return SectorFormat(
        sync=bool(fields & 0x80),
        header=(fields >> 5) & 0x03,
        user_data=bool(fields & 0x10),
        edc_ecc=bool(fields & 0x08),
        c2=(0, 294, 296)[c2],
        subchannel=SubchannelKind(sub),
    )


def _read_cd(
    device: CdromDevice, cmd: Command, expected: int, lba: int, count: int, *, fields: int, sub: int
) -> int:
    if expected > SectorType.MODE2_FORM2.value:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 4))
    fmt = _sector_format(fields, sub)
    disc = device.ready_disc()
    if lba >= 0x80000000:
        lba -= 1 << 32
    disc.check_range(lba, count)
    if count == 0:
        return 0
    disc.check_types(lba, count, SectorType(expected), user=False)
    if not (fields & 0xF8) and fmt.c2 == 0 and fmt.subchannel is SubchannelKind.NONE:
        return 0
    return disc.read_sectors(lba, count, fmt, cmd.iov)


def read_cd(
    device: CdromDevice,
    cmd: Command,
    sector_type: int,
    lba: int,
    transfer_length: int,
    fields: int,
    subchannel: int,
) -> int:
    """READ CD, MMC-6 6.19: ``fields`` and ``subchannel`` are bytes 9 and 10."""
    return _read_cd(device, cmd, sector_type, lba, transfer_length, fields=fields, sub=subchannel)


def read_cd_msf(
    device: CdromDevice,
    cmd: Command,
    sector_type: int,
    start: int,
    end: int,
    fields: int,
    subchannel: int,
) -> int:
    """READ CD MSF, MMC-6 6.20: from the start address up to (not including) the end."""
    first = packed_msf_to_lba(start)
    stop = packed_msf_to_lba(end)
    if stop < first:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(6))
    return _read_cd(device, cmd, sector_type, first, stop - first, fields=fields, sub=subchannel)


def seek_10(device: CdromDevice, cmd: Command, lba: int) -> None:
    """SEEK (10), MMC-6 6.38: move the pickup; a play stops there."""
    disc = device.ready_disc()
    disc.check_range(lba, 1)
    device.audio.seek(lba)
