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
6. refuse a command that changes the medium while it is write protected
   (DATA PROTECT / WRITE PROTECTED, SBC-4 4.11, SSC-5 4.2.14);
7. call the handler with the CDB fields its entry names, decoded once; a
   SenseError becomes CHECK CONDITION with sense in the format the control
   mode page asks for; any other exception is our bug: HARDWARE ERROR /
   INTERNAL TARGET FAILURE and a log line, and the device goes on serving.

The fast path is this same procedure: when nothing is pending (no unit
attention, no reservation or registration, a ready medium, a CDB inside
its usage data) each check above is one comparison, and the handler is
called straight with its decoded fields. There is no second copy of the
dispatch anywhere: a device type adds commands to its table, never a
shortcut around it.

After a restart, a command found half done in the ring runs again only
when its entry says that is safe (:meth:`ScsiDevice.may_replay`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from devemu.scsi.answers import HARDWARE_ERROR, RESERVATION_CONFLICT
from devemu.scsi.block_descriptor import BlockDescriptor
from devemu.scsi.command import GOOD, GOOD_BY_LENGTH, Command, Deferred, Result, Status, good
from devemu.scsi.identity import Identity
from devemu.scsi.inquiry import SPC5_CLAIMS, Claims
from devemu.scsi.mode_pages import CONTROL_MODE_PAGE, ModePage, ModePageSet, control_mode_page
from devemu.scsi.reservations import Reservations
from devemu.scsi.sense import (
    INVALID_COMMAND_OPERATION_CODE,
    INVALID_FIELD_IN_CDB,
    POWER_ON_RESET_OR_BUS_DEVICE_RESET,
    WRITE_PROTECTED,
    SenseCode,
    SenseError,
    cdb_field,
)
from devemu.scsi.table import Access, CommandSpec, CommandTable, Conflict, service_action_of
from devemu.scsi.unit_attention import UnitAttentionQueue

log = logging.getLogger(__name__)

# Enum members looked up once: an attribute of an Enum class costs as much
# as the rest of a check on the per-command path.
_NEVER = Conflict.NEVER
_GOOD_BY_LENGTH = GOOD_BY_LENGTH
_WRITE = Access.WRITE

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
    #: The 3PC bit of standard INQUIRY data: a copy manager answers EXTENDED COPY.
    third_party_copy: ClassVar[bool] = False
    #: The command table of this device type.
    commands: ClassVar[CommandTable] = CommandTable()
    #: Version descriptors of standard INQUIRY data (SPC-5 6.7.2 table 160)
    #: for the standards of this device type, e.g. ``(VERSION_SBC4,)`` from
    #: :mod:`devemu.scsi.inquiry`, reported after those of :attr:`claims`.
    version_descriptors: ClassVar[tuple[int, ...]] = ()
    #: VERSION and the first version descriptors of standard INQUIRY data;
    #: a device may claim other standards than its type's default.
    claims: Claims = SPC5_CLAIMS
    #: After a restart, replay only commands that change nothing (a tape
    #: drive, whose every motion counts), not every idempotent one.
    replays_only_unchanging: ClassVar[bool] = False
    #: False while :meth:`check_ready` cannot raise (a started disk): the
    #: dispatcher then skips the call on the per-command path.
    may_be_not_ready: bool = True
    #: The medium refuses every command whose entry changes it
    #: (:attr:`Access.WRITE`) with DATA PROTECT / WRITE PROTECTED.
    write_protected: bool = False
    #: The device keeps state a logical unit reset clears
    #: (:meth:`logical_unit_reset`): the kernel is asked to pass resets on.
    hears_resets: ClassVar[bool] = False
    #: A device without block descriptors passes over one a MODE SELECT sends (of the
    #: right length) instead of refusing it; see :func:`devemu.scsi.mode_sense.mode_select`.
    passes_over_block_descriptor: ClassVar[bool] = False

    def __init__(self, identity: Identity, *, reservation_file: Path | None = None) -> None:
        self.identity = identity
        self.unit_attentions = UnitAttentionQueue(POWER_ON_RESET_OR_BUS_DEVICE_RESET)
        self.mode_pages = ModePageSet(self.make_mode_pages())
        if (CONTROL_MODE_PAGE, 0) not in self.mode_pages:
            self.mode_pages.add(control_mode_page())
        #: SPC-2 and persistent reservations (SPC-5 5.13); kept in
        #: ``reservation_file`` when one is given, else in memory.
        self.reservations = Reservations(reservation_file)
        #: I_T nexuses seen so far (empty through TCMU, which names none).
        self.seen_nexuses: set[str] = set()
        #: Unit attentions for one I_T nexus only (MODE PARAMETERS CHANGED,
        #: RESERVATIONS PREEMPTED, ...), reported after the shared ones.
        self.nexus_unit_attentions: dict[str, UnitAttentionQueue] = {}
        # Looked at by :meth:`execute` on every command, one attribute away.
        self._attentions = self.unit_attentions.pending
        self._persistent = self.reservations.persistent
        self._plain = self.commands.plain
        self.log = logging.getLogger(f"devemu.{type(self).__name__.lower()}.{identity.serial}")

    def set_reservation_file(self, path: Path | None) -> None:
        """Keep persistent reservations in ``path`` (loaded now if it exists)."""
        self.reservations.set_file(path)

    def post_unit_attention_to_others(self, code: SenseCode, nexus: str) -> None:
        """Post ``code`` for every known I_T nexus except ``nexus`` (SPC-5 5.14).

        Through TCMU there is one (unnamed) nexus, so nothing is posted.
        """
        for other in self.seen_nexuses:
            if other != nexus:
                self.nexus_unit_attentions.setdefault(other, UnitAttentionQueue()).post(code)

    def take_unit_attention(self, nexus: str = "") -> SenseCode | None:
        """Take the oldest unit attention for ``nexus``: shared ones first (SPC-5 5.14)."""
        code = self.unit_attentions.pop()
        if code is None and self.nexus_unit_attentions:
            queue = self.nexus_unit_attentions.get(nexus)
            if queue is not None:
                code = queue.pop()
        return code

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

    def block_descriptor(self) -> BlockDescriptor | None:
        """The mode parameter block descriptor (SPC-5 7.5.5), or None for none.

        MODE SENSE encodes it in the general form, or the short/long LBA form
        for a direct-access device (peripheral type 0).
        """
        return None

    def block_descriptor_changeable(self) -> BlockDescriptor:
        """Changeable mask of the block descriptor: a one bit per changeable bit."""
        return BlockDescriptor()

    def apply_block_descriptor(self, descriptor: BlockDescriptor) -> None:
        """Apply a block descriptor sent by MODE SELECT (SPC-5 6.11).

        Called after the mask check passed, with zero density code and zero
        number of blocks replaced by the current values ("no change"). May
        raise :class:`SenseError` to refuse a value the device cannot do.
        """

    def mode_medium_type(self) -> int:
        """MEDIUM TYPE of the mode parameter header (SPC-5 7.5.4)."""
        return 0

    def mode_device_specific_parameter(self) -> int:
        """DEVICE-SPECIFIC PARAMETER of the mode parameter header (SPC-5 7.5.4).

        SBC-4 6.5.1: WP and DPOFUA; SSC-5 8.3.3: WP, BUFFERED MODE and SPEED.
        """
        return 0

    def apply_mode_header(self, medium_type: int, device_specific_parameter: int) -> None:
        """Apply the header fields sent by MODE SELECT (SSC-5 buffered mode, speed)."""

    def diagnostic_pages(self) -> dict[int, Callable[[bytes], None]]:
        """Diagnostic pages SEND DIAGNOSTIC takes beyond 0x00 (SPC-5 6.42, 7.2), by page code.

        Each handler gets the page's parameter bytes (after the four-byte
        header) and may raise :class:`SenseError`.
        """
        return {}

    def self_test(self) -> None:
        """The default self-test of SEND DIAGNOSTIC (SPC-5 6.42); raise on failure."""

    def close(self) -> None:
        """Release what the device holds open (images, cartridges); called at shutdown."""

    def logical_unit_reset(self) -> None:
        """A LOGICAL UNIT RESET or a target reset reached the logical unit (SAM-5 7.7):
        drop the state a reset clears. The transport posts the unit attention."""

    def reset_log_parameters(self) -> None:
        """LOG SELECT with PCR: reset the cumulative log parameters (SPC-5 6.9)."""

    def log_page_sent(self, page_code: int, parameter_pointer: int, length: int) -> None:
        """LOG SENSE returned ``length`` bytes of page ``page_code`` from ``parameter_pointer``
        (SPC-5 6.8): a page whose parameters are cleared once read clears them here."""

    @property
    def descriptor_sense(self) -> bool:
        """D_SENSE of the control mode page (SPC-5 7.5.8): descriptor format sense."""
        control = self.mode_pages.get(0x0A)
        return control is not None and bool(control.current[0] & 0x04)

    # --- the dispatcher -------------------------------------------------------------

    def execute(self, cmd: Command) -> Result | Deferred:
        """Run one command to completion, or to :data:`DEFERRED` when its handler answers
        it later; never raises (SAM-5 5.1)."""
        cdb = cmd.cdb
        nexus = cmd.nexus
        if nexus:
            self.seen_nexuses.add(nexus)
        try:
            spec = self._plain.get(cdb[0]) if cdb else None
            if spec is None:
                spec = self._resolve(cdb, nexus)
            if (self._attentions or self.nexus_unit_attentions) and spec.blocked_by_unit_attention:
                self._report_unit_attention(nexus)
            if len(cdb) != len(spec.usage) or int.from_bytes(cdb, "big") & spec.cdb_mask:
                _check_cdb(cdb, spec)
            if spec.conflict is not _NEVER:
                persistent = self._persistent
                if (
                    self.reservations.holder is not None
                    or persistent.reservation is not None
                    or persistent.registrations
                ) and self.reservations.conflict(cmd, spec):
                    return RESERVATION_CONFLICT
            if spec.needs_medium and self.may_be_not_ready:
                self.check_ready()
            if spec.access is _WRITE and self.write_protected:
                raise SenseError(WRITE_PROTECTED)
            answer = spec.run(self, cmd)
        except SenseError as err:
            return self.check_condition(err)
        except Exception:
            log.exception("internal error in %s handling CDB %s", type(self).__name__, cdb.hex())
            return HARDWARE_ERROR
        if answer is None:
            return GOOD
        if type(answer) is int:
            return _GOOD_BY_LENGTH.get(answer) or good(answer)
        if isinstance(answer, int):
            return Result(Status.GOOD, b"", int(answer))
        return answer

    def check_condition(self, err: SenseError) -> Result:
        """CHECK CONDITION with the sense of ``err``, in the format the control mode page
        asks for (SPC-5 4.4): a handler's error, or a deferred command's."""
        return Result(
            Status.CHECK_CONDITION,
            err.sense_bytes(descriptor=self.descriptor_sense),
            err.transferred,
        )

    def may_replay(self, cmd: Command) -> bool:
        """May a command found half done after a restart run again?

        Yes when its entry says it is idempotent (a disk WRITE, a MODE
        SELECT); a device type whose every motion counts (a tape drive)
        sets :attr:`replays_only_unchanging` and replays only commands
        that change nothing. A CDB that names no command answers the same
        error every time, so it may run again.
        """
        spec = self.commands.spec_for(cmd.cdb)
        if spec is None:
            return bool(cmd.cdb)
        if self.replays_only_unchanging:
            return spec.access is Access.NONE
        return bool(spec.idempotent)

    def _report_unit_attention(self, nexus: str = "") -> None:
        """Raise the oldest pending unit attention, if any (SPC-5 5.14)."""
        code = self.take_unit_attention(nexus)
        if code is not None:
            raise SenseError(code)

    def _resolve(self, cdb: bytes, nexus: str = "") -> CommandSpec:
        entry = self.commands.lookup_opcode(cdb[0]) if cdb else None
        if entry is None:
            self._report_unit_attention(nexus)
            raise SenseError(INVALID_COMMAND_OPERATION_CODE, field=cdb_field(0))
        if isinstance(entry, dict):
            sa = service_action_of(cdb)
            spec = entry.get(sa) if sa is not None else None
            if spec is None:
                self._report_unit_attention(nexus)
                byte = 8 if cdb[0] == 0x7F else 1
                raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(byte, 4 if byte == 1 else 7))
            return spec
        return entry


def _check_cdb(cdb: bytes, spec: CommandSpec) -> None:
    """Refuse a CDB that is short or sets a bit outside its usage data (SPC-5 4.4.2.4.2).

    INVALID FIELD IN CDB with the field pointer; bytes past the command's
    length are not looked at.
    """
    if len(cdb) < len(spec.usage):
        # A variable-length CDB names its own length (SPC-5 4.2.3): point there.
        byte = 7 if cdb[0] == 0x7F and len(cdb) > 7 else 0
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(byte))
    bad = spec.first_reserved_bit(cdb)
    if bad is not None:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(*bad))
