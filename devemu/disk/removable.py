"""Removable disks and write protection set live (SBC-4 4.12, 4.11 and 5.25).

Theory of operation
-------------------
``removable = true`` in ``[[disk]]`` serves a :class:`RemovableDisk`: RMB
is one in INQUIRY and the medium (the image file) can leave and come
back, as an RDX cartridge, a USB stick or a ZIP disk does:

=============  ==========================================  ================================
state          medium access commands                      leaves by
=============  ==========================================  ================================
loaded         served                                      START STOP UNIT LOEJ=1 START=0
                                                           (refused while prevented),
                                                           control ``eject``
ejected        NOT READY, MEDIUM NOT PRESENT (3A/00);      START STOP UNIT LOEJ=1 START=1
               READ CAPACITY too                           (the same image again), control
                                                           ``insert`` (any image)
=============  ==========================================  ================================

A medium arriving posts NOT READY TO READY CHANGE, MEDIUM MAY HAVE
CHANGED (28/00) and a NewMedia event; one leaving a MediaRemoval event;
a control ``eject`` refused because the initiator prevents removal posts
an EjectRequest event. The events are read with GET EVENT STATUS
NOTIFICATION, the optical drive's code (:mod:`devemu.cdrom.events`).
PREVENT ALLOW MEDIUM REMOVAL (SBC-4 5.11) takes the 2-bit PREVENT field;
the obsolete values 10b and 11b are refused. Prevention ends with a
power on (a restart), a control ``eject`` with ``force``, never with a
START STOP UNIT.

Write protection (every disk): ``protect`` on the control socket sets it
live. WP follows in the mode parameter header (SBC-4 6.5.1) and every
command that changes the medium ends in DATA PROTECT / WRITE PROTECTED
(27/00). A change posts a unit attention: on a removable disk NOT READY
TO READY CHANGE, MEDIUM MAY HAVE CHANGED (28/00), which is what a real
cartridge with its tab moved looks like and which makes Linux's sd read
the mode header again at its next open; on a fixed disk MODE PARAMETERS
CHANGED (2A/01), the header being a mode parameter (Linux then reads it
on a rescan). An image configured ``read_only`` stays protected.

What survives a restart, in ``<state_dir>/disk-<name>.medium.json``
(written atomically): the protection, and for a removable disk which
image is in it and whether it is loaded. Prevention does not (a power
on ends it, SBC-4 5.11).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from construct import BitsInteger, BitStruct, Bytes, Int8ub, Struct

from devemu.atomic_file import write_atomic
from devemu.cdrom import events
from devemu.cdrom.cdbs import GetEventStatusCdb
from devemu.cdrom.events import MediaEvent
from devemu.disk import cdbs, power
from devemu.disk.claims import DEFAULT_STANDARDS, DISK_CLAIMS
from devemu.disk.commands import SBC_COMMANDS
from devemu.disk.device import Disk
from devemu.disk.image import DiskImage
from devemu.disk.sanitize import Phase
from devemu.errors import DevemuError, ImageError
from devemu.scsi.command import Command
from devemu.scsi.identity import Identity
from devemu.scsi.inquiry import Claims
from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    MEDIUM_NOT_PRESENT,
    MEDIUM_REMOVAL_PREVENTED,
    MODE_PARAMETERS_CHANGED,
    NOT_READY_TO_READY_CHANGE,
    SenseError,
    cdb_field,
)
from devemu.scsi.table import Access, CommandSpec, CommandTable, Data

#: PREVENT ALLOW MEDIUM REMOVAL, SBC-4 5.11 table 55.
PreventAllowCdb = Struct(
    "opcode" / Int8ub,
    "reserved" / Bytes(3),
    "flags" / BitStruct("reserved" / BitsInteger(6), "prevent" / BitsInteger(2)),
    "control" / Int8ub,
)

#: PREVENT field values, SBC-4 5.11 table 56 (10b and 11b are obsolete).
ALLOWED = 0b00
PREVENTED = 0b01


class MediumError(DevemuError):
    """A control request about the medium that cannot be done now."""


class RemovableDisk(Disk):
    """A direct-access device with a removable medium (RMB=1)."""

    removable: ClassVar[bool] = True

    def __init__(
        self,
        image: DiskImage,
        identity: Identity,
        *,
        write_cache: bool = True,
        claims: Claims = DISK_CLAIMS[DEFAULT_STANDARDS],
        roots: Sequence[Path] = (),
    ) -> None:
        self.loaded = True
        self.prevented = False
        #: PERSISTENT prevention is MMC's; a disk never has it.
        self.persistent_prevented = False
        self.media_events: deque[MediaEvent] = deque()
        self.operational_change = False
        #: Called after the medium left or arrived (the state file is written).
        self.medium_changed: Callable[[], None] = _nothing
        #: Folders an inserted image may lie in (real paths).
        self.roots = tuple(Path(os.path.realpath(r)) for r in roots)
        super().__init__(image, identity, write_cache=write_cache, claims=claims)

    # --- the events source of GET EVENT STATUS NOTIFICATION ----------------------------

    @property
    def tray_open(self) -> bool:
        return False

    @property
    def media_present(self) -> bool:
        return self.loaded

    # --- readiness -----------------------------------------------------------------------

    def check_medium(self) -> None:
        """MEDIUM NOT PRESENT (3A/00) when ejected, then the stopped check."""
        if not self.loaded:
            raise SenseError(MEDIUM_NOT_PRESENT)
        super().check_medium()

    # --- the medium ----------------------------------------------------------------------

    def unload(self) -> None:
        """The medium leaves: flushed and closed, remembered for a load."""
        if not self.loaded:
            return
        self.image.close()
        self.loaded = False
        self.prevented = False
        self.may_be_not_ready = True
        self.media_events.append(MediaEvent.MEDIA_REMOVAL)
        self.operational_change = True
        self.medium_changed()

    def load(self, image: DiskImage | None = None) -> None:
        """A medium arrives: ``image``, or the one that left (reopened)."""
        if image is None:
            try:
                image = DiskImage(self.image.path, self.block_size, read_only=self.read_only)
            except ImageError as err:
                raise SenseError(MEDIUM_NOT_PRESENT) from err
        elif self.loaded:
            self.image.close()
        self.image = image
        self.capacity = image.capacity
        self.loaded = True
        self.may_be_not_ready = True
        self.unit_attentions.post(NOT_READY_TO_READY_CHANGE)
        self.media_events.append(MediaEvent.NEW_MEDIA)
        self.operational_change = True
        self.medium_changed()

    def inside_roots(self, path: Path) -> Path:
        """The real path of ``path`` when it lies in one of :attr:`roots`."""
        real = Path(os.path.realpath(path))
        if not any(real.is_relative_to(root) for root in self.roots):
            allowed = ", ".join(str(r) for r in self.roots) or "none"
            raise MediumError(f"{path} is outside the folders images may come from ({allowed})")
        return real

    def insert(self, path: Path, *, force: bool = False) -> None:
        """Control ``insert``: the image at ``path`` goes in (the old one out)."""
        self._not_sanitizing()
        real = self.inside_roots(path)
        if self.loaded and self.prevented and not force:
            raise MediumError("the initiator prevents medium removal; insert with force")
        image = DiskImage(real, self.block_size, read_only=self.read_only)
        self.load(image)

    def eject(self, *, force: bool = False) -> None:
        """Control ``eject``: the operator's button (refused while prevented unless forced)."""
        self._not_sanitizing()
        if self.loaded and self.prevented and not force:
            self.media_events.append(MediaEvent.EJECT_REQUEST)
            raise MediumError(
                "the initiator prevents medium removal (an eject request was posted; "
                "use force to eject anyway)"
            )
        self.unload()

    def _not_sanitizing(self) -> None:
        if self.sanitizer.phase is Phase.RUNNING:
            raise MediumError("the disk is being sanitized; the medium stays in")

    def medium_state(self) -> dict[str, Any]:
        return {
            "image": str(self.image.path),
            "loaded": self.loaded,
            "prevented": self.prevented,
        }


