"""The SMC-3 medium changer: the robot of a virtual tape library.

The changer is a logical unit of peripheral device type 0x08 (SPC-5
6.7.2) in front of a :class:`~devemu.changer.library.Library`. It answers
the SPC commands every device has (INQUIRY with VPD pages 0x00, 0x80 and
0x83 only, MODE SENSE with pages 0x1D, 0x1E and 0x1F, ...) and its own:

=====  ===========================================  ============
0x07   INITIALIZE ELEMENT STATUS                    SMC-3 6.4
0x1E   PREVENT ALLOW MEDIUM REMOVAL (mail slots)    SMC-3 6.13
0x2B   POSITION TO ELEMENT                          SMC-3 6.8
0x37   INITIALIZE ELEMENT STATUS WITH RANGE         SMC-3 6.5
0xA5   MOVE MEDIUM                                  SMC-3 6.6
0xA6   EXCHANGE MEDIUM                              SMC-3 6.3
0xB8   READ ELEMENT STATUS                          SMC-3 6.11
=====  ===========================================  ============

Bits 7-5 of byte 1 are the obsolete LUN field of SCSI-2 CDBs; the Linux
``ch`` driver and mtx still fill them in with the LUN, so they are
accepted and ignored. The vendor-specific bits 7-6 of the control byte
of MOVE MEDIUM and EXCHANGE MEDIUM (mtx's "eepos", extend/retract a mail
slot tray) are accepted and ignored too: our mail slots have no tray.

Errors of a move carry the field pointer of the address at fault
(transport: byte 2, source: byte 4, destination: byte 6, second
destination: byte 8; POSITION TO ELEMENT's destination: byte 4).
"""

from __future__ import annotations

from typing import ClassVar

from construct import BitsInteger, BitStruct, Flag, Int8ub, Int16ub, Padding, Struct

from devemu.changer.element_status import ReadElementStatusRequest, encode_element_status
from devemu.changer.elements import Element, ElementType
from devemu.changer.library import Library, MoveError
from devemu.changer.pages import changer_mode_pages
from devemu.scsi.command import Command
from devemu.scsi.device import ScsiDevice
from devemu.scsi.identity import Identity
from devemu.scsi.inquiry import VERSION_SMC3
from devemu.scsi.mode_pages import ModePage
from devemu.scsi.sense import (
    IMPORT_OR_EXPORT_ELEMENT_ACCESSED,
    INVALID_ELEMENT_ADDRESS,
    INVALID_FIELD_IN_CDB,
    SenseError,
    cdb_field,
)
from devemu.scsi.spc import SPC_COMMANDS
from devemu.scsi.table import CommandSpec, CommandTable

PERIPHERAL_TYPE_MEDIUM_CHANGER = 0x08

INITIALIZE_ELEMENT_STATUS = 0x07
PREVENT_ALLOW_MEDIUM_REMOVAL = 0x1E
POSITION_TO_ELEMENT = 0x2B
INITIALIZE_ELEMENT_STATUS_WITH_RANGE = 0x37
MOVE_MEDIUM = 0xA5
EXCHANGE_MEDIUM = 0xA6
READ_ELEMENT_STATUS = 0xB8

#: SMC-3 6.6 table 19: MOVE MEDIUM.
MoveMediumCdb = Struct(
    "opcode" / Int8ub,
    Padding(1),
    "transport" / Int16ub,
    "source" / Int16ub,
    "destination" / Int16ub,
    Padding(2),
    "byte10" / BitStruct(Padding(7), "invert" / Flag),
    "control" / Int8ub,
)

#: SMC-3 6.3 table 13: EXCHANGE MEDIUM.
ExchangeMediumCdb = Struct(
    "opcode" / Int8ub,
    Padding(1),
    "transport" / Int16ub,
    "source" / Int16ub,
    "first_destination" / Int16ub,
    "second_destination" / Int16ub,
    "byte10" / BitStruct(Padding(6), "inv1" / Flag, "inv2" / Flag),
    "control" / Int8ub,
)

#: SMC-3 6.8 table 23: POSITION TO ELEMENT.
PositionToElementCdb = Struct(
    "opcode" / Int8ub,
    Padding(1),
    "transport" / Int16ub,
    "destination" / Int16ub,
    Padding(2),
    "byte8" / BitStruct(Padding(7), "invert" / Flag),
    "control" / Int8ub,
)

