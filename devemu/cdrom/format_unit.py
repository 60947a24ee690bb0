"""Formatting rewritable DVD and BD media: FORMAT UNIT and READ FORMAT CAPACITIES
(MMC-6 6.4, 6.25).

What each medium offers (the formattable capacity descriptors, MMC-6 6.25.3.3),
for a disc of ``N`` blocks (its capacity without spare areas):

==========  ============================================================  =============
medium      format types offered                                          result
==========  ============================================================  =============
DVD+RW      26h (basic format, ``N`` blocks)                              ``N`` blocks
DVD-RW      00h and 10h (full, ``N``), 15h (quick, ``N``); once in        restricted
            restricted overwrite 13h (quick grow, the unformatted rest)   overwrite
BD-RE       00h (default spare), 30h three times (default, most and       with spare
            least spare: any size between the last two is accepted),
            31h (no spare, ``N`` blocks)                                  / without
==========  ============================================================  =============

A DVD+RW formats in the background (MMC-6 4.5.2.3): FORMAT UNIT returns
at once and the disc is writable everywhere; the emulated disc has nothing
to de-ice, so its background format status is "completed" right away. A
DVD-RW or BD-RE format with the Immed bit set keeps the drive NOT READY,
FORMAT IN PROGRESS (02/04/04) for :attr:`FORMAT_SECONDS`, with the progress
indication (SPC-5 4.4.2.4.4) that TEST UNIT READY and REQUEST SENSE pollers
read, then the drive is ready again. Without Immed the command returns once
the format is done.

The formatted area is kept by :meth:`devemu.cdrom.recording.Recording.format_area`
as the disc's one track; its blocks start empty.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from construct import BitsInteger, BitStruct, Bytes, Flag, Int8ub, Int16ub, Int24ub, Int32ub, Struct

from devemu.cdrom.format_state import FormatState
from devemu.cdrom.media import BlankMedium
from devemu.cdrom.recording import Recording
from devemu.scsi.command import Command
from devemu.scsi.sense import (
    CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT,
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    LOGICAL_UNIT_NOT_READY_FORMAT_IN_PROGRESS,
    PARAMETER_LIST_LENGTH_ERROR,
    SenseError,
    cdb_field,
    param_field,
)

if TYPE_CHECKING:
    from devemu.cdrom.device import CdromDevice

#: MMC-6 6.4.2 table 45: FORMAT UNIT.
FormatUnitCdb = Struct(
    "opcode" / Int8ub,
    "flags"
    / BitStruct(
        "reserved" / BitsInteger(3),
        "fmt_data" / Flag,
        "cmp_list" / Flag,
        "format_code" / BitsInteger(3),
    ),
    "reserved" / Bytes(3),
    "control" / Int8ub,
)

#: MMC-6 6.25.2 table 489: READ FORMAT CAPACITIES.
ReadFormatCapacitiesCdb = Struct(
    "opcode" / Int8ub,
    "reserved" / Bytes(6),
    "allocation_length" / Int16ub,
    "control" / Int8ub,
)

#: MMC-6 6.4.3.2 table 47: format list header.
FormatListHeader = Struct(
    "reserved" / Int8ub,
    "flags"
    / BitStruct(
        "fov" / Flag,
        "dpry" / Flag,
        "dcrt" / Flag,
        "stpf" / Flag,
        "ip" / Flag,
        "try_out" / Flag,
        "immed" / Flag,
        "vs" / Flag,
    ),
    "descriptor_length" / Int16ub,
)

#: MMC-6 6.4.3.3 table 50: format descriptor.
FormatDescriptor = Struct(
    "blocks" / Int32ub,
    "type" / BitStruct("format_type" / BitsInteger(6), "subtype" / BitsInteger(2)),
    "parameter" / Int24ub,
)

#: MMC-6 6.25.3.1 table 491: capacity list header.
CapacityListHeader = Struct("reserved" / Bytes(3), "list_length" / Int8ub)

#: MMC-6 6.25.3.2 table 492: current/maximum capacity descriptor.
CurrentCapacityDescriptor = Struct(
    "blocks" / Int32ub,
    "type" / BitStruct("reserved" / BitsInteger(6), "descriptor_type" / BitsInteger(2)),
    "block_length" / Int24ub,
)

#: MMC-6 6.25.3.3 table 494: formattable capacity descriptor.
FormattableCapacityDescriptor = Struct(
    "blocks" / Int32ub,
    "type" / BitStruct("format_type" / BitsInteger(6), "reserved" / BitsInteger(2)),
    "parameter" / Int24ub,
)

#: Descriptor types of the current/maximum capacity descriptor (MMC-6 table 493).
UNFORMATTED = 0b01
FORMATTED = 0b10

#: Format types (MMC-6 table 52).
FULL = 0x00
DVD_RW_FULL = 0x10
DVD_RW_GROW = 0x11
DVD_RW_QUICK_GROW = 0x13
DVD_RW_QUICK = 0x15
DVD_PLUS_RW_BASIC = 0x26
BD_RE_SPARE = 0x30
BD_RE_NO_SPARE = 0x31
#: The only format code of FORMAT UNIT (MMC-6 6.4.2.2).
FORMAT_CODE = 0b001
#: Type Dependent Parameter of the DVD-RW formats: blocks of an ECC block (16, 32 KiB).
DVD_RW_BLOCKING = 16
#: A BD cluster: 32 blocks of 2048 bytes; spare areas and format sizes go by clusters.
BD_CLUSTER = 32
#: Seconds a DVD-RW or BD-RE format with Immed keeps the drive NOT READY.
FORMAT_SECONDS = 1.5


@dataclass(frozen=True, slots=True)
class Offer:
    """A formattable capacity descriptor: ``blocks`` of format type ``format_type``."""

    blocks: int
    format_type: int
    parameter: int = 0

    def encode(self) -> bytes:
        out: bytes = FormattableCapacityDescriptor.build(
            {
                "blocks": self.blocks,
                "type": {"format_type": self.format_type, "reserved": 0},
                "parameter": self.parameter,
            }
        )
        return out


def bd_spare_sizes(sectors: int) -> tuple[int, int, int]:
    """The default, largest and smallest spare areas of a BD-RE of ``sectors`` blocks,
    in blocks (whole clusters): about 3%, 5% and 1% of the disc."""
    clusters = max(1, sectors // 1024)
    default = clusters * BD_CLUSTER
    return default, (clusters * 5 // 3) * BD_CLUSTER, max(1, clusters // 3) * BD_CLUSTER


def _bd_size(sectors: int, spare: int) -> int:
    return (sectors - spare) // BD_CLUSTER * BD_CLUSTER


def offers(rec: Recording) -> list[Offer]:
    """The formats the disc in the drive can take now (MMC-6 6.25.3.3)."""
    n = rec.sectors
    if rec.medium is BlankMedium.DVD_PLUS_RW:
        return [Offer(n, DVD_PLUS_RW_BASIC)]
    if rec.medium is BlankMedium.DVD_RW:
        found = [
            Offer(n, FULL, DVD_RW_BLOCKING),
            Offer(n, DVD_RW_FULL, DVD_RW_BLOCKING),
            Offer(n, DVD_RW_QUICK, DVD_RW_BLOCKING),
        ]
        if rec.format is not None:
            found.append(Offer(n - rec.format.blocks, DVD_RW_QUICK_GROW, DVD_RW_BLOCKING))
        return found
    default, most, least = bd_spare_sizes(n)
    return [
        Offer(_bd_size(n, default), FULL, default // BD_CLUSTER),
        Offer(_bd_size(n, default), BD_RE_SPARE, default // BD_CLUSTER),
        Offer(_bd_size(n, most), BD_RE_SPARE, most // BD_CLUSTER),
        Offer(_bd_size(n, least), BD_RE_SPARE, least // BD_CLUSTER),
        Offer(n, BD_RE_NO_SPARE),
    ]


def capacity_list(rec: Recording) -> bytes:
    """READ FORMAT CAPACITIES data: the current/maximum capacity, then the offers."""
    if rec.format is not None:
        current = (rec.format.blocks, FORMATTED)
    else:
        current = (offers(rec)[0].blocks, UNFORMATTED)
    body: bytes = CurrentCapacityDescriptor.build(
        {
            "blocks": current[0],
            "type": {"reserved": 0, "descriptor_type": current[1]},
            "block_length": 2048,
        }
    )
    body += b"".join(o.encode() for o in offers(rec))
    head: bytes = CapacityListHeader.build({"reserved": bytes(3), "list_length": len(body)})
    return head + body


def _overwritable(device: CdromDevice) -> Recording:
    """The rewritable DVD or BD in the drive; other media cannot be formatted (30/05)."""
    device.ready_disc()
    rec = device.recording
    if rec is None or not rec.medium.overwritable:
        raise SenseError(CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT)
    return rec


def read_format_capacities(device: CdromDevice, cmd: Command, allocation_length: int) -> int:
    """READ FORMAT CAPACITIES, MMC-6 6.25: what the disc is formatted to and can be."""
    return cmd.data_in(capacity_list(_overwritable(device)), allocation_length)


@dataclass(slots=True)
class FormatInProgress:
    """A format started with Immed: NOT READY with its progress until it is done."""

    duration: float
    clock: Callable[[], float] = time.monotonic
    start: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.start = self.clock()

    def check(self) -> bool:
        """True once done; NOT READY, FORMAT IN PROGRESS with the progress before."""
        elapsed = self.clock() - self.start
        if elapsed >= self.duration:
            return True
        progress = min(0xFFFF, int(0x10000 * elapsed / self.duration))
        raise SenseError(LOGICAL_UNIT_NOT_READY_FORMAT_IN_PROGRESS, progress=progress)


def _bad(byte: int, bit: int | None = None) -> SenseError:
    return SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(byte, bit))


def chosen_format(rec: Recording, blocks: int, format_type: int, subtype: int) -> FormatState:
    """The format a descriptor asks of the disc, or INVALID FIELD IN PARAMETER LIST
    pointing at the field it cannot take (the descriptor starts at byte 4)."""
    n = rec.sectors
    offered = {o.format_type for o in offers(rec)}
    if format_type not in offered:
        raise _bad(8, 7)
    if rec.medium is BlankMedium.DVD_PLUS_RW:
        # The basic format takes any number of blocks (FFFFFFFFh: as many as fit).
        return FormatState(n, format_type)
    if rec.medium is BlankMedium.DVD_RW:
        if format_type in (FULL, DVD_RW_FULL):
            if blocks == 0 or blocks > n:
                raise _bad(4)
            grown = -(-blocks // DVD_RW_BLOCKING) * DVD_RW_BLOCKING
            return FormatState(min(grown, n), format_type)
        # Quick format and quick grow: the area grows as far as the disc goes.
        return FormatState(n, format_type)
    default, most, least = bd_spare_sizes(n)
    if format_type == BD_RE_NO_SPARE:
        if subtype > 0b01:
            raise _bad(8, 1)
        return FormatState(n, format_type, spare=False)
    if format_type == FULL:
        return FormatState(_bd_size(n, default), format_type, spare=True)
    if blocks < _bd_size(n, most) or blocks > _bd_size(n, least):
        raise _bad(4)
    return FormatState(blocks // BD_CLUSTER * BD_CLUSTER, format_type, spare=True)


def format_unit(
    device: CdromDevice, cmd: Command, fmt_data: int, cmp_list: int, format_code: int
) -> None:
    """FORMAT UNIT, MMC-6 6.4: lay out a new formatted area (its blocks empty)."""
    if format_code != FORMAT_CODE:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 2))
    if not fmt_data:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 4))
    rec = _overwritable(device)
    size = FormatListHeader.sizeof() + FormatDescriptor.sizeof()
    data = cmd.data_out()
    if len(data) < size:
        raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
    header = FormatListHeader.parse(data)
    if header.descriptor_length != FormatDescriptor.sizeof():
        raise _bad(2)
    descriptor = FormatDescriptor.parse(data[4:])
    state = chosen_format(
        rec, descriptor.blocks, descriptor.type.format_type, descriptor.type.subtype
    )
    restart = rec.medium is BlankMedium.DVD_PLUS_RW and descriptor.parameter & 0x01
    if restart and rec.format is not None:
        return  # restarting a background format that is already complete (MMC-6 6.4.4.2.14)
    device.sao = None
    rec.format_area(state)
    device.disc_changed(new_media=True)
    if header.flags.immed and rec.medium is not BlankMedium.DVD_PLUS_RW and FORMAT_SECONDS:
        device.formatting = FormatInProgress(FORMAT_SECONDS)
        device.may_be_not_ready = True
