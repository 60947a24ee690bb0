"""The library's door, opened and closed by the operator: fault injection for a changer.

``devemu fault LIBRARY door-open`` (the changer's ``fault`` control op,
:func:`fault_op`) opens the library's door; ``devemu fault LIBRARY clear``
closes it. While it is open the robot may not move (an operator's hands
are in the library):

- TEST UNIT READY, MOVE MEDIUM, EXCHANGE MEDIUM, POSITION TO ELEMENT and
  both INITIALIZE ELEMENT STATUS commands end CHECK CONDITION, NOT READY,
  LOGICAL UNIT NOT READY, MANUAL INTERVENTION REQUIRED (04h/03h: SPC-5
  4.4.8, the logical unit is not ready until an operator acts; SMC-3 6.6
  and 6.3 make a move that cannot be done a CHECK CONDITION), or the
  code the library's personality uses for it
  (:mod:`devemu.changer.refusals`), after any unit attention waiting
  (SAM-5 5.14);
- TapeAlert flag 10h (Library Door) is set while it is open
  (:mod:`devemu.changer.tapealert`);
- READ ELEMENT STATUS, INQUIRY, MODE SENSE and the others answer from
  what the library last knew (SMC-3 6.11: element status without the
  robot scanning);
- closing the door posts NOT READY TO READY CHANGE, MEDIUM MAY HAVE
  CHANGED (28h/00h, SPC-5 5.14 and SMC-3 5.3: the inventory may have
  changed while it was open) and, for a library with mail slots, IMPORT
  OR EXPORT ELEMENT ACCESSED (28h/01h, SMC-3 5.3: the operator could reach
  them).

No cost while the door is closed: the changer's ``execute`` is its
class's; opening makes :meth:`MediumChanger.execute_door_open` the
instance's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devemu.changer.opcodes import Opcode
from devemu.control_protocol import DeclaredOp, control_op
from devemu.scsi.opcodes import Opcode as SpcOpcode
from devemu.tape.faults import CLEAR, FaultError

if TYPE_CHECKING:
    from devemu.changer.device import MediumChanger

#: The changer's fault kind (and CLEAR, which closes the door).
DOOR_OPEN = "door-open"

#: The commands that need the robot: refused while the door is open.
ROBOT_COMMANDS = frozenset(
    {
        SpcOpcode.TEST_UNIT_READY,
        Opcode.MOVE_MEDIUM,
        Opcode.EXCHANGE_MEDIUM,
        Opcode.POSITION_TO_ELEMENT,
        Opcode.INITIALIZE_ELEMENT_STATUS,
        Opcode.INITIALIZE_ELEMENT_STATUS_WITH_RANGE,
    }
)


def listing(changer: MediumChanger) -> list[dict[str, Any]]:
    """The faults set on the changer, for ``devemu status``."""
    return [{"kind": DOOR_OPEN}] if changer.door_open else []


def fault_op(name: str, changer: MediumChanger) -> DeclaredOp:
    """The ``fault`` control op of changer ``name``: ``door-open`` or ``clear``."""

    @control_op(kind=str, record=int, bytes=int)
    def fault(args: dict[str, Any]) -> dict[str, Any]:
        kind = args.get("kind")
        if kind not in (DOOR_OPEN, CLEAR):
            raise FaultError(
                f"{name}: fault: a library's faults are {DOOR_OPEN} and {CLEAR}, not {kind!r}"
            )
        if "record" in args or "bytes" in args:
            raise FaultError(f"{name}: fault: {kind} takes neither a record nor a byte count")
        changer.set_door(kind == DOOR_OPEN)
        return {"faults": listing(changer)}

    return fault
