"""The SMC-3 commands of the medium changer: handlers and the command table.

Each handler takes the CDB fields its table entry names (decoded from the
declarations in :mod:`devemu.changer.cdbs`) and acts on the changer's
:class:`~devemu.changer.library.Library`; a failed move becomes the sense
code the library names, with the field pointer of the address at fault
(see :mod:`devemu.changer.device`). The robot's motions (MOVE MEDIUM,
EXCHANGE MEDIUM) are the only commands a restarted daemon does not run
again: one found half done may already have moved the cartridge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devemu.changer import cdbs
from devemu.changer.element_status import encode_element_status
from devemu.changer.elements import ElementType
from devemu.changer.library import MoveError
from devemu.changer.opcodes import Opcode
from devemu.scsi.command import Command
from devemu.scsi.sense import INVALID_ELEMENT_ADDRESS, INVALID_FIELD_IN_CDB, SenseError, cdb_field
from devemu.scsi.table import Access, CommandSpec, Data

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


def initialize_element_status_with_range(
    device: MediumChanger,
    cmd: Command,
    range: int,
    starting_address: int,
    number_of_elements: int,
) -> None:
    """INITIALIZE ELEMENT STATUS WITH RANGE, SMC-3 6.5.

    With RANGE zero every element is checked; with RANGE one, NUMBER OF
    ELEMENTS elements from STARTING ELEMENT ADDRESS on, which must be an
    element's address. FAST is accepted: every check is fast here.
    """
    if not range:
        device.library.rescan()
        return
    if device.library.layout.element(starting_address) is None:
        raise SenseError(INVALID_ELEMENT_ADDRESS, field=cdb_field(2))
    device.library.rescan(starting_address, number_of_elements)


def prevent_allow_medium_removal(device: MediumChanger, cmd: Command, prevent: int) -> None:
    """PREVENT ALLOW MEDIUM REMOVAL, SMC-3 6.13: lock or unlock the mail slots.

    PREVENT 00b allows and 01b prevents removal through the
    import/export elements; 10b and 11b are not defined for a changer.
    """
    if prevent > 1:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(4, 1))
    device.library.locked = prevent == 1


def position_to_element(
    device: MediumChanger, cmd: Command, transport: int, destination: int, invert: int
) -> None:
    """POSITION TO ELEMENT, SMC-3 6.8: nothing moves, but the addresses are checked."""
    if invert:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(8, 0))
    try:
        device.library.check_transport(transport)
        device.library.element(destination, "element")
    except MoveError as err:
        _raise_move_error(err)


def move_medium(
    device: MediumChanger,
    cmd: Command,
    transport: int,
    source: int,
    destination: int,
    invert: int,
) -> None:
    """MOVE MEDIUM, SMC-3 6.6 (the robot is fast: the move is done when GOOD returns)."""
    if invert:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(10, 0))
    try:
        device.library.check_transport(transport)
        device.library.move(source, destination)
    except MoveError as err:
        _raise_move_error(err)


def exchange_medium(
    device: MediumChanger,
    cmd: Command,
    transport: int,
    source: int,
    first_destination: int,
    second_destination: int,
    inv1: int,
    inv2: int,
) -> None:
    """EXCHANGE MEDIUM, SMC-3 6.3: source to first destination, its medium to the second."""
    if inv1:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(10, 1))
    if inv2:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(10, 0))
    try:
        device.library.check_transport(transport)
        device.library.exchange(source, first_destination, second_destination)
    except MoveError as err:
        _raise_move_error(err)


def read_element_status(
    device: MediumChanger,
    cmd: Command,
    voltag: int,
    element_type: int,
    starting_address: int,
    number_of_elements: int,
    dvcid: int,
    allocation_length: int,
) -> int:
    """READ ELEMENT STATUS, SMC-3 6.11.

    Reports up to NUMBER OF ELEMENTS elements of the requested type (or
    of every type, ELEMENT TYPE CODE 0) whose address is at least the
    starting element address, in ascending address order. A starting
    address above every element of the type is INVALID ELEMENT ADDRESS
    (mtx walks the library that way and stops there). CURDATA needs no
    motion here, so it changes nothing.
    """
    if element_type > ElementType.DATA_TRANSFER:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 3))
    wanted = ElementType(element_type)
    states = [
        s
        for s in device.library.element_states()
        if s.element.address >= starting_address
        and (wanted is ElementType.ALL or s.element.type is wanted)
    ]
    if not states:
        raise SenseError(INVALID_ELEMENT_ADDRESS, field=cdb_field(2))
    first = states[0].element.address
    payload = encode_element_status(
        states[:number_of_elements],
        voltag=bool(voltag),
        dvcid=bool(dvcid),
        identifier_length=device.library.identifier_length,
        first_address=first,
    )
    return cmd.data_in(payload, allocation_length)


_O = Opcode

CHANGER_COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "INITIALIZE ELEMENT STATUS",
        _O.INITIALIZE_ELEMENT_STATUS,
        cdbs.InitializeElementStatusCdb,
        initialize_element_status,
        access=Access.CONTROL,
        idempotent=True,
        timeout=300,
    ),
    CommandSpec(
        "PREVENT ALLOW MEDIUM REMOVAL",
        _O.PREVENT_ALLOW_MEDIUM_REMOVAL,
        cdbs.PreventAllowMediumRemovalCdb,
        prevent_allow_medium_removal,
        fields=("prevent.prevent",),
        access=Access.CONTROL,
        idempotent=True,
    ),
    CommandSpec(
        "POSITION TO ELEMENT",
        _O.POSITION_TO_ELEMENT,
        cdbs.PositionToElementCdb,
        position_to_element,
        fields=("transport", "destination", "byte8.invert"),
        access=Access.CONTROL,
        idempotent=True,
        timeout=60,
    ),
    CommandSpec(
        "INITIALIZE ELEMENT STATUS WITH RANGE",
        _O.INITIALIZE_ELEMENT_STATUS_WITH_RANGE,
        cdbs.InitializeElementStatusWithRangeCdb,
        initialize_element_status_with_range,
        fields=("byte1.range", "starting_address", "number_of_elements"),
        access=Access.CONTROL,
        idempotent=True,
        timeout=300,
    ),
    CommandSpec(
        "MOVE MEDIUM",
        _O.MOVE_MEDIUM,
        cdbs.MoveMediumCdb,
        move_medium,
        fields=("transport", "source", "destination", "byte10.invert"),
        access=Access.CONTROL,
        idempotent=False,
        timeout=300,
    ),
    CommandSpec(
        "EXCHANGE MEDIUM",
        _O.EXCHANGE_MEDIUM,
        cdbs.ExchangeMediumCdb,
        exchange_medium,
        fields=(
            "transport",
            "source",
            "first_destination",
            "second_destination",
            "byte10.inv1",
            "byte10.inv2",
        ),
        access=Access.CONTROL,
        idempotent=False,
        timeout=300,
    ),
    CommandSpec(
        "READ ELEMENT STATUS",
        _O.READ_ELEMENT_STATUS,
        cdbs.ReadElementStatusCdb,
        read_element_status,
        fields=(
            "byte1.voltag",
            "byte1.element_type",
            "starting_address",
            "number_of_elements",
            "byte6.dvcid",
            "allocation_length",
        ),
        data=Data.IN,
        access=Access.READ,
        timeout=120,
    ),
)