def _nothing() -> None:
    pass


# --- write protection, any disk -----------------------------------------------------------


def set_protection(dev: Disk, on: bool) -> None:
    """Write protection on or off, live, with its unit attention on a change."""
    if not on and dev.read_only:
        raise MediumError("the image is configured read_only; it stays write protected")
    if dev.write_protected == on:
        return
    dev.write_protected = on
    removable = isinstance(dev, RemovableDisk)
    dev.unit_attentions.post(NOT_READY_TO_READY_CHANGE if removable else MODE_PARAMETERS_CHANGED)


class MediumState:
    """The medium state file of one disk: protection, and the removable medium."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.data: dict[str, Any] = {}
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_bytes())
                if not isinstance(data, dict):
                    raise ValueError("not a JSON object")
                for key, kind in (("protected", bool), ("loaded", bool), ("image", str)):
                    if key in data and not isinstance(data[key], kind):
                        raise ValueError(f"{key!r} is not a {kind.__name__}")
            except (OSError, ValueError) as err:
                raise ImageError(path, None, f"not a disk medium state file: {err}") from err
            self.data = data

    def save(self, dev: Disk) -> None:
        if self.path is None:
            return
        data: dict[str, Any] = {"protected": dev.write_protected}
        if isinstance(dev, RemovableDisk):
            data["image"] = str(dev.image.path)
            data["loaded"] = dev.loaded
        write_atomic(self.path, json.dumps(data).encode() + b"\n")


# --- commands ------------------------------------------------------------------------------


def start_stop_unit(
    dev: RemovableDisk, cmd: Command, power_condition: int, no_flush: int, loej: int, start: int
) -> None:
    """START STOP UNIT, SBC-4 5.25, with LOEJ: START=0 ejects, START=1 loads.

    An eject while removal is prevented is ILLEGAL REQUEST, MEDIUM
    REMOVAL PREVENTED; LOEJ is ignored with a POWER CONDITION other than 0.
    """
    if power_condition or not loej:
        power.start_stop_unit(dev, cmd, power_condition, no_flush, start)
        return
    if start:
        if not dev.loaded:
            dev.load()
        dev.stopped = False
        return
    if dev.prevented and dev.loaded:
        raise SenseError(MEDIUM_REMOVAL_PREVENTED)
    if dev.loaded:
        power.start_stop_unit(dev, cmd, power_condition, no_flush, start)
    dev.unload()


def prevent_allow_medium_removal(dev: RemovableDisk, cmd: Command, prevent: int) -> None:
    """PREVENT ALLOW MEDIUM REMOVAL, SBC-4 5.11."""
    if prevent not in (ALLOWED, PREVENTED):
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(4, 1))
    dev.prevented = prevent == PREVENTED


def _needs_medium(spec: CommandSpec) -> CommandSpec:
    return dataclasses.replace(spec, needs_medium=True)


_READ_CAPACITY = frozenset({"READ CAPACITY(10)", "READ CAPACITY(16)"})

#: What a removable disk adds to (or changes in) the fixed disk's table.
REMOVABLE_COMMANDS: tuple[CommandSpec, ...] = (
    *(_needs_medium(spec) for spec in SBC_COMMANDS if spec.name in _READ_CAPACITY),
    CommandSpec(
        "START STOP UNIT",
        0x1B,
        cdbs.StartStopUnitCdb,
        start_stop_unit,
        fields=("action.power_condition", "action.no_flush", "action.loej", "action.start"),
        access=Access.CONTROL,
        idempotent=False,
        timeout=60,
    ),
    CommandSpec(
        "PREVENT ALLOW MEDIUM REMOVAL",
        0x1E,
        PreventAllowCdb,
        prevent_allow_medium_removal,
        fields=("flags.prevent",),
        access=Access.CONTROL,
        idempotent=True,
    ),
    CommandSpec(
        "GET EVENT STATUS NOTIFICATION",
        0x4A,
        GetEventStatusCdb,
        events.get_event_status_notification,
        fields=("flags.polled", "notification_class_request", "allocation_length"),
        data=Data.IN,
        blocked_by_unit_attention=False,
    ),
)

RemovableDisk.commands = CommandTable(Disk.commands, REMOVABLE_COMMANDS)
