"""Moving the tape: REWIND, SPACE, LOCATE, READ POSITION, LOAD UNLOAD (SSC-5 7.3-7.10).

Where a motion ends is computed by :mod:`devemu.tape.positioning`; a
motion that stops early is turned into sense here (:func:`raise_for`):
FILEMARK (NO SENSE, FILEMARK bit), end of data (BLANK CHECK), beginning
of partition (NO SENSE, EOM bit), each with INFORMATION = the residue.
LOAD UNLOAD and PREVENT ALLOW MEDIUM REMOVAL go to the drive's medium
state table (:mod:`devemu.tape.medium_state`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devemu.scsi.command import Command
from devemu.scsi.sense import (
    BEGINNING_OF_PARTITION_MEDIUM_DETECTED,
    END_OF_DATA_DETECTED,
    FILEMARK_DETECTED,
    INVALID_FIELD_IN_CDB,
    SEQUENTIAL_POSITIONING_ERROR_ILLEGAL,
    SenseError,
    cdb_field,
)
from devemu.tape import pages
from devemu.tape.cdbs import AllowOverwrite, DestType, ReadPositionForm, SpaceCode
from devemu.tape.positioning import (
    Motion,
    Stop,
    locate_file,
    locate_object,
    space_blocks,
    space_filemarks,
    space_sequential_filemarks,
    space_to_eod,
)

if TYPE_CHECKING:
    from devemu.tape.drive import TapeDrive


def _raise_for(motion: Motion) -> None:
    """Sense for a motion that stopped early, INFORMATION = residue."""
    if motion.stop is Stop.FILEMARK:
        raise SenseError(FILEMARK_DETECTED, filemark=True, information=motion.residual)
    if motion.stop is Stop.EOD:
        raise SenseError(END_OF_DATA_DETECTED, information=motion.residual)
    if motion.stop is Stop.BOP:
        raise SenseError(
            BEGINNING_OF_PARTITION_MEDIUM_DETECTED, eom=True, information=motion.residual
        )


def _space(drive: TapeDrive, code: int, count: int) -> None:
    part = drive.current_partition()
    pos = drive.position
    if code == SpaceCode.BLOCKS:
        motion = space_blocks(part, pos, count)
    elif code == SpaceCode.FILEMARKS:
        motion = space_filemarks(part, pos, count)
    elif code == SpaceCode.SEQUENTIAL_FILEMARKS:
        if count < 0:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2))
        motion = space_sequential_filemarks(part, pos, count)
    elif code == SpaceCode.END_OF_DATA:
        motion = space_to_eod(part)
    else:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 3))
    drive.set_position(motion)
    _raise_for(motion)


def space6(drive: TapeDrive, cmd: Command, code: int, count: int) -> None:
    """SPACE(6), SSC-5 7.9, and SPACE(16), SSC-5 7.10: COUNT is signed (negative: backwards)."""
    _space(drive, code, count)


space16 = space6


def _change_partition(drive: TapeDrive, partition: int, byte: int) -> None:
    if partition >= drive.mounted().partition_count:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(byte))
    drive.change_partition(partition)


def locate10(
    drive: TapeDrive, cmd: Command, cp: int, logical_object_identifier: int, partition: int
) -> None:
    """LOCATE(10), SSC-5 7.4 (BT=1 addresses are the same logical objects)."""
    if cp:
        _change_partition(drive, partition, 8)
    motion = locate_object(drive.current_partition(), logical_object_identifier)
    drive.set_position(motion)
    _raise_for(motion)


def locate16(
    drive: TapeDrive,
    cmd: Command,
    dest_type: int,
    cp: int,
    partition: int,
    logical_identifier: int,
) -> None:
    """LOCATE(16), SSC-5 7.5: to an object, a file or end of data."""
    dest = dest_type
    if dest not in (DestType.LOGICAL_OBJECT, DestType.LOGICAL_FILE, DestType.END_OF_DATA):
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 5))
    if cp:
        _change_partition(drive, partition, 3)
    part = drive.current_partition()
    if dest == DestType.LOGICAL_OBJECT:
        motion = locate_object(part, logical_identifier)
    elif dest == DestType.LOGICAL_FILE:
        motion = locate_file(part, logical_identifier)
    else:
        motion = space_to_eod(part)
    drive.set_position(motion)
    _raise_for(motion)


def allow_overwrite(
    drive: TapeDrive,
    cmd: Command,
    allow_overwrite: int,
    partition: int,
    logical_object_identifier: int,
) -> None:
    """ALLOW OVERWRITE (SSC-5, ALLOW OVERWRITE command), as LTFS sends it before appending.

    The drive's WRITE MODE is always overwrite-allowed (page 10h/01h), so
    the command changes nothing; it is checked as SSC-5 says: the CURRENT
    POSITION form names the partition and the logical object the tape is
    at (another partition: INVALID FIELD IN CDB; a logical object past
    end of data: BLANK CHECK, END-OF-DATA DETECTED, which LTFS expects
    when it names the largest block number; another position: ILLEGAL
    REQUEST, SEQUENTIAL POSITIONING ERROR).
    """
    if allow_overwrite not in tuple(AllowOverwrite):
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2, 3))
    if allow_overwrite != AllowOverwrite.CURRENT_POSITION:
        return
    if partition != drive.partition:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(3))
    if logical_object_identifier > drive.current_partition().eod:
        raise SenseError(END_OF_DATA_DETECTED)
    if logical_object_identifier != drive.position:
        raise SenseError(SEQUENTIAL_POSITIONING_ERROR_ILLEGAL)


def rewind(drive: TapeDrive, cmd: Command) -> None:
    """REWIND, SSC-5 7.8: synchronise, then BOP of partition 0."""
    drive.synchronise()
    drive.to_bop()


def read_position(
    drive: TapeDrive, cmd: Command, service_action: int, allocation_length: int
) -> int:
    """READ POSITION short, long and extended forms (SSC-5 7.7)."""
    form = service_action
    if form not in tuple(ReadPositionForm):
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 4))
    part = drive.current_partition()
    pos = drive.position
    data = pages.read_position_data(
        form,
        partition=drive.partition,
        position=pos,
        file_number=part.file_number(pos),
        bop=pos == 0,
        eop=False,
        bpew=drive.in_early_warning(part) and pos >= part.eod,
    )
    allocation = allocation_length if form == ReadPositionForm.EXTENDED else None
    return cmd.data_in(data, allocation)


def load_unload(drive: TapeDrive, cmd: Command, hold: int, eot: int, load: int) -> None:
    """LOAD UNLOAD, SSC-5 7.3: LOAD, RETEN, EOT, HOLD; the drive's state table does the rest."""
    if load and eot:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(4, 2))
    if load:
        drive.host_load(bool(hold))
    else:
        drive.host_unload(bool(hold))


def prevent_allow_medium_removal(drive: TapeDrive, cmd: Command, prevent: int) -> None:
    """PREVENT ALLOW MEDIUM REMOVAL (SPC-5 6.15): 00b allow, 01b prevent."""
    if prevent > 1:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(4, 1))
    drive.prevent_removal(bool(prevent))
