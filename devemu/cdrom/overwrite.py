"""Rewritable DVD and BD media: DVD+RW, DVD-RW in restricted overwrite, BD-RE.

Theory of operation
-------------------
Such a disc is written at random once formatted (MMC-6 4.5.2 DVD+RW, 4.5.4
restricted overwrite, 4.8.3 BD-RE): no tracks are opened or closed, a WRITE
(10)/(12) may land anywhere in the formatted area (LBA 0 to the formatted
size), and the area reads back as one data track of one session. The disc
is kept by the CD model's :class:`~devemu.cdrom.recording.Recording` in its
own folder: its :class:`~devemu.cdrom.format_state.FormatState` in
``state.json`` and its area as ``track01.bin``, written in place with
``os.pwritev`` from the command's buffers. SYNCHRONIZE CACHE and the FUA bit
of a WRITE flush the file (``fdatasync``) before the command completes, so
what they acknowledged survives a crash of the host too; ``kill -9`` of the
daemon loses nothing written before it (the page cache keeps it).

The disc's states as the host sees them:

================  ===========  =================================  ===================
state             profile      READ DISC INFORMATION              READ FORMAT
                                                                  CAPACITIES current
================  ===========  =================================  ===================
DVD+RW blank      001Ah        blank, BG format 00b (not begun)   unformatted, ``N``
DVD+RW formatted  001Ah        complete, BG format 11b (done)     formatted
DVD-RW formatted  0013h        complete                           formatted
BD-RE blank       0043h        blank                              unformatted
BD-RE formatted   0043h        complete                           formatted
================  ===========  =================================  ===================

A DVD-RW that is not formatted is in sequential recording (profile 0014h)
and is written like a DVD-R (:mod:`devemu.cdrom.sequential`); FORMAT UNIT
(type 00h, 10h or 15h) turns it to restricted overwrite whatever it holds.

BLANK returns a DVD-RW to sequential recording, blank (MMC-6 6.2; the
area's blocks are dropped); DVD+RW and BD-RE have no blanking (they are
reformatted instead). CLOSE TRACK/SESSION has nothing left to close: a
DVD+RW's background format is already complete and a quick-formatted
DVD-RW's area already spans the disc, so it completes with GOOD status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from construct import BitsInteger, BitStruct, Flag, Int8ub, Int16ub, Int32ub, Struct

from devemu.cdrom.features import Feature
from devemu.cdrom.format_state import FormatState
from devemu.cdrom.media import BlankMedium
from devemu.cdrom.profiles import Profile
from devemu.cdrom.recordable_info import disc_information_block
from devemu.cdrom.recording import Recording
from devemu.cdrom.toc import TrackInformation
from devemu.iov import prefix
from devemu.scsi.command import Command
from devemu.scsi.sense import (
    CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT,
    INVALID_FIELD_IN_CDB,
    LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE,
    MEDIUM_NOT_FORMATTED,
    MISCOMPARE_DURING_VERIFY_OPERATION,
    WRITE_ERROR,
    SenseError,
    cdb_field,
)

if TYPE_CHECKING:
    from devemu.cdrom.device import CdromDevice

#: Disc status and state of the last session (MMC-6 tables 509, 510).
DISC_BLANK = 0b00
DISC_COMPLETE = 0b10
SESSION_EMPTY = 0b00
SESSION_COMPLETE = 0b11
#: Disc information byte 2 bit 4: erasable; byte 7 bit 4: URU.
ERASABLE = 0x10
URU = 0x10
#: Background format status (MMC-6 6.22.3.1.13): not begun, completed.
BG_FORMAT_NONE = 0b00
BG_FORMAT_COMPLETE = 0b11
#: Track information (MMC-6 table 545): byte 5 track mode 4 (data); byte 6 Blank,
#: Packet/Inc and FP with data mode 1; byte 7 NWA_V.
DATA_TRACK = 0x04
TRACK_BLANK = 0x40
TRACK_PACKET = 0x20
TRACK_FIXED_PACKET = 0x10
DATA_MODE_1 = 0x01
NWA_VALID = 0x01
#: CLOSE TRACK/SESSION close functions a rewritable disc takes (MMC-6 table 39): stop a
#: background format (000b), close the track (001b) or session (010b), finalize with or
#: without a minimal lead-out (011b, 101b, 110b).
CLOSE_FUNCTIONS = frozenset((0b000, 0b001, 0b010, 0b011, 0b101, 0b110))
#: BLANK types a DVD-RW takes (MMC-6 table 29): the whole disc, minimally.
BLANK_TYPES = frozenset((0b000, 0b001))


#: MMC-6 6.46 table 630: VERIFY (10).
Verify10Cdb = Struct(
    "opcode" / Int8ub,
    "flags"
    / BitStruct(
        "reserved" / BitsInteger(3),
        "dpo" / Flag,
        "reserved2" / BitsInteger(2),
        "bytchk" / Flag,
        "reserved3" / Flag,
    ),
    "lba" / Int32ub,
    "group" / Int8ub,
    "verification_length" / Int16ub,
    "control" / Int8ub,
)


def is_overwritable(device: CdromDevice) -> bool:
    """The drive holds a disc written at random once formatted: a DVD+RW, a BD-RE or a
    restricted overwrite DVD-RW (a sequential DVD-RW is written like a DVD-R)."""
    rec = device.recording
    return rec is not None and rec.random_access


def profile_of(rec: Recording) -> Profile:
    """The current profile: a formatted DVD-RW is in restricted overwrite (0013h)."""
    if rec.medium is BlankMedium.DVD_RW and rec.format is not None:
        return Profile.DVD_RW_RESTRICTED_OVERWRITE
    return Profile(rec.medium.profile_number)


def _formatted(device: CdromDevice) -> tuple[Recording, FormatState]:
    device.ready_disc()
    rec = device.recording
    assert rec is not None
    if rec.format is None:
        raise SenseError(MEDIUM_NOT_FORMATTED)
    return rec, rec.format


def _check_range(state: FormatState, lba: int, count: int) -> None:
    if lba + count > state.blocks:
        raise SenseError(LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE, information=lba & 0xFFFFFFFF)


def transferred(cmd: Command, need: int) -> list[memoryview]:
    """The first ``need`` bytes of a WRITE's data-out buffer: the blocks its Transfer
    Length names. A buffer shorter than that is INVALID FIELD IN CDB (the transfer length);
    a longer one gives only those blocks, as a drive takes them (growisofs sends the last
    WRITE of a Disc At Once recording with fewer blocks than its 32 KiB buffer)."""
    if cmd.data_length < need:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(7))
    return cmd.iov if cmd.data_length == need else prefix(cmd.iov, need)


def write(device: CdromDevice, cmd: Command, lba: int, count: int, fua: int) -> None:
    """WRITE (10)/(12) anywhere in the formatted area (MMC-6 6.47, 6.48); FUA flushes
    the blocks before the command completes."""
    rec, state = _formatted(device)
    _check_range(state, lba, count)
    views = transferred(cmd, count * 2048)
    if count == 0:
        return
    try:
        rec.write_area(lba, views, count)
        if fua:
            rec.flush_area()
    except OSError:
        raise SenseError(WRITE_ERROR, information=lba & 0xFFFFFFFF) from None


def verify_10(
    device: CdromDevice, cmd: Command, bytchk: int, lba: int, verification_length: int
) -> None:
    """VERIFY (10), MMC-6 6.46: the blocks are readable (BytChk 0), or equal the data-out
    (BytChk 1: MISCOMPARE with the offset of the first differing byte). A disc other
    than a formatted rewritable DVD or BD cannot be verified (30/05)."""
    count = verification_length
    if not is_overwritable(device):
        device.ready_disc()
        raise SenseError(CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT)
    _rec, state = _formatted(device)
    _check_range(state, lba, count)
    if not bytchk or count == 0:
        return
    expected = cmd.data_out(count * 2048)
    if len(expected) != count * 2048:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(7))
    actual = bytearray(count * 2048)
    disc = device.ready_disc()
    disc.read_user_data(lba, count, [memoryview(actual)])
    if actual != expected:
        first = next(i for i, (a, b) in enumerate(zip(actual, expected, strict=True)) if a != b)
        raise SenseError(MISCOMPARE_DURING_VERIFY_OPERATION, information=first)


def synchronize_cache(device: CdromDevice) -> None:
    """SYNCHRONIZE CACHE, MMC-6 6.41: flush the area; the kept image follows what is
    on it (``disc.iso`` once an ISO 9660 volume is there)."""
    rec = device.recording
    assert rec is not None
    if rec.format is None:
        return
    try:
        rec.flush_area()
        rec.save()
    except OSError:
        raise SenseError(WRITE_ERROR) from None


def close_track_session(device: CdromDevice, close_function: int) -> None:
    """CLOSE TRACK/SESSION, MMC-6 6.3: nothing is open on a rewritable disc."""
    if close_function not in CLOSE_FUNCTIONS:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2, 2))


def blank(device: CdromDevice, blanking_type: int) -> None:
    """BLANK, MMC-6 6.2: a DVD-RW goes back to sequential recording, blank; DVD+RW and
    BD-RE cannot be blanked (CANNOT WRITE MEDIUM - INCOMPATIBLE FORMAT)."""
    rec = device.recording
    assert rec is not None
    if rec.medium is not BlankMedium.DVD_RW:
        raise SenseError(CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT)
    if blanking_type not in BLANK_TYPES:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 2))
    rec.unformat()
    device.disc_changed(new_media=True)


def disc_information(rec: Recording) -> bytes:
    """READ DISC INFORMATION (MMC-6 6.22.3.1): one session of one track, blank until
    formatted, complete once formatted."""
    if rec.format is None:
        status, session, leadin, leadout = DISC_BLANK, SESSION_EMPTY, 0, rec.sectors
    else:
        status, session, leadin, leadout = DISC_COMPLETE, SESSION_COMPLETE, 0xFFFFFFFF, 0xFFFFFFFF
    bg = BG_FORMAT_NONE
    if rec.medium is BlankMedium.DVD_PLUS_RW and rec.format is not None:
        bg = BG_FORMAT_COMPLETE
    return disc_information_block(
        status=ERASABLE | (session << 2) | status,
        sessions=1,
        first_last=1,
        last_last=1,
        flags=URU | bg,
        leadin=leadin,
        leadout=leadout,
    )


def names_track(rec: Recording, address_type: int, address: int) -> bool:
    """READ TRACK INFORMATION names the one track: track 1 or FFh, an LBA of the disc,
    session 1 (MMC-6 table 543)."""
    if address_type == 0:
        return address < (rec.format.blocks if rec.format is not None else rec.sectors)
    return address in (1, 0xFF) if address_type == 1 else address_type == 2 and address == 1


def track_information(rec: Recording) -> bytes:
    """READ TRACK INFORMATION of the one track (MMC-6 6.27.3): blank and writable from
    LBA 0 before the format, complete (its size the formatted area) after; a restricted
    overwrite track is a fixed-packet track of 16 blocks."""
    size = rec.format.blocks if rec.format is not None else rec.sectors
    if rec.format is None:
        flags, valid, free = TRACK_BLANK, NWA_VALID, rec.sectors
    else:
        flags, valid, free = 0, 0, 0
    packet = 0
    if rec.medium is BlankMedium.DVD_RW and rec.format is not None:
        flags |= TRACK_PACKET | TRACK_FIXED_PACKET
        packet = 16
    out: bytes = TrackInformation.build(
        {
            "length": TrackInformation.sizeof() - 2,
            "track_lsb": 1,
            "session_lsb": 1,
            "track_mode": DATA_TRACK,
            "data_mode": flags | DATA_MODE_1,
            "valid": valid,
            "start": 0,
            "next_writable": 0,
            "free_blocks": free,
            "packet_size": packet,
            "size": size,
            "last_recorded": 0,
            "track_msb": 0,
            "session_msb": 0,
            "read_compatibility": 0,
            "next_layer_jump": 0,
            "last_layer_jump": 0,
        }
    )
    return out


# --- features (MMC-6 5.3) ---------------------------------------------------------------

RANDOM_WRITABLE = 0x0020
FORMATTABLE = 0x0023
HARDWARE_DEFECT_MANAGEMENT = 0x0024
RESTRICTED_OVERWRITE = 0x0026
DVD_PLUS_RW = 0x002A
RIGID_RESTRICTED_OVERWRITE = 0x002C

#: Formattable byte 4 (MMC-6 5.3.13): RENoSA (BD-RE without spare), QCert and Cert
#: (format type 30h subtypes 11b and 10b).
FORMATTABLE_FLAGS = 0x08 | 0x02 | 0x01
#: Hardware Defect Management byte 4: SSA (READ DISC STRUCTURE 0Ah spare area information).
SSA = 0x80
#: DVD+RW byte 4: Write (MMC-6 5.3.19).
DVD_PLUS_RW_WRITE = 0x01
#: Rigid Restricted Overwrite byte 4: Blank, Intermediate (MMC-6 5.3.21).
RIGID_FLAGS = 0x01 | 0x02


def rewritable_features(device: CdromDevice) -> list[Feature]:
    """The features of writing rewritable DVD and BD media, current as the disc in the
    drive is (MMC-6 5.3.11, 5.3.13, 5.3.14, 5.3.16, 5.3.19, 5.3.21; BD Write is
    :func:`devemu.cdrom.features.sequential_features`)."""
    profile = device.profile
    rec = device.recording if is_overwritable(device) else None
    loaded = device.recording
    formattable = loaded is not None and loaded.medium.overwritable
    formatted = rec is not None and rec.format is not None
    spare = rec is not None and rec.format is not None and rec.format.spare
    blocking = 32 if profile is Profile.BD_RE else 16
    last = (rec.format.blocks if rec is not None and rec.format is not None else 1) - 1
    restricted = profile is Profile.DVD_RW_RESTRICTED_OVERWRITE
    return [
        Feature(
            RANDOM_WRITABLE,
            1,
            False,
            formatted and not restricted,
            last.to_bytes(4, "big")
            + (2048).to_bytes(4, "big")
            + blocking.to_bytes(2, "big")
            + bytes((0x01, 0)),
        ),
        Feature(
            FORMATTABLE,
            0,
            False,
            formattable,
            bytes((FORMATTABLE_FLAGS, 0, 0, 0, 0, 0, 0, 0)),
        ),
        Feature(HARDWARE_DEFECT_MANAGEMENT, 1, False, spare, bytes((SSA, 0, 0, 0))),
        Feature(RESTRICTED_OVERWRITE, 0, False, restricted),
        Feature(
            DVD_PLUS_RW,
            1,
            False,
            profile is Profile.DVD_PLUS_RW,
            bytes((DVD_PLUS_RW_WRITE, 0, 0, 0)),
        ),
        Feature(RIGID_RESTRICTED_OVERWRITE, 1, False, restricted, bytes((RIGID_FLAGS, 0, 0, 0))),
    ]