#: SMC-3 6.5 table 16: INITIALIZE ELEMENT STATUS WITH RANGE.
InitializeWithRangeCdb = Struct(
    "opcode" / Int8ub,
    "byte1" / BitStruct("obsolete_lun" / BitsInteger(3), Padding(3), "fast" / Flag, "range" / Flag),
    "starting_address" / Int16ub,
    Padding(2),
    "number_of_elements" / Int16ub,
    Padding(1),
    "control" / Int8ub,
)

#: Field pointers (CDB byte) of the addresses a move names.
_ROLE_BYTE = {"transport": 2, "source": 4, "destination": 6, "second": 8, "element": 4}


def _raise_move_error(err: MoveError) -> None:
    field = cdb_field(_ROLE_BYTE[err.role]) if err.role is not None else None
    raise SenseError(err.code, field=field) from None


def initialize_element_status(device: MediumChanger, cmd: Command) -> None:
    """INITIALIZE ELEMENT STATUS, SMC-3 6.4: check every element against the files."""
    device.library.rescan()


def initialize_element_status_with_range(device: MediumChanger, cmd: Command) -> None:
    """INITIALIZE ELEMENT STATUS WITH RANGE, SMC-3 6.5.

    With RANGE zero every element is checked; with RANGE one, NUMBER OF
    ELEMENTS elements from STARTING ELEMENT ADDRESS on, which must be an
    element's address.
    """
    f = InitializeWithRangeCdb.parse(cmd.cdb[:10])
    if not f.byte1.range:
        device.library.rescan()
        return
    if device.library.layout.element(f.starting_address) is None:
        raise SenseError(INVALID_ELEMENT_ADDRESS, field=cdb_field(2))
    device.library.rescan(f.starting_address, f.number_of_elements)


def prevent_allow_medium_removal(device: MediumChanger, cmd: Command) -> None:
    """PREVENT ALLOW MEDIUM REMOVAL, SMC-3 6.13: lock or unlock the mail slots.

    PREVENT 00b allows and 01b prevents removal through the
    import/export elements; 10b and 11b are not defined for a changer.
    """
    prevent = cmd.cdb[4] & 0x03
    if prevent > 1:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(4, 1))
    device.library.locked = prevent == 1


def position_to_element(device: MediumChanger, cmd: Command) -> None:
    """POSITION TO ELEMENT, SMC-3 6.8: nothing moves, but the addresses are checked."""
    f = PositionToElementCdb.parse(cmd.cdb[:10])
    if f.byte8.invert:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(8, 0))
    try:
        device.library.check_transport(f.transport)
        device.library.element(f.destination, "element")
    except MoveError as err:
        _raise_move_error(err)


def move_medium(device: MediumChanger, cmd: Command) -> None:
    """MOVE MEDIUM, SMC-3 6.6 (the robot is fast: the move is done when GOOD returns)."""
    f = MoveMediumCdb.parse(cmd.cdb[:12])
    if f.byte10.invert:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(10, 0))
    try:
        device.library.check_transport(f.transport)
        device.library.move(f.source, f.destination)
    except MoveError as err:
        _raise_move_error(err)


def exchange_medium(device: MediumChanger, cmd: Command) -> None:
    """EXCHANGE MEDIUM, SMC-3 6.3: source to first destination, its medium to the second."""
    f = ExchangeMediumCdb.parse(cmd.cdb[:12])
    if f.byte10.inv1:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(10, 1))
    if f.byte10.inv2:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(10, 0))
    try:
        device.library.check_transport(f.transport)
        device.library.exchange(f.source, f.first_destination, f.second_destination)
    except MoveError as err:
        _raise_move_error(err)


def read_element_status(device: MediumChanger, cmd: Command) -> int:
    """READ ELEMENT STATUS, SMC-3 6.11.

    Reports up to NUMBER OF ELEMENTS elements of the requested type (or
    of every type, ELEMENT TYPE CODE 0) whose address is at least the
    starting element address, in ascending address order. A starting
    address above every element of the type is INVALID ELEMENT ADDRESS
    (mtx walks the library that way and stops there). CURDATA needs no
    motion here, so it changes nothing.
    """
    req = ReadElementStatusRequest.parse(cmd.cdb)
    if req.element_type > ElementType.DATA_TRANSFER:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 3))
    wanted = ElementType(req.element_type)
    states = [
        s
        for s in device.library.element_states()
        if s.element.address >= req.starting_address
        and (wanted is ElementType.ALL or s.element.type is wanted)
    ]
    if not states:
        raise SenseError(INVALID_ELEMENT_ADDRESS, field=cdb_field(2))
    first = states[0].element.address
    payload = encode_element_status(
        states[: req.number_of_elements],
        voltag=req.voltag,
        dvcid=req.dvcid,
        identifier_length=device.library.identifier_length,
        first_address=first,
    )
    return cmd.data_in(payload, req.allocation_length)


