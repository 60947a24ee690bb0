"""Reading commands: READ CAPACITY, READ (10), READ (12), READ CD, READ CD
MSF, SEEK (10), and the refusal of writes (MMC-6 6.15, 6.16, 6.19, 6.20,
6.23, 6.38).

READ (10/12) return 2048-byte user data: from Mode 1 and Mode 2 form 1
sectors only; an audio or form 2 sector is ILLEGAL MODE FOR THIS TRACK
(MMC-6 6.15.3). READ CD returns the fields byte 9 selects of sectors of
the expected type byte 1 names (MMC-6 tables 376-380).

:func:`fast_reads` gives :meth:`CdromDevice.execute` what it needs to
answer a READ (10)/(12) of plain 2048-byte data without the dispatcher.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from construct import Int32ub, Struct

from devemu.cdrom.cdbs import (
    READ10,
    READ10_FAST,
    READ12,
    READ12_FAST,
    READ_CD,
    ReadCapacityCdb,
    ReadCdMsfCdb,
    Seek10Cdb,
)
from devemu.cdrom.disc import (
    USER_DATA,
    Disc,
    SectorFormat,
    SectorType,
    TrackMode,
    sector_type_of,
)
from devemu.cdrom.msf import msf_to_lba
from devemu.cdrom.subchannel import SubchannelKind
from devemu.scsi.command import Command
from devemu.scsi.sense import (
    CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT,
    ILLEGAL_MODE_FOR_THIS_TRACK,
    INVALID_FIELD_IN_CDB,
    LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE,
    SenseError,
    cdb_field,
)
from devemu.scsi.table import CommandSpec

if TYPE_CHECKING:
    from devemu.cdrom.device import CdromDevice

BLOCK = 2048

#: MMC-6 table 498: READ CAPACITY data.
ReadCapacityData = Struct("last_lba" / Int32ub, "block_length" / Int32ub)


def read_capacity(device: CdromDevice, cmd: Command) -> int:
    """READ CAPACITY, MMC-6 6.23: the last readable LBA and 2048."""
    ReadCapacityCdb.parse(cmd.cdb)
    disc = device.ready_disc()
    data: bytes = ReadCapacityData.build({"last_lba": disc.leadout - 1, "block_length": BLOCK})
    return cmd.data_in(data)


def _check_range(disc: Disc, lba: int, count: int) -> None:
    if lba < 0 or lba + count > disc.leadout:
        raise SenseError(LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE, information=lba & 0xFFFFFFFF)


def _check_types(disc: Disc, lba: int, count: int, expected: SectorType, *, user: bool) -> None:
    """Every sector in range is recorded and of the expected type.

    ``user`` is a READ (10/12): Mode 1 or Mode 2 form 1 only.
    """
    end = lba + count
    pos = lba
    while pos < end:
        track = disc.track_at(pos)
        if track is None:
            raise SenseError(LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE, information=pos)
        stop = min(end, track.end)
        mode = track.mode
        if mode in (TrackMode.MODE2_2336, TrackMode.MODE2_2352) and (
            user or expected not in (SectorType.ANY,)
        ):
            for p in range(pos, stop):
                ext = disc.extent_at(p)
                assert ext is not None
                kind = sector_type_of(mode, disc.raw_sector(ext, p))
                want = SectorType.MODE2_FORM1 if user else expected
                if kind is not want:
                    raise SenseError(ILLEGAL_MODE_FOR_THIS_TRACK, information=p)
        else:
            kind = sector_type_of(mode, None)
            if user and kind is not SectorType.MODE1:
                raise SenseError(ILLEGAL_MODE_FOR_THIS_TRACK, information=pos)
            if not user and expected is not SectorType.ANY and kind is not expected:
                raise SenseError(ILLEGAL_MODE_FOR_THIS_TRACK, information=pos)
        pos = stop


def read_user_data(device: CdromDevice, cmd: Command, lba: int, count: int) -> int:
    """Transfer ``count`` 2048-byte blocks from ``lba`` straight into the buffers."""
    disc = device.ready_disc()
    if lba + count > disc.leadout:
        raise SenseError(LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE, information=lba & 0xFFFFFFFF)
    if count == 0:
        return 0
    if disc.is_plain_data:
        return disc.read_plain(lba, count, cmd.iov)
    if not disc.is_plain_data:
        _check_types(disc, lba, count, SectorType.ANY, user=True)
    return disc.read_sectors(lba, count, USER_DATA, cmd.iov)


def read10(device: CdromDevice, cmd: Command) -> int:
    """READ (10), MMC-6 6.15."""
    _, _, lba, _, count, _ = READ10.unpack_from(cmd.cdb)
    return read_user_data(device, cmd, lba, count)


def read12(device: CdromDevice, cmd: Command) -> int:
    """READ (12), MMC-6 6.16."""
    _, _, lba, count, _, _ = READ12.unpack_from(cmd.cdb)
    return read_user_data(device, cmd, lba, count)


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
    _check_range(disc, lba, count)
    if count == 0:
        return 0
    _check_types(disc, lba, count, SectorType(expected), user=False)
    if not (fields & 0xF8) and fmt.c2 == 0 and fmt.subchannel is SubchannelKind.NONE:
        return 0
    return disc.read_sectors(lba, count, fmt, cmd.iov)


def read_cd(device: CdromDevice, cmd: Command) -> int:
    """READ CD, MMC-6 6.19."""
    _, flags, lba, len_hi, len_lo, fields, sub, _ = READ_CD.unpack_from(cmd.cdb)
    return _read_cd(
        device, cmd, (flags >> 2) & 0x07, lba, (len_hi << 16) | len_lo, fields=fields, sub=sub
    )


def read_cd_msf(device: CdromDevice, cmd: Command) -> int:
    """READ CD MSF, MMC-6 6.20: from the start address up to (not including) the end."""
    cdb = ReadCdMsfCdb.parse(cmd.cdb)
    start = msf_to_lba(*cdb.start)
    end = msf_to_lba(*cdb.end)
    if end < start:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(6))
    return _read_cd(
        device,
        cmd,
        cdb.flags.sector_type,
        start,
        end - start,
        fields=cdb.fields,
        sub=cdb.subchannel,
    )


def seek10(device: CdromDevice, cmd: Command) -> None:
    """SEEK (10), MMC-6 6.38: move the pickup; a play stops there."""
    cdb = Seek10Cdb.parse(cmd.cdb)
    disc = device.ready_disc()
    _check_range(disc, cdb.lba, 1)
    device.audio.seek(cdb.lba)


def write_refused(device: CdromDevice, cmd: Command) -> None:
    """WRITE on read-only media: CANNOT WRITE MEDIUM - INCOMPATIBLE FORMAT (MMC-6 4.1.5)."""
    device.ready_disc()
    raise SenseError(CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT)


# --- the fast path of READ (10) and READ (12) -----------------------------------------


class FastRead(NamedTuple):
    """How :meth:`CdromDevice.execute` decodes one READ opcode by itself."""

    #: (lba, transfer_length) of the CDB.
    unpack: Callable[[bytes], tuple[Any, ...]]
    #: The CDB bits outside the usage data, over the whole CDB as one integer.
    reserved: int
    length: int


def fast_reads(specs: tuple[CommandSpec, ...]) -> dict[int, FastRead]:
    """The fast path decoders of READ (10) and READ (12), keyed by opcode.

    The reserved-bit masks come from the same usage data the dispatcher
    checks (``specs`` is the drive's command table).
    """
    decoders = {read10: READ10_FAST.unpack_from, read12: READ12_FAST.unpack_from}
    return {
        spec.opcode: FastRead(decoders[spec.handler], spec.cdb_mask, spec.length)
        for spec in specs
        if spec.handler in decoders and spec.service_action is None
    }
