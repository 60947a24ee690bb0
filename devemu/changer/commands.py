"""The SMC-3 commands of the medium changer: handlers and the command table.

Each handler parses its CDB (:mod:`devemu.changer.cdbs`) and acts on the
changer's :class:`~devemu.changer.library.Library`; a failed move becomes
the sense code the library names, with the field pointer of the address
at fault (see :mod:`devemu.changer.device`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devemu.changer.cdbs import (
    ExchangeMedium,
    InitializeElementStatusWithRange,
    MoveMedium,
    PositionToElement,
    PreventAllowMediumRemoval,
)
from devemu.changer.element_status import ReadElementStatusRequest, encode_element_status
from devemu.changer.elements import ElementType
from devemu.changer.library import MoveError
from devemu.changer.opcodes import Opcode
from devemu.scsi.command import Command
from devemu.scsi.sense import INVALID_ELEMENT_ADDRESS, INVALID_FIELD_IN_CDB, SenseError, cdb_field
from devemu.scsi.table import CommandSpec

if TYPE_CHECKING:
    from devemu.changer.device import MediumChanger

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
    f = InitializeElementStatusWithRange.parse(cmd.cdb[:10])
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
    prevent = PreventAllowMediumRemoval.parse(cmd.cdb[:6]).prevent.prevent
    if prevent > 1:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(4, 1))
    device.library.locked = prevent == 1


def position_to_element(device: MediumChanger, cmd: Command) -> None:
    """POSITION TO ELEMENT, SMC-3 6.8: nothing moves, but the addresses are checked."""
    f = PositionToElement.parse(cmd.cdb[:10])
    if f.byte8.invert:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(8, 0))
    try:
        device.library.check_transport(f.transport)
        device.library.element(f.destination, "element")
    except MoveError as err:
        _raise_move_error(err)


def move_medium(device: MediumChanger, cmd: Command) -> None:
    """MOVE MEDIUM, SMC-3 6.6 (the robot is fast: the move is done when GOOD returns)."""
    f = MoveMedium.parse(cmd.cdb[:12])
    if f.byte10.invert:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(10, 0))
    try:
        device.library.check_transport(f.transport)
        device.library.move(f.source, f.destination)
    except MoveError as err:
        _raise_move_error(err)


def exchange_medium(device: MediumChanger, cmd: Command) -> None:
    """EXCHANGE MEDIUM, SMC-3 6.3: source to first destination, its medium to the second."""
    f = ExchangeMedium.parse(cmd.cdb[:12])
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
    return cmd.opcode not in (Opcode.MOVE_MEDIUM, Opcode.EXCHANGE_MEDIUM)


#: Bits 7-5 of byte 1: the obsolete LUN field, tolerated (see the module text).
_LUN = 0xE0
#: Vendor-specific bits of the control byte (SAM-5 5.2), tolerated for mtx.
_VS = 0xC0

# fmt: off
CHANGER_COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "INITIALIZE ELEMENT STATUS",
        bytes([Opcode.INITIALIZE_ELEMENT_STATUS, _LUN, 0, 0, 0, 0]),
        initialize_element_status,
        timeout=300,
    ),
    CommandSpec(
        "PREVENT ALLOW MEDIUM REMOVAL",
        bytes([Opcode.PREVENT_ALLOW_MEDIUM_REMOVAL, _LUN, 0, 0, 0x03, 0]),
        prevent_allow_medium_removal,
    ),
    CommandSpec(
        "POSITION TO ELEMENT",
        bytes([Opcode.POSITION_TO_ELEMENT, _LUN, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0x01, 0]),
        position_to_element,
        timeout=60,
    ),
    CommandSpec(
        "INITIALIZE ELEMENT STATUS WITH RANGE",
        bytes([
            Opcode.INITIALIZE_ELEMENT_STATUS_WITH_RANGE, _LUN | 0x03,
            0xFF, 0xFF, 0, 0, 0xFF, 0xFF, 0, 0,
        ]),
        initialize_element_status_with_range,
        timeout=300,
    ),
    CommandSpec(
        "MOVE MEDIUM",
        bytes([Opcode.MOVE_MEDIUM, _LUN, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0x01, _VS]),
        move_medium,
        timeout=300,
    ),
    CommandSpec(
        "EXCHANGE MEDIUM",
        bytes([
            Opcode.EXCHANGE_MEDIUM, _LUN,
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x03, _VS,
        ]),
        exchange_medium,
        timeout=300,
    ),
    CommandSpec(
        "READ ELEMENT STATUS",
        bytes([
            Opcode.READ_ELEMENT_STATUS, 0xFF,
            0xFF, 0xFF, 0xFF, 0xFF, 0x03, 0xFF, 0xFF, 0xFF, 0, 0,
        ]),
        read_element_status,
        timeout=120,
    ),
)
# fmt: on
