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
- otherwise the persistent reservation decides.

RESERVE(6)/(10) with third-party or extent options are not supported:
those bits are outside the usage data, so the dispatcher refuses them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from devemu.scsi.command import Command
from devemu.scsi.persistent_reservations import (
    PERSISTENT_RESERVE_IN,
    PERSISTENT_RESERVE_OUT,
    PersistentReservations,
)
from devemu.scsi.table import CommandSpec

if TYPE_CHECKING:
    from devemu.scsi.device import ScsiDevice

RESERVE_6 = 0x16
RELEASE_6 = 0x17
RESERVE_10 = 0x56
RELEASE_10 = 0x57
_RESERVE_RELEASE = frozenset({RESERVE_6, RELEASE_6, RESERVE_10, RELEASE_10})
_RELEASE = frozenset({RELEASE_6, RELEASE_10})
_PERSISTENT = frozenset({PERSISTENT_RESERVE_IN, PERSISTENT_RESERVE_OUT})


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
        opcode = spec.opcode
        holder = self.holder
        if holder is not None and holder != nexus:
            return opcode not in _RELEASE
        if opcode in _RESERVE_RELEASE:
            return bool(self.persistent.registrations)
        if opcode in _PERSISTENT:
            return False
        return self.persistent.conflict(nexus, opcode)


def reserve(device: ScsiDevice, cmd: Command) -> None:
    """RESERVE(6) / RESERVE(10), SPC-2 7.21 / 7.22: reserve the logical unit."""
    device.reservations.holder = cmd.nexus


def release(device: ScsiDevice, cmd: Command) -> None:
    """RELEASE(6) / RELEASE(10), SPC-2 7.13 / 7.14: release it if this nexus holds it."""
    if device.reservations.holder == cmd.nexus:
        device.reservations.holder = None


RESERVATION_COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("RESERVE(6)", bytes([RESERVE_6, 0, 0, 0, 0, 0]), reserve),
    CommandSpec("RELEASE(6)", bytes([RELEASE_6, 0, 0, 0, 0, 0]), release),
    CommandSpec("RESERVE(10)", bytes([RESERVE_10]) + bytes(9), reserve),
    CommandSpec("RELEASE(10)", bytes([RELEASE_10]) + bytes(9), release),
)
