"""Reservations of a logical unit: RESERVE/RELEASE (SPC-2 7.21, 7.13) and their rules.

:class:`Reservations` holds both kinds a logical unit can have: the SPC-2
reservation of RESERVE(6)/(10), held by one I_T nexus, and the persistent
reservations of :mod:`devemu.scsi.persistent_reservations`. Its
:meth:`~Reservations.conflict` is what the dispatcher asks before running
any command whose table entry says it can conflict (SPC-5 5.13.1):

- while another nexus holds an SPC-2 reservation, every such command
  conflicts, PERSISTENT RESERVE IN/OUT included (SPC-5 5.13.3); RELEASE
  from a non-holder succeeds without effect (SPC-2 7.13.1);
- while any persistent registration exists, RESERVE and RELEASE conflict
  (SPC-5 5.13.3);
- otherwise the persistent reservation decides from the command's
  :class:`~devemu.scsi.table.Conflict` fact: RESERVE-only commands pass,
  the reading commands pass a write exclusive reservation, the rest
  conflict.

RESERVE(6)/(10) with third-party or extent options are not supported:
those bits are outside the usage data, so the dispatcher refuses them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from construct import BitsInteger, BitStruct, Bytes, Flag, Int8ub, Int16ub, Struct

from devemu.scsi.command import Command
from devemu.scsi.opcodes import Opcode
from devemu.scsi.persistent_reservations import PersistentReservations
from devemu.scsi.table import Access, CommandSpec, Conflict, Handler

if TYPE_CHECKING:
    from devemu.scsi.device import ScsiDevice


#: SPC-2 7.21 table 111 / 7.13 table 85: RESERVE(6) and RELEASE(6) CDBs
#: (third-party and extent reservations are obsolete; none supported).
ReserveRelease6 = Struct("opcode" / Int8ub, "obsolete" / Bytes(4), "control" / Int8ub)

#: SPC-2 7.22 table 112 / 7.14 table 86: RESERVE(10) and RELEASE(10) CDBs.
ReserveRelease10 = Struct(
    "opcode" / Int8ub,
    "flags"
    / BitStruct(
        "reserved" / BitsInteger(3),
        "third_party" / Flag,
        "reserved2" / BitsInteger(2),
        "long_id" / Flag,
        "obsolete" / Flag,
    ),
    "obsolete" / Int8ub,
    "third_party_device_id" / Int8ub,
    "reserved" / Bytes(3),
    "parameter_list_length" / Int16ub,
    "control" / Int8ub,
)

#: Third-party reservations (SPC-2 7.22.3) are not supported.
_THIRD_PARTY = frozenset(
    {"flags.third_party", "flags.long_id", "third_party_device_id", "parameter_list_length"}
)


class Reservations:
    """The SPC-2 reservation holder and the persistent reservation state."""

    __slots__ = ("holder", "persistent")

    def __init__(self, path: Path | None = None) -> None:
        #: The I_T nexus holding the SPC-2 reservation, or None.
        self.holder: str | None = None
        self.persistent = PersistentReservations(path)

    def set_file(self, path: Path | None) -> None:
        self.persistent.set_file(path)

    def conflict(self, cmd: Command, spec: CommandSpec) -> bool:
        """SPC-5 5.13.1 and 5.13.3: True when ``cmd`` must end in RESERVATION CONFLICT."""
        nexus = cmd.nexus
        handler = spec.handler
        holder = self.holder
        if holder is not None and holder != nexus:
            return handler is not release
        if handler is reserve or handler is release:
            return bool(self.persistent.registrations)
        if spec.conflict is Conflict.RESERVE:
            return False
        return self.persistent.conflict(nexus, spec)


def reserve(device: ScsiDevice, cmd: Command) -> None:
    """RESERVE(6) / RESERVE(10), SPC-2 7.21 / 7.22: reserve the logical unit."""
    device.reservations.holder = cmd.nexus


def release(device: ScsiDevice, cmd: Command) -> None:
    """RELEASE(6) / RELEASE(10), SPC-2 7.13 / 7.14: release it if this nexus holds it."""
    if device.reservations.holder == cmd.nexus:
        device.reservations.holder = None


def _spec(name: str, opcode: int, handler: Handler) -> CommandSpec:
    ten = opcode in (Opcode.RESERVE_10, Opcode.RELEASE_10)
    return CommandSpec(
        name,
        opcode,
        ReserveRelease10 if ten else ReserveRelease6,
        handler,
        unsupported=_THIRD_PARTY if ten else frozenset(),
        access=Access.CONTROL,
        idempotent=True,
    )


RESERVATION_COMMANDS: tuple[CommandSpec, ...] = (
    _spec("RESERVE(6)", Opcode.RESERVE_6, reserve),
    _spec("RELEASE(6)", Opcode.RELEASE_6, release),
    _spec("RESERVE(10)", Opcode.RESERVE_10, reserve),
    _spec("RELEASE(10)", Opcode.RELEASE_10, release),
)