def may_replay(cmd: Command) -> bool:
    """Replay policy after a daemon restart: everything but the robot's motions.

    A MOVE MEDIUM or EXCHANGE MEDIUM found half-done may already have
    moved the cartridge; running it again would fail or move it twice.
    Every other changer command reads state or is idempotent.
    """
    return cmd.opcode not in (MOVE_MEDIUM, EXCHANGE_MEDIUM)


#: Bits 7-5 of byte 1: the obsolete LUN field, tolerated (see the module text).
_LUN = 0xE0
#: Vendor-specific bits of the control byte (SAM-5 5.2), tolerated for mtx.
_VS = 0xC0

CHANGER_COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "INITIALIZE ELEMENT STATUS",
        bytes([INITIALIZE_ELEMENT_STATUS, _LUN, 0, 0, 0, 0]),
        initialize_element_status,
        timeout=300,
    ),
    CommandSpec(
        "PREVENT ALLOW MEDIUM REMOVAL",
        bytes([PREVENT_ALLOW_MEDIUM_REMOVAL, _LUN, 0, 0, 0x03, 0]),
        prevent_allow_medium_removal,
    ),
    CommandSpec(
        "POSITION TO ELEMENT",
        bytes([POSITION_TO_ELEMENT, _LUN, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0x01, 0]),
        position_to_element,
        timeout=60,
    ),
    CommandSpec(
        "INITIALIZE ELEMENT STATUS WITH RANGE",
        bytes(
            [INITIALIZE_ELEMENT_STATUS_WITH_RANGE, _LUN | 0x03, 0xFF, 0xFF, 0, 0, 0xFF, 0xFF, 0, 0]
        ),
        initialize_element_status_with_range,
        timeout=300,
    ),
    CommandSpec(
        "MOVE MEDIUM",
        bytes([MOVE_MEDIUM, _LUN, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0x01, _VS]),
        move_medium,
        timeout=300,
    ),
    CommandSpec(
        "EXCHANGE MEDIUM",
        bytes([EXCHANGE_MEDIUM, _LUN, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x03, _VS]),
        exchange_medium,
        timeout=300,
    ),
    CommandSpec(
        "READ ELEMENT STATUS",
        bytes([READ_ELEMENT_STATUS, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x03, 0xFF, 0xFF, 0xFF, 0, 0]),
        read_element_status,
        timeout=120,
    ),
)


class MediumChanger(ScsiDevice):
    """The medium changer logical unit of one :class:`Library`."""

    peripheral_type: ClassVar[int] = PERIPHERAL_TYPE_MEDIUM_CHANGER
    removable: ClassVar[bool] = True
    version_descriptors: ClassVar[tuple[int, ...]] = (VERSION_SMC3,)
    commands: ClassVar[CommandTable] = CommandTable(SPC_COMMANDS, CHANGER_COMMANDS)

    def __init__(self, identity: Identity, library: Library) -> None:
        self.library = library
        super().__init__(identity)

    def make_mode_pages(self) -> list[ModePage]:
        return changer_mode_pages(self.library.layout)

    # --- the operator (control socket) ---------------------------------------------

    def import_cartridge(self, barcode: str) -> Element:
        """The operator puts ``barcode`` into a mail slot (SMC-3 5.3: UA 0x28/0x01)."""
        element = self.library.operator_import(barcode)
        self.unit_attentions.post(IMPORT_OR_EXPORT_ELEMENT_ACCESSED)
        return element

    def export_cartridge(self, element: Element) -> str:
        """The operator takes the cartridge in ``element`` out (UA 0x28/0x01)."""
        barcode = self.library.operator_export(element)
        self.unit_attentions.post(IMPORT_OR_EXPORT_ELEMENT_ACCESSED)
        return barcode
