"""An SSC-5 tape drive with LTO-5 to LTO-9 personalities.

Theory of operation
-------------------
The drive is a :class:`~devemu.scsi.device.ScsiDevice` (peripheral type
0x01, removable) whose state is small: the cartridge in it (a
:class:`~devemu.tape.cartridge.Cartridge`, or none) and where that
cartridge is (:mod:`devemu.tape.medium_state`: threaded, held, ejected;
the states, the events that move between them and the sense each gives
are a table there), the current partition and logical object number, and
the mode settings (block length, 0 for variable; buffered mode;
compression).

The commands are handlers grouped by what they do and gathered in one
table (:mod:`devemu.tape.commands`): READ, WRITE, WRITE FILEMARKS and
ERASE in :mod:`~devemu.tape.io_commands`; REWIND, SPACE, LOCATE, READ
POSITION, LOAD UNLOAD and PREVENT ALLOW MEDIUM REMOVAL in
:mod:`~devemu.tape.motion`; FORMAT MEDIUM, READ BLOCK LIMITS and REPORT
DENSITY SUPPORT in :mod:`~devemu.tape.format_commands`; the MAM in
:mod:`~devemu.tape.attribute_commands`. They change the drive only
through the public methods below. Reading and writing work on logical
objects through the cartridge's index; the data goes between the
command's buffers and the file with ``preadv``/``pwritev`` (no copy in
Python). Positioning is computed by :mod:`devemu.tape.positioning`.

Durability: every write is appended to the cartridge file at once (the
drive has no buffer of its own, so READ POSITION never reports buffered
objects); WRITE FILEMARKS with IMMED=0, REWIND, LOAD UNLOAD, FORMAT
MEDIUM, WRITE ATTRIBUTE and :meth:`TapeDrive.unload` are synchronising
and fdatasync the file; with buffered mode 0 every write is synchronised.

Restart: with a ``state_dir`` the drive remembers which cartridge it
holds and its mode settings (:mod:`devemu.tape.drive_state`: block
length, buffered mode, logical block protection and the programmable
early warning, which a host such as LTFS sets once and relies on), and where
the tape is (:mod:`devemu.tape.position_spot`, updated by every motion
without a system call); a new drive object re-opens that cartridge at
that position (capped at end of data) and posts POWER ON RESET. Not at
BOP: Linux st takes the unit attention for a new session at BOP without
asking the drive, and its next WRITE there would end the data after it.

Threads: none. Commands and control requests (a robot's move, the
operator's status) all run on the daemon's event loop thread, one after
the other, so the drive needs no lock.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar

from devemu.errors import DevemuError
from devemu.scsi.block_descriptor import BlockDescriptor
from devemu.scsi.command import Command, Deferred, Result, Status
from devemu.scsi.device import LogProducer, VpdProducer
from devemu.scsi.identity import Identity
from devemu.scsi.informational_exceptions import informational_exceptions_page
from devemu.scsi.inquiry import VERSION_SSC5
from devemu.scsi.mode_pages import ModePage, no_page_mode_page
from devemu.scsi.sense import (
    CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT_DATA_PROTECT,
    INCOMPATIBLE_MEDIUM_INSTALLED,
    INVALID_FIELD_IN_PARAMETER_LIST,
    MEDIUM_REMOVAL_PREVENTED,
    NOT_READY_TO_READY_CHANGE,
    WORM_MEDIUM_OVERWRITE_ATTEMPTED,
    WRITE_PROTECTED,
    SenseCode,
    SenseError,
    param_field,
)
from devemu.scsi.spc import SPC_COMMANDS
from devemu.scsi.table import CommandTable
from devemu.scsi.vpd import vpd_page
from devemu.tape import attribute_commands, drive_dump, log_pages, pages, protection, tapealert
from devemu.tape.cartridge import Cartridge, PartitionIndex
from devemu.tape.commands import SSC_COMMANDS
from devemu.tape.drive_state import (
    DriveState,
    load_drive_state,
    reservation_file,
    save_drive_state,
    state_file,
)
from devemu.tape.encryption import EncryptionState
from devemu.tape.encryption_commands import SECURITY_PROTOCOL_COMMANDS
from devemu.tape.faults import DriveFaults
from devemu.tape.limits import MAXIMUM_BLOCK_LENGTH, MINIMUM_BLOCK_LENGTH, early_warning_margin
from devemu.tape.media import (
    CLEANING_USES,
    DriveType,
    MediumTypeCodes,
    drive_type,
    medium_type_code,
)
from devemu.tape.medium_state import NOT_READY, Action, MediumEvent, MediumState, transition
from devemu.tape.position_spot import PositionSpot
from devemu.tape.positioning import Motion
from devemu.tape.tapealert import TapeAlertDevice, TapeAlertFlag, TapeAlerts

SEQUENTIAL_ACCESS_DEVICE = 0x01


class TapeDrive(TapeAlertDevice):
    """An LTO tape drive; see the module notes and :mod:`devemu.tape.medium_state`."""

    peripheral_type: ClassVar[int] = SEQUENTIAL_ACCESS_DEVICE
    removable: ClassVar[bool] = True
    version_descriptors: ClassVar[tuple[int, ...]] = (VERSION_SSC5,)
    commands: ClassVar[CommandTable] = CommandTable(
        SPC_COMMANDS, SSC_COMMANDS, SECURITY_PROTOCOL_COMMANDS
    )
    #: Every motion counts: after a restart only commands that change nothing run again.
    replays_only_unchanging: ClassVar[bool] = True
    #: A reset clears the data encryption keys.
    hears_resets: ClassVar[bool] = True

    def __init__(
        self, identity: Identity, drive_type: str = "LTO-8", state_dir: Path | None = None
    ) -> None:
        self.drive_type: DriveType = _drive_type(drive_type)
        self._spot: PositionSpot | None = None
        self._partition = self._position = 0
        self.cartridge: Cartridge | None = None
        self.medium_state = MediumState.EMPTY
        self._path: Path | None = None
        self._prevent = False
        self.partition = 0
        self.position = 0
        self.block_length = 0
        self.buffered_mode = 1
        self.speed = 0
        self.counters = log_pages.TapeCounters()
        self.device_counters = log_pages.DeviceCounters(started=time.monotonic())
        #: How MEDIUM TYPE reports cartridges (the product's, :mod:`devemu.personality`).
        self.medium_types = MediumTypeCodes.IBM
        #: Logical block protection (page 0Ah/F0h, :mod:`devemu.tape.protection`).
        self.protection = protection.NO_PROTECTION
        #: Programmable early warning size in bytes (page 10h/01h).
        self.pews = 0
        #: The drive dump READ BUFFER returns (:mod:`devemu.tape.drive_dump`).
        self.dump: bytes | None = None
        self.tapealerts = TapeAlerts()
        #: Injected faults (:mod:`devemu.tape.faults`); none costs nothing.
        self.faults = DriveFaults()
        #: Data encryption parameters and keys, in memory only (:mod:`devemu.tape.encryption`).
        self.encryption = EncryptionState()
        #: The kept mode pages (:meth:`_kept_page_appliers`) a host set: (page, subpage) ->
        #: their parameter bytes, written to the state file.
        self._kept_pages: dict[tuple[int, int], bytes] = {}
        #: Bytes written and read since the cartridge was loaded (for its MAM).
        self._load_written = 0
        self._load_read = 0
        self._unload_recorded = False
        super().__init__(identity)
        self.state_file = state_file(state_dir, identity.serial) if state_dir is not None else None
        if state_dir is not None:
            self._spot = PositionSpot(Path(state_dir) / f"drive-{identity.serial}.position")
            self.set_reservation_file(reservation_file(state_dir, identity.serial))
        self._restore_state()

    @property
    def partition(self) -> int:
        return self._partition

    @partition.setter
    def partition(self, value: int) -> None:
        self._partition = value
        if self._spot is not None:
            self._spot.store(value, self._position)

    @property
    def position(self) -> int:
        return self._position

    @position.setter
    def position(self, value: int) -> None:
        self._position = value
        if self._spot is not None:
            self._spot.store(self._partition, value)

    # --- the interface a library uses ----------------------------------------------

    @property
    def loaded_path(self) -> Path | None:
        """The cartridge file in the drive (threaded, held or ejected), or None."""
        return self._path

    @property
    def loaded_barcode(self) -> str | None:
        return self.cartridge.barcode if self.cartridge is not None else None

    @property
    def ejected(self) -> bool:
        """True when the host unloaded the cartridge: a robot may take it."""
        return self.medium_state is MediumState.EJECTED

    @property
    def removal_prevented(self) -> bool:
        """PREVENT ALLOW MEDIUM REMOVAL from the host (SPC-5 6.15)."""
        return self._prevent

    @property
    def ready(self) -> bool:
        return self.medium_state is MediumState.THREADED and self._readable()

    def load(self, path: Path) -> None:
        """Insert and thread a cartridge: position BOP, UA NOT READY TO READY CHANGE.

        Loading the cartridge the drive already holds re-threads it. A
        different cartridge while one is in the drive is a DevemuError; a
        bad file is an ImageError.
        """
        path = Path(path)
        if self.cartridge is not None:
            if self._path is not None and self._same(path, self._path):
                self._apply(MediumEvent.INSERT)
                return
            raise DevemuError(f"drive {self.identity.serial} already holds {self._path}")
        read_only = _write_protected(path)
        self.cartridge = Cartridge.open(path, read_only=read_only)
        self._path = path
        self._apply(MediumEvent.INSERT)
        self._save_state()

    def unload(self) -> Path | None:
        """Take the cartridge out (flushing everything); its path, or None."""
        cart = self.cartridge
        if cart is None:
            return None
        path = self._path
        try:
            self._apply(MediumEvent.REMOVE)
        finally:
            cart.close()
            self.cartridge = None
            self._path = None
            self.medium_state = MediumState.EMPTY
            self.partition = self.position = 0
            self._save_state()
        return path

    def robot_unload(self) -> None:
        """A library's robot unloads the drive before taking its cartridge (SMC-3 6.6).

        What LOAD UNLOAD with LOAD=0 does (SSC-5 7.3): everything written
        made durable, the tape rewound to BOP, the load's totals written
        to the MAM (SPC-5 7.4.2.2), the cartridge ejected. MEDIUM REMOVAL
        PREVENTED while the host prevents removal (SPC-5 6.15); nothing
        at all for an empty drive or a cartridge already ejected.
        """
        if self.medium_state in (MediumState.THREADED, MediumState.HELD):
            self._apply(MediumEvent.UNLOAD)

    def close(self) -> None:
        """Flush and release the cartridge file, keeping it in the drive's state."""
        if self.cartridge is not None:
            self.cartridge.close()

    def logical_unit_reset(self) -> None:
        """A reset clears the data encryption parameters of every I_T nexus (SSC-5 4.2)."""
        self.encryption.reset()

    def status(self) -> dict[str, object]:
        """A summary for the control socket and ``devemu status``."""
        cart = self.cartridge
        return {
            "drive_type": self.drive_type.name,
            "cartridge": str(self._path) if self._path else None,
            "barcode": cart.barcode if cart else None,
            "media_type": cart.media_type if cart else None,
            "ready": self.ready,
            "ejected": self.ejected,
            "removal_prevented": self._prevent,
            "partition": self.partition,
            "position": self.position,
            "block_length": self.block_length,
            "faults": self.faults.listing(),
        }

    # --- the medium state table -------------------------------------------------------

    def host_load(self, hold: bool) -> None:
        """LOAD UNLOAD with LOAD=1 (SSC-5 7.3): thread the cartridge, or hold it."""
        self._apply(MediumEvent.LOAD_HOLD if hold else MediumEvent.LOAD)

    def host_unload(self, hold: bool) -> None:
        """LOAD UNLOAD with LOAD=0 (SSC-5 7.3): eject the cartridge, or hold it."""
        self._apply(MediumEvent.UNLOAD_HOLD if hold else MediumEvent.UNLOAD)

    def prevent_removal(self, prevent: bool) -> None:
        """PREVENT ALLOW MEDIUM REMOVAL (SPC-5 6.15): whether UNLOAD may eject."""
        self._prevent = prevent

    def _apply(self, event: MediumEvent) -> None:
        """Move the cartridge as :data:`~devemu.tape.medium_state.TRANSITIONS` says."""
        step = transition(self.medium_state, event)
        if step.ejects and self._prevent:
            self.raise_tapealert(TapeAlertFlag.NO_REMOVAL)
            raise SenseError(MEDIUM_REMOVAL_PREVENTED)
        cart = self.mounted()
        if Action.SYNCHRONISE in step.actions:
            self.synchronise()
        if Action.RECORD_UNLOAD in step.actions:
            self._record_unload(cart)
        self.medium_state = step.target
        if step.target in (MediumState.EJECTED, MediumState.EMPTY):
            self.tapealerts.cartridge_removed()
            self.encryption.demounted()
        if Action.TO_BOP in step.actions:
            self.to_bop()
        if step.target is MediumState.THREADED:
            self._unload_recorded = False
        if Action.RECORD_LOAD in step.actions:
            self.device_counters.loads += 1
            self._load_written = self._load_read = 0
            if cart.medium.cleaning:
                self._clean(cart)
                return
            if self._readable() and not cart.read_only:
                attribute_commands.record_load(self, cart)
            self._check_format(cart)
        if Action.ANNOUNCE in step.actions:
            self.unit_attentions.post(NOT_READY_TO_READY_CHANGE)

    def _clean(self, cart: Cartridge) -> None:
        """A cleaning cartridge was threaded: the drive is cleaned and ejects it.

        As LTO drives do: the use is counted in the cartridge's MAM (LOAD
        COUNT, SPC-5 7.4.2.2); the cleaning ends the clean-now condition
        (TapeAlert 14h) and raises cleaning media (0Bh), or, for a
        cartridge used :data:`~devemu.tape.media.CLEANING_USES` times
        already, cleans nothing and raises expired cleaning media (16h)
        (SSC-5 annex A). Either way the cartridge is ejected at once, for
        the library or the operator to take: the drive never becomes
        ready with it.
        """
        uses = attribute_commands.load_count(cart)
        if not cart.read_only:
            attribute_commands.record_load(self, cart)
        if uses >= CLEANING_USES:
            self.raise_tapealert(TapeAlertFlag.EXPIRED_CLEANING_MEDIA)
        else:
            self.faults.cleaned(self)
            if not self.faults:
                vars(self).pop("execute", None)
            self.raise_tapealert(TapeAlertFlag.CLEANING_MEDIA)
        self.medium_state = MediumState.EJECTED

    def _check_format(self, cart: Cartridge) -> None:
        """TapeAlert 0Ch for a generation the drive cannot read, 11h for one it cannot write."""
        if not self.drive_type.can_read(cart.medium):
            self.raise_tapealert(TapeAlertFlag.UNSUPPORTED_FORMAT)
        elif not self.drive_type.can_write(cart.medium):
            self.raise_tapealert(TapeAlertFlag.READ_ONLY_FORMAT)

    # --- faults ------------------------------------------------------------------------

    def execute_faulted(self, cmd: Command) -> Result | Deferred:
        """:meth:`execute` while a fault is set: the instance's ``execute`` then.

        A unit attention waiting is reported first (SAM-5 5.14: it comes
        before NOT READY); then the faults may refuse the command, and may
        change the answer of one that ran (:mod:`devemu.tape.faults`).
        """
        if cmd.cdb and not (self._attentions or self.nexus_unit_attentions):
            refused = self.faults.refusal(self, cmd)
            if refused is not None:
                sense = refused.sense_bytes(descriptor=self.descriptor_sense)
                return Result(Status.CHECK_CONDITION, sense, 0)
        result = TapeDrive.execute(self, cmd)
        if isinstance(result, Deferred):
            return result
        return self.faults.after(self, cmd, result)

    def set_fault(self, kind: str, record: int | None = None, size: int | None = None) -> None:
        """Set or end a fault (:meth:`DriveFaults.apply`); route commands accordingly."""
        self.faults.apply(self, kind, record, size)
        if self.faults:
            self.execute = self.execute_faulted  # type: ignore[method-assign]
        else:
            vars(self).pop("execute", None)

    def needs_medium(self, cdb: bytes) -> bool:
        """Does the command need the medium (its table entry's ``needs_medium``)?"""
        spec = self._plain.get(cdb[0]) if cdb else None
        return spec is not None and spec.needs_medium

    @staticmethod
    def _same(a: Path, b: Path) -> bool:
        try:
            return a.resolve() == b.resolve()
        except OSError:
            return a == b

    def _readable(self) -> bool:
        cart = self.cartridge
        return cart is not None and self.drive_type.can_read(cart.medium)

    def writable(self) -> bool:
        cart = self.cartridge
        return cart is not None and not cart.read_only and self.drive_type.can_write(cart.medium)

    def check_ready(self) -> None:
        """NOT READY unless a readable cartridge is threaded (SSC-5 4.2.1)."""
        refused = NOT_READY[self.medium_state]
        if refused is not None:
            raise SenseError(refused)
        if not self._readable():
            raise SenseError(INCOMPATIBLE_MEDIUM_INSTALLED)

    def mounted(self) -> Cartridge:
        """The cartridge in the drive; the caller knows there is one."""
        cart = self.cartridge
        assert cart is not None
        return cart

    def current_partition(self) -> PartitionIndex:
        """The index of the partition the tape is positioned in."""
        return self.mounted().partitions[self.partition]

    def _record_unload(self, cart: Cartridge) -> None:
        """The load's totals into the MAM, once per load (an ejected cartridge has them)."""
        if self._unload_recorded:
            return
        if self._readable() and not cart.read_only and not cart.closed:
            attribute_commands.record_unload(cart, self._load_written, self._load_read)
        self._load_written = self._load_read = 0
        self._unload_recorded = True

    # --- persisted state -------------------------------------------------------------

    def _save_state(self) -> None:
        if self.state_file is None:
            return
        state = DriveState(self._path, self.block_length, self.buffered_mode, self._kept_pages)
        save_drive_state(self.state_file, state)

    def _restore_state(self) -> None:
        if self.state_file is None:
            return
        try:
            state = load_drive_state(self.state_file)
        except ValueError as err:
            self.log.warning("ignoring unreadable drive state %s: %s", self.state_file, err)
            return
        if state is None:
            return
        self.block_length = state.block_length
        self.buffered_mode = state.buffered_mode
        self._restore_kept_pages(state.mode_pages)
        if state.cartridge is not None and state.cartridge.exists():
            saved = self._spot.read() if self._spot is not None else None
            self.load(state.cartridge)
            cart = self.cartridge
            if saved is not None and cart is not None and saved[0] < len(cart.partitions):
                # Back where the last motion left the tape (see position_spot).
                self.partition = saved[0]
                self.position = min(saved[1], cart.partitions[saved[0]].eod)
                self._sync_partition_page()
            self.unit_attentions.reset()

    def _restore_kept_pages(self, kept: Mapping[tuple[int, int], bytes]) -> None:
        """Apply the kept mode pages again, as the host's MODE SELECT had (no state written)."""
        appliers = self._kept_page_appliers()
        for key, body in kept.items():
            page = self.mode_pages.get(*key)
            apply = appliers.get(key)
            if page is None or apply is None or len(body) != len(page.default):
                self.log.warning("ignoring mode page %02x/%02x in %s", *key, self.state_file)
                continue
            try:
                apply(body)
            except SenseError:
                self.log.warning("ignoring mode page %02x/%02x in %s", *key, self.state_file)
                continue
            page.set_current(body)
            self._kept_pages[key] = body

    def _kept_page_appliers(self) -> dict[tuple[int, int], Callable[[bytes], None]]:
        """The mode pages a restart keeps, and what each changes in the drive.

        Those that change what the drive does with the data, which a host
        sets once (LTFS, at mount) and relies on from then on: logical
        block protection (0Ah/F0h) and the programmable early warning
        (10h/01h), SSC-5 8.3.
        """
        return {
            (protection.CONTROL_PAGE, protection.CONTROL_DATA_PROTECTION_SUBPAGE): (
                self._apply_protection
            ),
            (pages.DEVICE_CONFIGURATION_PAGE, pages.DEVICE_CONFIGURATION_EXTENSION_SUBPAGE): (
                self._apply_extension
            ),
        }

    def _keeping(self, key: tuple[int, int]) -> Callable[[bytes], None]:
        """A page's ``on_change``: apply the new values, then keep them in the state file."""
        apply = self._kept_page_appliers()[key]

        def on_change(body: bytes) -> None:
            apply(body)
            self._kept_pages[key] = bytes(body)
            self._save_state()

        return on_change

    # --- SPC hooks --------------------------------------------------------------------

    def make_mode_pages(self) -> list[ModePage]:
        partition_page = pages.medium_partition_page(self._drive_max_additional(), 0)
        partition_page.on_change = self._check_partition_page
        compression = pages.data_compression_page()
        protection_page = protection.control_data_protection_page()
        protection_page.on_change = self._keeping(protection_page.key)
        extension = pages.device_configuration_extension_page()
        extension.on_change = self._keeping(extension.key)
        return [
            protection_page,
            compression,
            pages.device_configuration_page(),
            extension,
            partition_page,
            informational_exceptions_page(),
            # Linux st opens with MODE SENSE(6) page 0: header and block descriptor.
            no_page_mode_page(),
        ]

    def _apply_protection(self, body: bytes) -> None:
        """Page 0Ah/F0h changed: protection information on writes and reads (SSC-5 8.3)."""
        self.protection = protection.protection_of(body)

    def _apply_extension(self, body: bytes) -> None:
        """Page 10h/01h changed: the programmable early warning size."""
        self.pews = pages.programmable_early_warning(body)

    def _max_additional(self) -> int:
        cart: Cartridge | None = getattr(self, "cartridge", None)
        if cart is not None:
            return cart.medium.max_partitions - 1
        return self._drive_max_additional()

    def _drive_max_additional(self) -> int:
        """Partitions beyond the first the drive makes: 1 on LTO-5, 3 from LTO-6 on."""
        return 3 if self.drive_type.generation >= 6 else 1

    def _sync_partition_page(self) -> None:
        """Page 0x11 and the active partition describe the cartridge in the drive."""
        cart = self.cartridge
        page = self.mode_pages.get(pages.MEDIUM_PARTITION_PAGE)
        if cart is not None and page is not None:
            caps = [p.capacity for p in cart.partitions]
            descriptors = pages.partition_descriptors(self._drive_max_additional())
            body = pages.medium_partition_body(cart.medium.max_partitions - 1, caps, descriptors)
            page.set_current(body)
        config = self.mode_pages.get(pages.DEVICE_CONFIGURATION_PAGE)
        if config is not None:
            config.current[1] = self.partition

    def _check_partition_page(self, body: bytes) -> None:
        cart = self.cartridge
        capacity = cart.capacity if cart is not None else 1 << 40
        try:
            pages.partition_layout(body, capacity, self._max_additional())
        except ValueError:
            raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST) from None

    def block_descriptor(self) -> BlockDescriptor:
        cart = self.cartridge
        density = cart.medium.density_code if cart is not None else 0
        return BlockDescriptor(density, 0, self.block_length)

    def block_descriptor_changeable(self) -> BlockDescriptor:
        return BlockDescriptor(0xFF, 0, 0xFFFFFF)

    def apply_block_descriptor(self, descriptor: BlockDescriptor) -> None:
        """MODE SELECT block descriptor: block length (0 variable) and density."""
        cart = self.cartridge
        if descriptor.density_code not in (0, 0x7F):
            known = {m.density_code for m in self.drive_type.densities}
            if cart is not None:
                known = {cart.medium.density_code}
            if descriptor.density_code not in known:
                raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(4))
        length = descriptor.block_length
        if length and not MINIMUM_BLOCK_LENGTH <= length <= MAXIMUM_BLOCK_LENGTH:
            raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(9))
        self.block_length = length
        self._save_state()

    def mode_medium_type(self) -> int:
        """MEDIUM TYPE (SSC-5 8.3.2: vendor specific): the cartridge's, as the product says it."""
        cart = self.cartridge
        if cart is None or not self._readable():
            return 0
        return medium_type_code(self.medium_types, cart.medium, cart.worm)

    def diagnostic_pages(self) -> dict[int, Callable[[bytes], None]]:
        """Diagnostic page 80h: force a drive dump (:mod:`devemu.tape.drive_dump`)."""
        return {drive_dump.VENDOR_DIAGNOSTIC_PAGE: self._force_dump}

    def _force_dump(self, body: bytes) -> None:
        drive_dump.vendor_diagnostic(self, body)

    def mode_device_specific_parameter(self) -> int:
        """SSC-5 8.3.2: WP, BUFFERED MODE, SPEED."""
        wp = 0x80 if self.cartridge is not None and not self.writable() else 0
        return wp | (self.buffered_mode << 4) | self.speed

    def apply_mode_header(self, medium_type: int, device_specific_parameter: int) -> None:
        buffered = (device_specific_parameter >> 4) & 0x7
        if buffered > 1:
            raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(2, 6))
        if self.buffered_mode != buffered:
            self.buffered_mode = buffered
            self._save_state()
        self.speed = device_specific_parameter & 0x0F

    def vpd_pages(self) -> dict[int, VpdProducer]:
        return {
            pages.SEQUENTIAL_ACCESS_CAPABILITIES: self._vpd_capabilities,
            pages.MANUFACTURER_SERIAL: self._vpd_serial,
            pages.TAPEALERT_SUPPORTED_FLAGS: self._vpd_tapealerts,
        }

    def _vpd_capabilities(self) -> bytes:
        body: bytes = pages.SequentialAccessCapabilities.build(
            {"flags": {"tsmc": False, "wrtm": False, "worm": True}}
        )
        return vpd_page(SEQUENTIAL_ACCESS_DEVICE, pages.SEQUENTIAL_ACCESS_CAPABILITIES, body)

    def _vpd_serial(self) -> bytes:
        body = self.identity.serial.encode("ascii", "replace")
        return vpd_page(SEQUENTIAL_ACCESS_DEVICE, pages.MANUFACTURER_SERIAL, body)

    def _vpd_tapealerts(self) -> bytes:
        """TapeAlert Supported Flags (SSC-5 8.4.4): the flags of :data:`tapealert.SUPPORTED`."""
        body = tapealert.supported_flags_body(tapealert.SUPPORTED)
        return vpd_page(SEQUENTIAL_ACCESS_DEVICE, pages.TAPEALERT_SUPPORTED_FLAGS, body)

    def log_pages(self) -> dict[int, LogProducer]:
        return {
            log_pages.WRITE_ERROR_COUNTER: lambda: log_pages.error_counter_page(
                log_pages.WRITE_ERROR_COUNTER, self.counters.bytes_written
            ),
            log_pages.READ_ERROR_COUNTER: lambda: log_pages.error_counter_page(
                log_pages.READ_ERROR_COUNTER, self.counters.bytes_read
            ),
            log_pages.SEQUENTIAL_ACCESS_DEVICE: self._log_sequential,
            tapealert.TAPEALERT_RESPONSE_LOG_PAGE: lambda: tapealert.response_log_page(
                self.tapealerts.active
            ),
            tapealert.TAPEALERT_LOG_PAGE: lambda: tapealert.tapealert_log_page(
                self.tapealerts.unread
            ),
            log_pages.TAPE_CAPACITY: self._log_capacity,
            log_pages.DEVICE_STATISTICS: self._log_device,
            log_pages.VOLUME_STATISTICS: self._log_volume,
            log_pages.DATA_COMPRESSION: lambda: log_pages.data_compression_page(self.counters),
        }

    def _log_device(self) -> bytes:
        hours = int((time.monotonic() - self.device_counters.started) // 3600)
        return log_pages.device_statistics_page(self.device_counters, hours)

    def _log_volume(self) -> bytes:
        cart = self.cartridge
        if cart is None or not self._readable():
            return log_pages.volume_statistics_page(None)
        return log_pages.volume_statistics_page(attribute_commands.volume_figures(self, cart))

    def _log_sequential(self) -> bytes:
        cart = self.cartridge
        used = ew = margin = here = 0
        if cart is not None:
            part = cart.partitions[self.partition]
            margin = early_warning_margin(part.capacity)
            used, ew = part.used, part.capacity - margin
            here = part.cum[min(self.position, part.eod)]
        return log_pages.sequential_access_page(
            self.counters, used=used, early_warning=ew, margin=margin, position_bytes=here
        )

    def _log_capacity(self) -> bytes:
        cart = self.cartridge
        if cart is None:
            return log_pages.tape_capacity_page([], [])
        return log_pages.tape_capacity_page(
            [p.capacity - p.used for p in cart.partitions], [p.capacity for p in cart.partitions]
        )

    def reset_log_parameters(self) -> None:
        self.counters.reset()

    # --- what the handlers call -------------------------------------------------------

    def check_writable(self) -> None:
        """DATA PROTECT unless the cartridge may be written (SSC-5 4.2.13)."""
        cart = self.mounted()
        if cart.read_only:
            self.raise_tapealert(TapeAlertFlag.WRITE_PROTECT)
            raise SenseError(WRITE_PROTECTED)
        if not self.drive_type.can_write(cart.medium):
            raise SenseError(CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT_DATA_PROTECT)

    def check_worm(self, part: PartitionIndex, position: int) -> None:
        """WORM media refuse to overwrite anything but trailing filemarks (SSC-5 4.2.22)."""
        if not self.mounted().worm or position >= part.eod:
            return
        trailing = len(part.filemarks) - bisect_left(part.filemarks, position)
        if trailing != part.eod - position:
            self.refuse_worm_overwrite()

    def refuse_worm_overwrite(self) -> None:
        """DATA PROTECT, WORM MEDIUM - OVERWRITE ATTEMPTED, and TapeAlert 3Ch (SSC-5 4.2.22)."""
        self.raise_tapealert(TapeAlertFlag.WORM_OVERWRITE_ATTEMPTED)
        raise SenseError(WORM_MEDIUM_OVERWRITE_ATTEMPTED)

    def medium_error(self, code: SenseCode, failure: TapeAlertFlag, err: OSError) -> SenseError:
        """MEDIUM ERROR for a cartridge file that refused a read or a write (SSC-5 4.2).

        TapeAlert 03h (hard error), 04h (media) and ``failure`` (05h read
        failure, 06h write failure), as a drive reports an unrecoverable
        error it puts down to the medium.
        """
        self.log.error("cartridge %s: %s", self._path, err)
        self.raise_tapealert(TapeAlertFlag.HARD_ERROR, TapeAlertFlag.MEDIA, failure)
        return SenseError(code)

    def in_early_warning(self, part: PartitionIndex) -> bool:
        return part.used > part.capacity - early_warning_margin(part.capacity)

    def crossed_programmable_early_warning(self, part: PartitionIndex, before: int) -> bool:
        """Did a write that found ``before`` bytes in ``part`` take it past the PEW?

        SSC-5 4.2.x (programmable early warning): with PEWS set (page
        10h/01h), the point PEWS megabytes before early warning; the write
        that crosses it ends with PROGRAMMABLE EARLY WARNING DETECTED.
        """
        if not self.pews:
            return False
        point = part.capacity - early_warning_margin(part.capacity) - self.pews
        return before <= point < part.used

    def seek(self, position: int) -> None:
        """Stand before logical object ``position`` of the current partition."""
        self.position = position

    def set_position(self, motion: Motion) -> None:
        self.position = motion.position

    def change_partition(self, partition: int) -> None:
        """Make ``partition`` current (the caller checked it exists); page 0x10 follows."""
        self.partition = partition
        self._sync_partition_page()

    def to_bop(self) -> None:
        """Beginning of partition 0."""
        self.partition = 0
        self.position = 0
        self._sync_partition_page()

    def count_read(self, medium_bytes: int, host_bytes: int) -> None:
        """Bytes read from the medium and sent to the host (log pages, MAM)."""
        self.counters.bytes_read += medium_bytes
        self.counters.bytes_to_host += host_bytes
        self._load_read += medium_bytes

    def load_totals(self) -> tuple[int, int]:
        """Bytes written and read since the cartridge was loaded."""
        return self._load_written, self._load_read

    def count_written(self, size: int) -> None:
        """Bytes taken from the host and written to the medium (log pages, MAM)."""
        self.counters.bytes_from_host += size
        self.counters.bytes_written += size
        self._load_written += size

    def synchronise(self) -> None:
        """Make everything written durable (a synchronising command)."""
        if self.cartridge is not None:
            self.cartridge.flush()


def _write_protected(path: Path) -> bool:
    """A cartridge file without write permission is a write-protected cartridge."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not mode & 0o222 or not os.access(path, os.W_OK)


def _drive_type(name: str) -> DriveType:
    try:
        return drive_type(name)
    except ValueError as err:
        raise DevemuError(str(err)) from None
