"""The logical unit: one dispatcher shared by every device type.

Theory of operation
-------------------
A device type is a subclass of :class:`ScsiDevice` with a class-level
:class:`~devemu.scsi.table.CommandTable` (the SPC commands plus its own)
and a few hooks: its INQUIRY peripheral type, its VPD pages, its mode
pages, its log pages, and a readiness check. :meth:`ScsiDevice.execute`
is the whole per-command procedure (SAM-5 5.1) and the only place that
turns a :class:`~devemu.scsi.sense.SenseError` into CHECK CONDITION:

1. look the opcode (and service action) up in the table; absent means
   ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE (SPC-5 4.2.5.1);
2. report a pending unit attention unless the command is one that
   bypasses it (INQUIRY, REPORT LUNS, REQUEST SENSE; SPC-5 5.14);
3. refuse a CDB shorter than the command or with any bit set that the
   command's usage data does not allow (INVALID FIELD IN CDB with the
   field pointer, SPC-5 4.4.2.4.2), the control byte's NACA included;
4. answer RESERVATION CONFLICT when a reservation held by another I_T
   nexus forbids the command (SPC-5 5.13);
5. run the readiness check for commands that need a medium;
6. call the handler; a SenseError becomes CHECK CONDITION with sense in
   the format the control mode page asks for; any other exception is our
   bug: HARDWARE ERROR / INTERNAL TARGET FAILURE and a log line, and the
   device goes on serving.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ClassVar

from devemu.scsi.command import Command, Result, Status
from devemu.scsi.identity import Identity
from devemu.scsi.mode_pages import ModePage, ModePageSet
from devemu.scsi.sense import (
    INTERNAL_TARGET_FAILURE,
    INVALID_COMMAND_OPERATION_CODE,
    INVALID_FIELD_IN_CDB,
    POWER_ON_RESET_OR_BUS_DEVICE_RESET,
    SenseError,
    cdb_field,
)
from devemu.scsi.table import CommandSpec, CommandTable, service_action_of
from devemu.scsi.unit_attention import UnitAttentionQueue

log = logging.getLogger(__name__)

_GOOD = Result()
_RESERVATION_CONFLICT = Result(Status.RESERVATION_CONFLICT)
_INTERNAL_FAILURE_SENSE = SenseError(INTERNAL_TARGET_FAILURE).sense_bytes()

#: A VPD page producer: returns the page bytes, header included (SPC-5 7.7.1).
VpdProducer = Callable[[], bytes]
#: A log page producer: returns the page bytes, header included (SPC-5 7.3.1).
LogProducer = Callable[[], bytes]


class ScsiDevice:
    """Base class of every emulated logical unit."""

    #: Peripheral device type, SPC-5 6.7.2 table 156.
    peripheral_type: ClassVar[int] = 0x00
    #: The RMB bit of standard INQUIRY data.
    removable: ClassVar[bool] = False
    #: The command table of this device type.
    commands: ClassVar[CommandTable] = CommandTable()

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.unit_attentions = UnitAttentionQueue(POWER_ON_RESET_OR_BUS_DEVICE_RESET)
        self.mode_pages = ModePageSet(self.make_mode_pages())
        self.log = logging.getLogger(f"devemu.{type(self).__name__.lower()}.{identity.serial}")

    # --- hooks a device type overrides -------------------------------------------

    def make_mode_pages(self) -> list[ModePage]:
        """The mode pages of this device type (SPC-5 7.5), built once."""
        return []

    def vpd_pages(self) -> dict[int, VpdProducer]:
        """VPD pages beyond the SPC ones (0x00, 0x80, 0x83), by page code."""
        return {}

    def log_pages(self) -> dict[int, LogProducer]:
        """Log pages beyond the supported pages list (0x00), by page code."""
        return {}

    def check_ready(self) -> None:
        """Raise NOT READY (SPC-5 4.4.8) when the medium cannot be accessed."""

    def reservation_conflict(self, cmd: Command, spec: CommandSpec) -> bool:
        """True when a reservation forbids ``cmd`` from its nexus (SPC-5 5.13)."""
        return False

    @property
    def descriptor_sense(self) -> bool:
        """D_SENSE of the control mode page (SPC-5 7.5.8): descriptor format sense."""
        control = self.mode_pages.get(0x0A)
        return control is not None and bool(control.current[0] & 0x04)

    # --- the dispatcher -------------------------------------------------------------

    def execute(self, cmd: Command) -> Result:
        """Run one command to completion; never raises (SAM-5 5.1)."""
        cdb = cmd.cdb
        try:
            spec = self._resolve(cdb)
            if spec.blocked_by_unit_attention:
                self._report_unit_attention()
            if len(cdb) < spec.length:
                raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(0))
            bad = spec.first_reserved_bit(cdb)
            if bad is not None:
                raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(*bad))
            if spec.conflicts and self.reservation_conflict(cmd, spec):
                return _RESERVATION_CONFLICT
            if spec.needs_medium:
                self.check_ready()
            answer = spec.handler(self, cmd)
        except SenseError as err:
            return Result(
                Status.CHECK_CONDITION,
                err.sense_bytes(descriptor=self.descriptor_sense),
                err.transferred,
            )
        except Exception:
            log.exception("internal error in %s handling CDB %s", type(self).__name__, cdb.hex())
            return Result(Status.CHECK_CONDITION, _INTERNAL_FAILURE_SENSE)
        if answer is None:
            return _GOOD
        if isinstance(answer, int):
            return Result(Status.GOOD, b"", answer)
        return answer

    def _report_unit_attention(self) -> None:
        """Raise the oldest pending unit attention, if any (SPC-5 5.14)."""
        code = self.unit_attentions.pop()
        if code is not None:
            raise SenseError(code)

    def _resolve(self, cdb: bytes) -> CommandSpec:
        entry = self.commands.lookup_opcode(cdb[0]) if cdb else None
        if entry is None:
            self._report_unit_attention()
            raise SenseError(INVALID_COMMAND_OPERATION_CODE, field=cdb_field(0))
        if isinstance(entry, dict):
            sa = service_action_of(cdb)
            spec = entry.get(sa) if sa is not None else None
            if spec is None:
                self._report_unit_attention()
                byte = 8 if cdb[0] == 0x7F else 1
                raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(byte, 4 if byte == 1 else 7))
            return spec
        return entry
