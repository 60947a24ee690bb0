"""MODE SENSE and MODE SELECT, 6 and 10 byte forms, SPC-5 6.11 to 6.14.

MODE SENSE answers a mode parameter header (SPC-5 7.5.4), the block
descriptor unless DBD is set (SPC-5 7.5.5; the long LBA form when LLBAA
allows it on a direct-access device), and the pages asked for, with the
values the PC field names: current, changeable, default or saved. Saved
values exist only for pages marked saveable; a device with none answers
PC=saved with SAVING PARAMETERS NOT SUPPORTED. Page code 00h returns the
header and block descriptor alone on devices that declare it
(:func:`devemu.scsi.mode_pages.no_page_mode_page`). MODE SENSE(6)
ignores the obsolete LUN bits of byte 1 (:data:`OBSOLETE_LUN_BITS`).

MODE SELECT takes the same layout back. Everything is checked before
anything changes: lengths, the block descriptor against its changeable
mask, every page against its mask (:meth:`ModePageSet.select`). With SP
set, every page sent must be saveable, else SAVING PARAMETERS NOT
SUPPORTED. PF=0 means the parameters after the block descriptors are
vendor specific (SPC-5 6.11); this device's vendor-specific format is the
page format itself, so both values of PF are accepted. When parameters
change and other I_T nexuses are known, they get a MODE PARAMETERS
CHANGED unit attention (SPC-5 6.11, 5.14).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from construct import BitsInteger, BitStruct, Bytes, Flag, Int8ub, Int16ub, Struct

from devemu.scsi.block_descriptor import LONG_LENGTH, SHORT_LENGTH, BlockDescriptor
from devemu.scsi.command import Command
from devemu.scsi.mode_pages import PageControl
from devemu.scsi.sense import (
    INVALID_FIELD_IN_PARAMETER_LIST,
    MODE_PARAMETERS_CHANGED,
    PARAMETER_LIST_LENGTH_ERROR,
    SAVING_PARAMETERS_NOT_SUPPORTED,
    SenseError,
    param_field,
)

if TYPE_CHECKING:
    from devemu.scsi.device import ScsiDevice

DIRECT_ACCESS = 0x00

#: Byte 1 bits 7-5 of MODE SENSE(6): the LOGICAL UNIT NUMBER field of
#: SCSI-2, obsolete since SPC-2 and ignored here. The Linux ch driver
#: still fills the LUN in (``(lun & 7) << 5``) whatever the device's
#: INQUIRY version says, so a changer behind any LUN but 0 would be
#: refused the element address assignment page without them.
OBSOLETE_LUN_BITS = 0xE0

_PAGE = BitStruct("pc" / BitsInteger(2), "page_code" / BitsInteger(6))

#: SPC-5 6.13.1 table 200: MODE SENSE(6) CDB. Byte 1 bits 7-5 held the
#: LUN in SCSI-2; see :data:`OBSOLETE_LUN_BITS`.
ModeSense6Cdb = Struct(
    "opcode" / Int8ub,
    "flags"
    / BitStruct(
        "obsolete_lun" / BitsInteger(3),
        "reserved" / Flag,
        "dbd" / Flag,
        "reserved2" / BitsInteger(3),
    ),
    "page" / _PAGE,
    "subpage_code" / Int8ub,
    "allocation_length" / Int8ub,
    "control" / Int8ub,
)

#: SPC-5 6.14 table 203: MODE SENSE(10) CDB.
ModeSense10Cdb = Struct(
    "opcode" / Int8ub,
    "flags"
    / BitStruct(
        "reserved" / BitsInteger(3), "llbaa" / Flag, "dbd" / Flag, "reserved2" / BitsInteger(3)
    ),
    "page" / _PAGE,
    "subpage_code" / Int8ub,
    "reserved" / Bytes(3),
    "allocation_length" / Int16ub,
    "control" / Int8ub,
)

_SELECT_FLAGS = BitStruct(
    "reserved" / BitsInteger(3),
    "pf" / Flag,
    "reserved2" / BitsInteger(2),
    "rtd" / Flag,
    "sp" / Flag,
)

#: SPC-5 6.11 table 193: MODE SELECT(6) CDB.
ModeSelect6Cdb = Struct(
    "opcode" / Int8ub,
    "flags" / _SELECT_FLAGS,
    "reserved" / Bytes(2),
    "parameter_list_length" / Int8ub,
    "control" / Int8ub,
)

#: SPC-5 6.12 table 194: MODE SELECT(10) CDB.
ModeSelect10Cdb = Struct(
    "opcode" / Int8ub,
    "flags" / _SELECT_FLAGS,
    "reserved" / Bytes(5),
    "parameter_list_length" / Int16ub,
    "control" / Int8ub,
)

#: SPC-5 7.5.4 table 446: mode parameter header(6).
ModeHeader6 = Struct(
    "mode_data_length" / Int8ub,
    "medium_type" / Int8ub,
    "device_specific_parameter" / Int8ub,
    "block_descriptor_length" / Int8ub,
)

#: SPC-5 7.5.4 table 447: mode parameter header(10).
ModeHeader10 = Struct(
    "mode_data_length" / Int16ub,
    "medium_type" / Int8ub,
    "device_specific_parameter" / Int8ub,
    "flags" / BitStruct("reserved" / BitsInteger(7), "longlba" / Flag),
    "reserved" / Int8ub,
    "block_descriptor_length" / Int16ub,
)

HEADER6_LENGTH = 4
HEADER10_LENGTH = 8


def _descriptor(device: ScsiDevice, pc: PageControl) -> BlockDescriptor | None:
    current = device.block_descriptor()
    if current is None:
        return None
    if pc is PageControl.CHANGEABLE:
        return device.block_descriptor_changeable()
    return current


def mode_data(
    device: ScsiDevice,
    *,
    ten: bool,
    dbd: bool,
    llbaa: bool,
    pc: PageControl,
    page: int,
    subpage: int,
) -> bytes:
    """Mode parameter header, block descriptor and pages (SPC-5 6.13, 6.14, 7.5)."""
    if pc is PageControl.SAVED and not any(p.saveable for p in device.mode_pages):
        raise SenseError(SAVING_PARAMETERS_NOT_SUPPORTED)
    pages = device.mode_pages.sense(page, subpage, pc)
    direct = device.peripheral_type == DIRECT_ACCESS
    long_lba = ten and llbaa and direct
    desc = None if dbd else _descriptor(device, pc)
    blocks = b"" if desc is None else desc.encode(direct_access=direct, long_lba=long_lba)
    changeable = pc is PageControl.CHANGEABLE
    medium_type = 0 if changeable else device.mode_medium_type()
    dsp = 0 if changeable else device.mode_device_specific_parameter()
    if ten:
        head: bytes = ModeHeader10.build(
            {
                "mode_data_length": min(HEADER10_LENGTH - 2 + len(blocks) + len(pages), 0xFFFF),
                "medium_type": medium_type,
                "device_specific_parameter": dsp,
                "flags": {"reserved": 0, "longlba": bool(blocks) and long_lba},
                "reserved": 0,
                "block_descriptor_length": len(blocks),
            }
        )
    else:
        head = ModeHeader6.build(
            {
                "mode_data_length": min(HEADER6_LENGTH - 1 + len(blocks) + len(pages), 0xFF),
                "medium_type": medium_type,
                "device_specific_parameter": dsp,
                "block_descriptor_length": len(blocks),
            }
        )
    return head + blocks + pages


def mode_sense_6(
    device: ScsiDevice,
    cmd: Command,
    dbd: int,
    pc: int,
    page_code: int,
    subpage_code: int,
    allocation_length: int,
) -> int:
    """MODE SENSE(6), SPC-5 6.13."""
    data = mode_data(
        device,
        ten=False,
        dbd=bool(dbd),
        llbaa=False,
        pc=PageControl(pc),
        page=page_code,
        subpage=subpage_code,
    )
    return cmd.data_in(data, allocation_length)


def mode_sense_10(
    device: ScsiDevice,
    cmd: Command,
    llbaa: int,
    dbd: int,
    pc: int,
    page_code: int,
    subpage_code: int,
    allocation_length: int,
) -> int:
    """MODE SENSE(10), SPC-5 6.14."""
    data = mode_data(
        device,
        ten=True,
        dbd=bool(dbd),
        llbaa=bool(llbaa),
        pc=PageControl(pc),
        page=page_code,
        subpage=subpage_code,
    )
    return cmd.data_in(data, allocation_length)


def _page_keys(data: bytes) -> list[tuple[int, int]]:
    """(page, subpage) of each page in a MODE SELECT page list, as far as it parses."""
    keys = []
    pos = 0
    while pos + 2 <= len(data):
        if data[pos] & 0x40:
            if pos + 4 > len(data):
                break
            keys.append((data[pos] & 0x3F, data[pos + 1]))
            pos += 4 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        else:
            keys.append((data[pos] & 0x3F, 0))
            pos += 2 + data[pos + 1]
    return keys


def _check_descriptor(
    device: ScsiDevice, raw: bytes, start: int, *, direct: bool, long_lba: bool
) -> BlockDescriptor:
    """Decode a sent block descriptor and check it against the changeable mask."""
    current = device.block_descriptor()
    assert current is not None
    new = BlockDescriptor.decode(raw, direct_access=direct, long_lba=long_lba)
    if new.density_code == 0:
        new = replace(new, density_code=current.density_code)
    if new.number_of_blocks == 0:
        new = replace(new, number_of_blocks=current.number_of_blocks)
    mask = device.block_descriptor_changeable()
    if long_lba:
        offsets = {"density_code": 0, "number_of_blocks": 0, "block_length": 12}
    elif direct:
        offsets = {"density_code": 0, "number_of_blocks": 0, "block_length": 5}
    else:
        offsets = {"density_code": 0, "number_of_blocks": 1, "block_length": 5}
    for name, offset in offsets.items():
        bad = (getattr(new, name) ^ getattr(current, name)) & ~getattr(mask, name)
        if bad:
            raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(start + offset))
    return new


def mode_select(device: ScsiDevice, cmd: Command, *, ten: bool, sp: bool, length: int) -> None:
    """Apply a MODE SELECT parameter list (SPC-5 6.11, 6.12)."""
    if length == 0:
        return
    data = cmd.data_out(length)
    header_length = HEADER10_LENGTH if ten else HEADER6_LENGTH
    if len(data) < length or length < header_length:
        raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
    direct = device.peripheral_type == DIRECT_ACCESS
    long_lba = False
    if ten:
        head = ModeHeader10.parse(data)
        long_lba = head.flags.longlba
        if long_lba and not direct:
            raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(4, 0))
        bdl_field = 6
    else:
        head = ModeHeader6.parse(data)
        bdl_field = 3
    bdl = head.block_descriptor_length
    desc_length = LONG_LENGTH if long_lba else SHORT_LENGTH
    if header_length + bdl > length:
        raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
    has_descriptor = device.block_descriptor() is not None
    if bdl not in (0, desc_length) or (
        bdl and not has_descriptor and not device.passes_over_block_descriptor
    ):
        raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(bdl_field))
    new_desc = None
    if bdl and has_descriptor:
        raw = data[header_length : header_length + bdl]
        new_desc = _check_descriptor(device, raw, header_length, direct=direct, long_lba=long_lba)
    pages = data[header_length + bdl :]
    if sp:
        for key in _page_keys(pages):
            page = device.mode_pages.get(*key)
            if page is not None and not page.saveable:
                raise SenseError(SAVING_PARAMETERS_NOT_SUPPORTED)
    changed = bool(device.mode_pages.select(pages, offset=header_length + bdl, save=sp))
    device.apply_mode_header(head.medium_type, head.device_specific_parameter)
    if new_desc is not None and new_desc != device.block_descriptor():
        device.apply_block_descriptor(new_desc)
        changed = True
    if changed:
        device.post_unit_attention_to_others(MODE_PARAMETERS_CHANGED, cmd.nexus)


def mode_select_6(device: ScsiDevice, cmd: Command, sp: int, parameter_list_length: int) -> None:
    """MODE SELECT(6), SPC-5 6.11."""
    mode_select(device, cmd, ten=False, sp=bool(sp), length=parameter_list_length)


def mode_select_10(device: ScsiDevice, cmd: Command, sp: int, parameter_list_length: int) -> None:
    """MODE SELECT(10), SPC-5 6.12."""
    mode_select(device, cmd, ten=True, sp=bool(sp), length=parameter_list_length)
