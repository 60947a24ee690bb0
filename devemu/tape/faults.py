"""Faults a tape drive can be told to have, to test how backup software copes.

Theory of operation
-------------------
``devemu fault DRIVE KIND`` (the ``fault`` control op, :func:`fault_op`)
sets a fault on a served drive; ``devemu status`` lists the faults set
(:meth:`DriveFaults.listing`) and ``devemu fault DRIVE clear`` ends them
all. Each kind makes the drive answer as a real drive with that condition
does; the sense codes are SPC-5 annex D's, the flags SSC-5 annex A's
(TapeAlert), and each is written once, in :mod:`devemu.scsi.sense` and
:mod:`devemu.tape.tapealert`:

==================  ===================================================================
kind                what the drive does while it is set
==================  ===================================================================
read-error N        a READ of logical object N of the current partition is a MEDIUM
                    ERROR, UNRECOVERED READ ERROR (11h/00h), with TapeAlert 03h (hard
                    error), 04h (media) and 05h (read failure): the drive's own path for
                    a cartridge file that refuses a read (SSC-5 4.2, error conditions)
write-error N       a WRITE of logical object N: MEDIUM ERROR, WRITE ERROR (0Ch/00h),
                    TapeAlert 03h, 04h and 06h (write failure); nothing is written there
early-warning N     a WRITE or WRITE FILEMARKS that leaves more than N bytes in the
                    partition ends CHECK CONDITION, NO SENSE, EOM=1, END-OF-PARTITION/
                    MEDIUM DETECTED (00h/02h), INFORMATION 0 (SSC-5 4.2.7, early warning:
                    the data is written, the host is warned)
end-of-medium N     a WRITE or WRITE FILEMARKS that would take the partition past N bytes
                    is refused: VOLUME OVERFLOW, EOM=1, END-OF-PARTITION/MEDIUM DETECTED
                    (0Dh/00h/02h), INFORMATION the whole residue, nothing written
                    (SSC-5 4.2.7, end of partition)
offline             every command that needs the medium, and LOAD UNLOAD, is NOT READY,
                    LOGICAL UNIT NOT READY, OFFLINE (04h/12h, SPC-5 4.4.8); INQUIRY,
                    REQUEST SENSE, LOG SENSE still answer
online              ends ``offline``: UNIT ATTENTION, NOT READY TO READY CHANGE (28h/00h,
                    SPC-5 5.14) when a cartridge is threaded
cleaning            TapeAlert 14h (clean now) is raised and stays active (log page 12h)
                    until the fault is cleared or a cleaning cartridge is loaded;
                    commands go on (SSC-5 annex A: the drive asks for cleaning through
                    TapeAlert)
load-failure        the cartridge in the drive cannot be threaded: a command that needs
                    the medium, and LOAD UNLOAD with LOAD=1, is a MEDIUM ERROR, MEDIA LOAD
                    OR EJECT FAILED (53h/00h) with TapeAlert 37h (loading failure); an
                    unload (LOAD=0, or a library's robot) still takes the cartridge out
==================  ===================================================================

A fault set on the drive stays until cleared, whichever cartridge is in
it; it lives in the daemon's memory only (a restarted daemon has none).
Several kinds may be set at once; setting a kind again replaces its N.

Cost: none while no fault is set. The drive's ``execute`` is its class's;
setting the first fault makes :meth:`TapeDrive.execute_faulted` the
instance's ``execute`` (the ring looks the method up once per batch of
commands), clearing the last deletes it. The media errors go through the
cartridge's own ``read_block`` and ``write_block``, replaced on the
cartridge object in the drive by ones that fail at record N with EIO,
so the drive's path for a cartridge that refuses a read or a write
(:meth:`TapeDrive.medium_error`) is the one that answers, partial fixed
transfers included.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from devemu.control_protocol import DeclaredOp, control_op
from devemu.errors import DevemuError
from devemu.scsi.command import Command, Result, Status
from devemu.scsi.sense import (
    END_OF_PARTITION_MEDIUM_DETECTED,
    LOGICAL_UNIT_NOT_READY_OFFLINE,
    MEDIUM_LOAD_OR_EJECT_FAILED_MEDIUM_ERROR,
    NOT_READY_TO_READY_CHANGE,
    VOLUME_OVERFLOW_END_OF_PARTITION,
    SenseError,
)
from devemu.tape.cartridge import Cartridge
from devemu.tape.opcodes import Opcode as SscOpcode
from devemu.tape.tapealert import TapeAlertFlag

if TYPE_CHECKING:
    from devemu.tape.drive import TapeDrive


class FaultError(DevemuError):
    """A fault request the drive refuses; the message says why."""


class DriveFaultKind(StrEnum):
    """The faults a drive can be told to have (see the module text)."""

    READ_ERROR = "read-error"
    WRITE_ERROR = "write-error"
    EARLY_WARNING = "early-warning"
    END_OF_MEDIUM = "end-of-medium"
    OFFLINE = "offline"
    ONLINE = "online"
    CLEANING = "cleaning"
    LOAD_FAILURE = "load-failure"


#: The word that ends every fault of a device.
CLEAR = "clear"
#: The kinds that need a record number, and those that need a byte count.
RECORD_KINDS = frozenset({DriveFaultKind.READ_ERROR, DriveFaultKind.WRITE_ERROR})
BYTES_KINDS = frozenset({DriveFaultKind.EARLY_WARNING, DriveFaultKind.END_OF_MEDIUM})

_WRITES = frozenset({SscOpcode.WRITE_6, SscOpcode.WRITE_FILEMARKS_6, SscOpcode.WRITE_FILEMARKS_16})
_LOAD_UNLOAD = SscOpcode.LOAD_UNLOAD
_LOAD_BIT = 0x01


def _count(cdb: bytes) -> int:
    """TRANSFER LENGTH or FILEMARK COUNT of a write CDB (as :mod:`devemu.tape.cdbs` has them)."""
    if cdb[0] == SscOpcode.WRITE_FILEMARKS_16:
        return int.from_bytes(cdb[12:15], "big")
    return int.from_bytes(cdb[2:5], "big")


def _injected(record: int) -> OSError:
    return OSError(errno.EIO, f"injected media error at record {record}")


@dataclass(slots=True)
class DriveFaults:
    """The faults set on one drive: a record or a byte count per kind, or a flag."""

    read_error: int | None = None
    write_error: int | None = None
    early_warning: int | None = None
    end_of_medium: int | None = None
    offline: bool = False
    cleaning: bool = False
    load_failure: bool = False

    def __bool__(self) -> bool:
        return bool(self.listing())

    def listing(self) -> list[dict[str, Any]]:
        """The faults set, for ``devemu status``: ``{"kind": ..., "record"|"bytes": N}``."""
        out: list[dict[str, Any]] = []
        for kind, record in (
            (DriveFaultKind.READ_ERROR, self.read_error),
            (DriveFaultKind.WRITE_ERROR, self.write_error),
        ):
            if record is not None:
                out.append({"kind": str(kind), "record": record})
        for kind, size in (
            (DriveFaultKind.EARLY_WARNING, self.early_warning),
            (DriveFaultKind.END_OF_MEDIUM, self.end_of_medium),
        ):
            if size is not None:
                out.append({"kind": str(kind), "bytes": size})
        for kind, on in (
            (DriveFaultKind.OFFLINE, self.offline),
            (DriveFaultKind.CLEANING, self.cleaning),
            (DriveFaultKind.LOAD_FAILURE, self.load_failure),
        ):
            if on:
                out.append({"kind": str(kind)})
        return out

    # --- what the drive does with them ------------------------------------------------

    def refusal(self, drive: TapeDrive, cmd: Command) -> SenseError | None:
        """The sense a command is refused with before it runs, or None to run it."""
        opcode = cmd.cdb[0]
        if self.offline and (opcode == _LOAD_UNLOAD or drive.needs_medium(cmd.cdb)):
            return SenseError(LOGICAL_UNIT_NOT_READY_OFFLINE)
        if self.load_failure and drive.cartridge is not None:
            if opcode == _LOAD_UNLOAD:
                failed = bool(cmd.cdb[4] & _LOAD_BIT)  # loading it again fails again
            else:
                failed = not drive.ejected and drive.needs_medium(cmd.cdb)
            if failed:
                drive.raise_tapealert(TapeAlertFlag.LOADING_FAILURE)
                return SenseError(MEDIUM_LOAD_OR_EJECT_FAILED_MEDIUM_ERROR)
        if self.read_error is not None or self.write_error is not None:
            self._arm(drive.cartridge)
        if self.end_of_medium is not None and opcode in _WRITES and drive.ready:
            return self._overflow(drive, cmd, self.end_of_medium)
        return None

    def after(self, drive: TapeDrive, cmd: Command, result: Result) -> Result:
        """A write that ended GOOD past the early-warning fault's byte count is warned."""
        limit = self.early_warning
        if limit is None or result.status is not Status.GOOD or cmd.cdb[0] not in _WRITES:
            return result
        if not _count(cmd.cdb):
            return result  # nothing written: a WRITE FILEMARKS of 0 only synchronises
        cart = drive.cartridge
        if cart is None or cart.partitions[drive.partition].used <= limit:
            return result
        err = SenseError(END_OF_PARTITION_MEDIUM_DETECTED, eom=True, information=0)
        return Result(Status.CHECK_CONDITION, err.sense_bytes(descriptor=drive.descriptor_sense), 0)

    def _overflow(self, drive: TapeDrive, cmd: Command, limit: int) -> SenseError | None:
        """VOLUME OVERFLOW for a write that would take the partition past ``limit`` bytes."""
        cdb = cmd.cdb
        count = _count(cdb)
        size = 0
        if cdb[0] == SscOpcode.WRITE_6:
            fixed = cdb[1] & 0x01
            size = count * drive.block_length if fixed else count
        part = drive.current_partition()
        before = part.cum[min(drive.position, part.eod)]
        if count == 0 or (before + size <= limit and before < limit):
            return None
        return SenseError(VOLUME_OVERFLOW_END_OF_PARTITION, eom=True, information=count)

    def _arm(self, cart: Cartridge | None) -> None:
        """Make the cartridge in the drive fail at the records of the media error faults."""
        if cart is None:
            return
        reads, writes = self.read_error, self.write_error
        hooks = vars(cart)
        if reads is not None and "read_block" not in hooks:

            def read_block(partition: int, position: int, into: Sequence[memoryview]) -> int:
                if position == reads:
                    raise _injected(position)
                return Cartridge.read_block(cart, partition, position, into)

            cart.read_block = read_block  # type: ignore[method-assign]
        if writes is not None and "write_block" not in hooks:

            def write_block(
                partition: int, position: int, data: Sequence[bytes | memoryview]
            ) -> None:
                if position == writes:
                    raise _injected(position)
                Cartridge.write_block(cart, partition, position, data)

            cart.write_block = write_block  # type: ignore[method-assign]

    @staticmethod
    def disarm(cart: Cartridge | None) -> None:
        """The cartridge's own ``read_block`` and ``write_block`` again."""
        if cart is not None:
            vars(cart).pop("read_block", None)
            vars(cart).pop("write_block", None)

    # --- the control op -----------------------------------------------------------------

    def apply(self, drive: TapeDrive, kind: str, record: int | None, size: int | None) -> None:
        """Set (or, for ``online`` and ``clear``, end) a fault; :class:`FaultError` if bad."""
        if kind == CLEAR:
            self._refuse_options(kind, record, size)
            self.clear(drive)
            return
        try:
            which = DriveFaultKind(kind)
        except ValueError:
            known = ", ".join([*(k.value for k in DriveFaultKind), CLEAR])
            raise FaultError(f"unknown fault {kind!r} (kinds: {known})") from None
        if which in RECORD_KINDS:
            if record is None or record < 0 or size is not None:
                raise FaultError(f"{kind} needs a record number (record >= 0) and nothing else")
            if which is DriveFaultKind.READ_ERROR:
                self.read_error = record
            else:
                self.write_error = record
            self.disarm(drive.cartridge)
            return
        if which in BYTES_KINDS:
            if size is None or size <= 0 or record is not None:
                raise FaultError(f"{kind} needs a byte count (bytes > 0) and nothing else")
            if which is DriveFaultKind.EARLY_WARNING:
                self.early_warning = size
            else:
                self.end_of_medium = size
            return
        self._refuse_options(kind, record, size)
        if which is DriveFaultKind.OFFLINE:
            self.offline = True
        elif which is DriveFaultKind.ONLINE:
            self._online(drive)
        elif which is DriveFaultKind.CLEANING:
            self.cleaning = True
            drive.raise_tapealert(TapeAlertFlag.CLEAN_NOW)
        else:
            self.load_failure = True

    def cleaned(self, drive: TapeDrive) -> None:
        """A cleaning cartridge cleaned the drive: the cleaning fault's condition is over."""
        if self.cleaning:
            self.cleaning = False
            drive.tapealerts.condition_over(TapeAlertFlag.CLEAN_NOW)

    def clear(self, drive: TapeDrive) -> None:
        """End every fault: the drive is as it was before the first."""
        if self.offline:
            self._online(drive)
        if self.cleaning:
            drive.tapealerts.condition_over(TapeAlertFlag.CLEAN_NOW)
        self.disarm(drive.cartridge)
        self.read_error = self.write_error = None
        self.early_warning = self.end_of_medium = None
        self.offline = self.cleaning = self.load_failure = False

    def _online(self, drive: TapeDrive) -> None:
        if self.offline and drive.ready:
            drive.unit_attentions.post(NOT_READY_TO_READY_CHANGE)
        self.offline = False

    @staticmethod
    def _refuse_options(kind: str, record: int | None, size: int | None) -> None:
        if record is not None or size is not None:
            raise FaultError(f"{kind} takes neither a record nor a byte count")


def fault_op(name: str, drive: TapeDrive, after: Callable[[], None] | None = None) -> DeclaredOp:
    """The ``fault`` control op of drive ``name``: ``{"kind": K, "record": N, "bytes": N}``.

    ``after`` (if any) runs once the drive's faults have changed.
    """

    @control_op(kind=str, record=int, bytes=int)
    def fault(args: dict[str, Any]) -> dict[str, Any]:
        kind = args.get("kind")
        if kind is None:
            raise FaultError(f"{name}: fault: needs a kind")
        try:
            drive.set_fault(kind, args.get("record"), args.get("bytes"))
        except FaultError as err:
            raise FaultError(f"{name}: fault: {err}") from None
        if after is not None:
            after()
        return {"faults": drive.faults.listing()}

    return fault
