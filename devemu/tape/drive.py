"""An SSC-5 tape drive with LTO-5 to LTO-9 personalities.

Theory of operation
-------------------
The drive is a :class:`~devemu.scsi.device.ScsiDevice` (peripheral type
0x01, removable) whose state is small: the cartridge in it (a
:class:`~devemu.tape.cartridge.Cartridge`, or none), whether that
cartridge is threaded (ready), held (loaded with HOLD, not ready) or
ejected (unloaded by LOAD UNLOAD, waiting for a robot or a hand), the
current partition and logical object number, and the mode settings
(block length, 0 for variable; buffered mode; compression).

Medium states and TEST UNIT READY (SSC-5 4.2.1):

========================  ==========================================
no cartridge              NOT READY, MEDIUM NOT PRESENT
ejected                   NOT READY, MEDIUM NOT PRESENT
held (LOAD with HOLD)     NOT READY, INITIALIZING COMMAND REQUIRED
unreadable generation     NOT READY, INCOMPATIBLE MEDIUM INSTALLED
threaded                  ready; NOT READY TO READY CHANGE once
========================  ==========================================

Reading and writing work on logical objects through the cartridge's
index; the data goes between the command's buffers and the file with
``preadv``/``pwritev`` (no copy in Python). Positioning is computed by
:mod:`devemu.tape.positioning` and turned into sense data here:
FILEMARK (NO SENSE, FILEMARK bit), end of data (BLANK CHECK), beginning
of partition (NO SENSE, EOM bit), each with INFORMATION = the residue.

Durability: every write is appended to the cartridge file at once (the
drive has no buffer of its own, so READ POSITION never reports buffered
objects); WRITE FILEMARKS with IMMED=0, REWIND, LOAD UNLOAD, FORMAT
MEDIUM, WRITE ATTRIBUTE and :meth:`TapeDrive.unload` are synchronising
and fdatasync the file; with buffered mode 0 every write is synchronised.

Restart: with a ``state_dir`` the drive remembers which cartridge it
holds and its mode settings; a new drive object re-opens that cartridge
at the beginning of partition 0 (never at the last position: what the
host believed was acknowledged up to the last synchronising command, and
POWER ON RESET tells it to re-establish the position).
"""

from __future__ import annotations

import json
import os
import threading
from bisect import bisect_left
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from devemu.errors import DevemuError
from devemu.scsi.block_descriptor import BlockDescriptor
from devemu.scsi.command import Command, Result
from devemu.scsi.device import LogProducer, ScsiDevice, VpdProducer
from devemu.scsi.identity import Identity
from devemu.scsi.inquiry import VERSION_SSC5
from devemu.scsi.mode_pages import ModePage, no_page_mode_page
from devemu.scsi.sense import (
    BEGINNING_OF_PARTITION_MEDIUM_DETECTED,
    CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT_DATA_PROTECT,
    END_OF_DATA_DETECTED,
    END_OF_PARTITION_MEDIUM_DETECTED,
    FILEMARK_DETECTED,
    INCOMPATIBLE_MEDIUM_INSTALLED,
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    LOGICAL_UNIT_NOT_READY_INITIALIZING_COMMAND_REQUIRED,
    MEDIUM_NOT_PRESENT,
    MEDIUM_REMOVAL_PREVENTED,
    NO_ADDITIONAL_SENSE,
    NOT_READY_TO_READY_CHANGE,
    POSITION_PAST_BEGINNING_OF_MEDIUM,
    VOLUME_OVERFLOW_END_OF_PARTITION,
    WORM_MEDIUM_OVERWRITE_ATTEMPTED,
    WRITE_PROTECTED,
    SenseError,
    cdb_field,
    param_field,
)
from devemu.scsi.spc import SPC_COMMANDS
from devemu.scsi.table import SERVICE_ACTION_IN_BYTE1, CommandSpec, CommandTable
from devemu.scsi.vpd import vpd_page
from devemu.tape import attribute_commands, log_pages, pages
from devemu.tape.cartridge import FILEMARK, Cartridge, PartitionIndex
from devemu.tape.cdbs import (
    DestType,
    Erase6,
    FormatMedium,
    LoadUnload,
    Locate10,
    Locate16,
    PreventAllowMediumRemoval,
    ReadBlockLimits,
    ReadPosition,
    ReadPositionForm,
    ReportDensitySupport,
    Rewind,
    Space6,
    Space16,
    SpaceCode,
    WriteFilemarks6,
    WriteFilemarks16,
    transfer_length_6,
)
from devemu.tape.media import DriveType, drive_type
from devemu.tape.opcodes import Opcode
from devemu.tape.positioning import (
    Motion,
    Stop,
    locate_file,
    locate_object,
    space_blocks,
    space_filemarks,
    space_sequential_filemarks,
    space_to_eod,
)

SEQUENTIAL_ACCESS_DEVICE = 0x01
#: READ BLOCK LIMITS: the largest block (8 MiB) and the smallest.
MAXIMUM_BLOCK_LENGTH = 0x800000
MINIMUM_BLOCK_LENGTH = 1
MAXIMUM_LOGICAL_OBJECT_IDENTIFIER = 0xFFFFFFFE
#: Early warning sits this far before the end of a partition (at most 1 GiB).
EARLY_WARNING_FRACTION = 64
EARLY_WARNING_MAXIMUM = 1 << 30
#: TapeAlert flags this drive raises (SSC-5 annex A): 9 write protect.
TAPEALERT_WRITE_PROTECT = 0x09
SUPPORTED_TAPEALERTS = frozenset({TAPEALERT_WRITE_PROTECT})


def early_warning_margin(capacity: int) -> int:
    """Bytes between early warning and the physical end of a partition."""
    return min(capacity // EARLY_WARNING_FRACTION, EARLY_WARNING_MAXIMUM)


def _window(iov: Sequence[memoryview], start: int, length: int) -> list[memoryview]:
    """``length`` bytes of a buffer list starting at byte ``start``."""
    if len(iov) == 1:
        return [iov[0][start : start + length]]
    out = []
    for buf in iov:
        if length <= 0:
            break
        if start >= len(buf):
            start -= len(buf)
            continue
        piece = buf[start : start + length]
        out.append(piece)
        length -= len(piece)
        start = 0
    return out


class TapeDrive(ScsiDevice):
    """An LTO tape drive; see the module notes for its states."""

    peripheral_type: ClassVar[int] = SEQUENTIAL_ACCESS_DEVICE
    removable: ClassVar[bool] = True
    version_descriptors: ClassVar[tuple[int, ...]] = (VERSION_SSC5,)

    def __init__(
        self, identity: Identity, drive_type: str = "LTO-8", state_dir: Path | None = None
    ) -> None:
        self.drive_type: DriveType = _drive_type(drive_type)
        self._lock = threading.RLock()
        self.cartridge: Cartridge | None = None
        self._path: Path | None = None
        self._threaded = False
        self._ejected = False
        self._prevent = False
        self.partition = 0
        self.position = 0
        self.block_length = 0
        self.buffered_mode = 1
        self.speed = 0
        self.counters = log_pages.TapeCounters()
        self._load_written = 0
        self._load_read = 0
        super().__init__(identity)
        self.state_file = (
            Path(state_dir) / f"drive-{identity.serial}.json" if state_dir is not None else None
        )
        self._restore_state()

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
        return self.cartridge is not None and self._ejected

    @property
    def removal_prevented(self) -> bool:
        """PREVENT ALLOW MEDIUM REMOVAL from the host (SPC-5 6.15)."""
        return self._prevent

    @property
    def ready(self) -> bool:
        return self.cartridge is not None and self._threaded and self._readable()

    def load(self, path: Path) -> None:
        """Insert and thread a cartridge: position BOP, UA NOT READY TO READY CHANGE.

        Loading the cartridge the drive already holds re-threads it. A
        different cartridge while one is in the drive is a DevemuError; a
        bad file is an ImageError.
        """
        path = Path(path)
        with self._lock:
            if self.cartridge is not None:
                if self._path is not None and self._same(path, self._path):
                    self._thread()
                    return
                raise DevemuError(f"drive {self.identity.serial} already holds {self._path}")
            read_only = _write_protected(path)
            self.cartridge = Cartridge.open(path, read_only=read_only)
            self._path = path
            self._thread()
            self._save_state()

    def unload(self) -> Path | None:
        """Take the cartridge out (flushing everything); its path, or None."""
        with self._lock:
            cart = self.cartridge
            if cart is None:
                return None
            path = self._path
            try:
                self._record_unload(cart)
            finally:
                cart.close()
                self.cartridge = None
                self._path = None
                self._threaded = self._ejected = False
                self.partition = self.position = 0
                self._save_state()
            return path

    def close(self) -> None:
        """Flush and release the cartridge file, keeping it in the drive's state."""
        with self._lock:
            if self.cartridge is not None:
                self.cartridge.close()

    def status(self) -> dict[str, object]:
        """A summary for the control socket and ``devemu status``."""
        with self._lock:
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
            }

    def execute(self, cmd: Command) -> Result:
        with self._lock:
            return super().execute(cmd)

    # --- medium states --------------------------------------------------------------

    @staticmethod
    def _same(a: Path, b: Path) -> bool:
        try:
            return a.resolve() == b.resolve()
        except OSError:
            return a == b

    def _thread(self) -> None:
        cart = self.cartridge
        assert cart is not None
        self._threaded = True
        self._ejected = False
        self.partition = 0
        self.position = 0
        self._load_written = self._load_read = 0
        self._sync_partition_page()
        if self._readable() and not cart.read_only:
            attribute_commands.record_load(self, cart)
        self.unit_attentions.post(NOT_READY_TO_READY_CHANGE)

    def _readable(self) -> bool:
        cart = self.cartridge
        return cart is not None and self.drive_type.can_read(cart.medium)

    def writable(self) -> bool:
        cart = self.cartridge
        return cart is not None and not cart.read_only and self.drive_type.can_write(cart.medium)

    def check_ready(self) -> None:
        """NOT READY unless a readable cartridge is threaded (SSC-5 4.2.1)."""
        if self.cartridge is None or self._ejected:
            raise SenseError(MEDIUM_NOT_PRESENT)
        if not self._threaded:
            raise SenseError(LOGICAL_UNIT_NOT_READY_INITIALIZING_COMMAND_REQUIRED)
        if not self._readable():
            raise SenseError(INCOMPATIBLE_MEDIUM_INSTALLED)

    def _cart(self) -> Cartridge:
        cart = self.cartridge
        assert cart is not None
        return cart

    def _part(self) -> PartitionIndex:
        return self._cart().partitions[self.partition]

    def _record_unload(self, cart: Cartridge) -> None:
        if self._readable() and not cart.read_only and not cart.closed:
            attribute_commands.record_unload(self, cart)

    # --- persisted state -------------------------------------------------------------

    def _save_state(self) -> None:
        if self.state_file is None:
            return
        state = {
            "cartridge": str(self._path) if self._path else None,
            "block_length": self.block_length,
            "buffered_mode": self.buffered_mode,
        }
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_name(self.state_file.name + ".new")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_file)

    def _restore_state(self) -> None:
        if self.state_file is None or not self.state_file.exists():
            return
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
            self.block_length = int(state.get("block_length", 0))
            self.buffered_mode = int(state.get("buffered_mode", 1))
            cartridge = state.get("cartridge")
        except (ValueError, TypeError, AttributeError) as err:
            self.log.warning("ignoring unreadable drive state %s: %s", self.state_file, err)
            return
        if cartridge and Path(cartridge).exists():
            self.load(Path(cartridge))
            self.unit_attentions.reset()

    # --- SPC hooks --------------------------------------------------------------------

    def make_mode_pages(self) -> list[ModePage]:
        partition_page = pages.medium_partition_page(self._max_additional(), 0)
        partition_page.on_change = self._check_partition_page
        compression = pages.data_compression_page()
        return [
            compression,
            pages.device_configuration_page(),
            partition_page,
            pages.informational_exceptions_page(),
            # Linux st opens with MODE SENSE(6) page 0: header and block descriptor.
            no_page_mode_page(),
        ]

    def _max_additional(self) -> int:
        cart: Cartridge | None = getattr(self, "cartridge", None)
        if cart is not None:
            return cart.medium.max_partitions - 1
        return 3 if self.drive_type.generation >= 6 else 1

    def _sync_partition_page(self) -> None:
        """Page 0x11 and the active partition describe the cartridge in the drive."""
        cart = self.cartridge
        page = self.mode_pages.get(pages.MEDIUM_PARTITION_PAGE)
        if cart is not None and page is not None:
            caps = [p.capacity for p in cart.partitions]
            page.set_current(pages.medium_partition_body(cart.medium.max_partitions - 1, caps))
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
        return 0

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
        body = bytes(4) + pages.tapealert_bitmap(SUPPORTED_TAPEALERTS)
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
            log_pages.TAPEALERT: self._log_tapealert,
            log_pages.TAPE_CAPACITY: self._log_capacity,
        }

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

    def _log_tapealert(self) -> bytes:
        page = log_pages.tapealert_page(self.counters.tapealert)
        self.counters.tapealert.clear()
        return page

    def _log_capacity(self) -> bytes:
        cart = self.cartridge
        if cart is None:
            return log_pages.tape_capacity_page([], [])
        return log_pages.tape_capacity_page(
            [p.capacity - p.used for p in cart.partitions], [p.capacity for p in cart.partitions]
        )

    def reset_log_parameters(self) -> None:
        self.counters.reset()

    # --- writing helpers --------------------------------------------------------------

    def check_writable(self) -> None:
        """DATA PROTECT unless the cartridge may be written (SSC-5 4.2.13)."""
        cart = self._cart()
        if cart.read_only:
            self.counters.tapealert.add(TAPEALERT_WRITE_PROTECT)
            raise SenseError(WRITE_PROTECTED)
        if not self.drive_type.can_write(cart.medium):
            raise SenseError(CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT_DATA_PROTECT)

    def check_worm(self, part: PartitionIndex, position: int) -> None:
        """WORM media refuse to overwrite anything but trailing filemarks (SSC-5 4.2.22)."""
        if not self._cart().worm or position >= part.eod:
            return
        trailing = len(part.filemarks) - bisect_left(part.filemarks, position)
        if trailing != part.eod - position:
            raise SenseError(WORM_MEDIUM_OVERWRITE_ATTEMPTED)

    def in_early_warning(self, part: PartitionIndex) -> bool:
        return part.used > part.capacity - early_warning_margin(part.capacity)

    def set_position(self, motion: Motion) -> None:
        self.position = motion.position

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


# --- READ and WRITE, SSC-5 7.6 and 7.13 ------------------------------------------------------


def _read6(drive: TapeDrive, cmd: Command) -> int | Result | None:
    """READ(6): one variable block, or ``n`` fixed blocks (SSC-5 7.6)."""
    flags, length = transfer_length_6(cmd.cdb)
    fixed, sili = flags & 0x01, flags & 0x02
    if fixed and sili:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 1))
    if fixed and drive.block_length == 0:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 0))
    if length == 0:
        return None
    cart = drive._cart()
    part = cart.partitions[drive.partition]
    if fixed:
        return _read_fixed(drive, cmd, cart, part, length)
    pos = drive.position
    if pos >= part.eod:
        raise SenseError(END_OF_DATA_DETECTED, information=length, transferred=0)
    block = part.lengths[pos]
    drive.position = pos + 1
    if block == FILEMARK:
        raise SenseError(FILEMARK_DETECTED, filemark=True, information=length, transferred=0)
    iov = cmd.iov
    if len(iov) != 1 or block > length or len(iov[0]) != block:
        iov = _window(iov, 0, min(block, length))
    n = cart.read_block(drive.partition, pos, iov)
    drive.counters.bytes_read += block
    drive.counters.bytes_to_host += n
    drive._load_read += block
    if block == length:
        return n
    if block < length and sili:
        return n
    raise SenseError(NO_ADDITIONAL_SENSE, ili=True, information=length - block, transferred=n)


def _read_fixed(
    drive: TapeDrive, cmd: Command, cart: Cartridge, part: PartitionIndex, count: int
) -> int:
    size = drive.block_length
    done = 0
    pos = drive.position
    try:
        while done < count:
            if pos >= part.eod:
                raise SenseError(END_OF_DATA_DETECTED, information=count - done)
            block = part.lengths[pos]
            if block == FILEMARK:
                pos += 1
                raise SenseError(FILEMARK_DETECTED, filemark=True, information=count - done)
            cart.read_block(drive.partition, pos, _window(cmd.iov, done * size, size))
            pos += 1
            drive.counters.bytes_read += block
            if block != size:
                raise SenseError(NO_ADDITIONAL_SENSE, ili=True, information=count - done)
            done += 1
    except SenseError as err:
        err.transferred = done * size
        raise
    finally:
        drive.position = pos
        drive.counters.bytes_to_host += done * size
        drive._load_read += done * size
    return done * size


def _write6(drive: TapeDrive, cmd: Command) -> None:
    """WRITE(6): one variable block, or ``n`` fixed blocks (SSC-5 7.13)."""
    flags, length = transfer_length_6(cmd.cdb)
    fixed = flags & 0x01
    if fixed and drive.block_length == 0:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 0))
    if not fixed and length > MAXIMUM_BLOCK_LENGTH:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2))
    drive.check_writable()
    if length == 0:
        return
    size = drive.block_length if fixed else length
    count = length if fixed else 1
    if cmd.data_length < size * count:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2))
    cart = drive._cart()
    part = cart.partitions[drive.partition]
    drive.check_worm(part, drive.position)
    ew = early_warning_margin(part.capacity)
    for k in range(count):
        pos = drive.position
        before = part.cum[pos]
        if before + size > part.capacity:
            raise SenseError(
                VOLUME_OVERFLOW_END_OF_PARTITION,
                eom=True,
                information=(count - k) if fixed else length,
            )
        cart.write_block(drive.partition, pos, _window(cmd.iov, k * size, size))
        drive.position = pos + 1
        drive.counters.bytes_from_host += size
        drive.counters.bytes_written += size
        drive._load_written += size
    if drive.buffered_mode == 0:
        cart.flush()
    if part.used > part.capacity - ew:
        raise SenseError(END_OF_PARTITION_MEDIUM_DETECTED, eom=True, information=0)


def _write_filemarks(drive: TapeDrive, count: int, immed: bool) -> None:
    cart = drive._cart()
    part = cart.partitions[drive.partition]
    if count:
        drive.check_writable()
        drive.check_worm(part, drive.position)
        cart.write_filemarks(drive.partition, drive.position, count)
        drive.position += count
    if not immed or drive.buffered_mode == 0:
        cart.flush()
    if count and drive.in_early_warning(part):
        raise SenseError(END_OF_PARTITION_MEDIUM_DETECTED, eom=True, information=0)


def _write_filemarks6(drive: TapeDrive, cmd: Command) -> None:
    """WRITE FILEMARKS(6), SSC-5 7.12: IMMED=0 synchronises even with count 0."""
    cdb = WriteFilemarks6.parse(cmd.cdb)
    _write_filemarks(drive, cdb.count, cdb.flags.immed)


def _write_filemarks16(drive: TapeDrive, cmd: Command) -> None:
    """WRITE FILEMARKS(16), SSC-5 7.13: at the position named by the CDB."""
    cdb = WriteFilemarks16.parse(cmd.cdb)
    if cdb.partition != drive.partition:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(3))
    if cdb.logical_object_identifier != drive.position:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(4))
    _write_filemarks(drive, cdb.count, cdb.flags.immed)


# --- positioning, SSC-5 7.4, 7.5, 7.8, 7.9, 7.10 -------------------------------------------


def _raise_for(motion: Motion) -> None:
    """Sense for a motion that stopped early, INFORMATION = residue."""
    if motion.stop is Stop.FILEMARK:
        raise SenseError(FILEMARK_DETECTED, filemark=True, information=motion.residual)
    if motion.stop is Stop.EOD:
        raise SenseError(END_OF_DATA_DETECTED, information=motion.residual)
    if motion.stop is Stop.BOP:
        raise SenseError(
            BEGINNING_OF_PARTITION_MEDIUM_DETECTED, eom=True, information=motion.residual
        )


def _space(drive: TapeDrive, code: int, count: int) -> None:
    part = drive._part()
    pos = drive.position
    if code == SpaceCode.BLOCKS:
        motion = space_blocks(part, pos, count)
    elif code == SpaceCode.FILEMARKS:
        motion = space_filemarks(part, pos, count)
    elif code == SpaceCode.SEQUENTIAL_FILEMARKS:
        if count < 0:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2))
        motion = space_sequential_filemarks(part, pos, count)
    elif code == SpaceCode.END_OF_DATA:
        motion = space_to_eod(part)
    else:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 3))
    drive.set_position(motion)
    _raise_for(motion)


def _space6(drive: TapeDrive, cmd: Command) -> None:
    cdb = Space6.parse(cmd.cdb)
    _space(drive, cdb.code.code, cdb.count)


def _space16(drive: TapeDrive, cmd: Command) -> None:
    cdb = Space16.parse(cmd.cdb)
    _space(drive, cdb.code.code, cdb.count)


def _change_partition(drive: TapeDrive, partition: int, byte: int) -> None:
    if partition >= drive._cart().partition_count:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(byte))
    drive.partition = partition
    drive._sync_partition_page()


def _locate10(drive: TapeDrive, cmd: Command) -> None:
    """LOCATE(10), SSC-5 7.4 (BT=1 addresses are the same logical objects)."""
    cdb = Locate10.parse(cmd.cdb)
    if cdb.flags.cp:
        _change_partition(drive, cdb.partition, 8)
    motion = locate_object(drive._part(), cdb.logical_object_identifier)
    drive.set_position(motion)
    _raise_for(motion)


def _locate16(drive: TapeDrive, cmd: Command) -> None:
    """LOCATE(16), SSC-5 7.5: to an object, a file or end of data."""
    cdb = Locate16.parse(cmd.cdb)
    dest = cdb.flags.dest_type
    if dest not in (DestType.LOGICAL_OBJECT, DestType.LOGICAL_FILE, DestType.END_OF_DATA):
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 5))
    if cdb.flags.cp:
        _change_partition(drive, cdb.partition, 3)
    part = drive._part()
    if dest == DestType.LOGICAL_OBJECT:
        motion = locate_object(part, cdb.logical_identifier)
    elif dest == DestType.LOGICAL_FILE:
        motion = locate_file(part, cdb.logical_identifier)
    else:
        motion = space_to_eod(part)
    drive.set_position(motion)
    _raise_for(motion)


def _rewind(drive: TapeDrive, cmd: Command) -> None:
    """REWIND, SSC-5 7.8: synchronise, then BOP of partition 0."""
    Rewind.parse(cmd.cdb)
    drive.synchronise()
    drive.partition = 0
    drive.position = 0
    drive._sync_partition_page()


def _read_position(drive: TapeDrive, cmd: Command) -> int:
    """READ POSITION short, long and extended forms (SSC-5 7.7)."""
    cdb = ReadPosition.parse(cmd.cdb)
    form = cdb.service_action.service_action
    if form not in tuple(ReadPositionForm):
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 4))
    part = drive._part()
    pos = drive.position
    data = pages.read_position_data(
        form,
        partition=drive.partition,
        position=pos,
        file_number=part.file_number(pos),
        bop=pos == 0,
        eop=False,
        bpew=drive.in_early_warning(part) and pos >= part.eod,
    )
    allocation = cdb.allocation_length if form == ReadPositionForm.EXTENDED else None
    return cmd.data_in(data, allocation)


def _erase(drive: TapeDrive, cmd: Command) -> None:
    """ERASE(6), SSC-5 7.2: end of data at the current position, short or long."""
    Erase6.parse(cmd.cdb)
    drive.check_writable()
    cart = drive._cart()
    part = cart.partitions[drive.partition]
    if cart.worm and drive.position < part.eod:
        raise SenseError(WORM_MEDIUM_OVERWRITE_ATTEMPTED)
    if drive.position < part.eod:
        cart.erase(drive.partition, drive.position)
    cart.flush()


def _format_medium(drive: TapeDrive, cmd: Command) -> None:
    """FORMAT MEDIUM, SSC-5 7.1: 0 one partition, 1 and 2 as page 0x11 says."""
    cdb = FormatMedium.parse(cmd.cdb)
    fmt = cdb.format.format
    if fmt not in (0, 1, 2):
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2, 3))
    drive.check_writable()
    cart = drive._cart()
    if drive.partition != 0 or drive.position != 0:
        raise SenseError(POSITION_PAST_BEGINNING_OF_MEDIUM)
    if cart.worm and any(p.eod for p in cart.partitions):
        raise SenseError(WORM_MEDIUM_OVERWRITE_ATTEMPTED)
    if fmt == 0:
        layout = [cart.capacity]
    else:
        page = drive.mode_pages.get(pages.MEDIUM_PARTITION_PAGE)
        assert page is not None
        try:
            layout = pages.partition_layout(
                bytes(page.current), cart.capacity, cart.medium.max_partitions - 1
            )
        except ValueError:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2, 3)) from None
    cart.format(layout)
    attribute_commands.record_format(drive, cart)
    drive.partition = drive.position = 0
    drive._sync_partition_page()


def _load_unload(drive: TapeDrive, cmd: Command) -> None:
    """LOAD UNLOAD, SSC-5 7.3: LOAD, RETEN, EOT, HOLD."""
    action = LoadUnload.parse(cmd.cdb).action
    if action.load and action.eot:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(4, 2))
    cart = drive.cartridge
    if cart is None:
        raise SenseError(MEDIUM_NOT_PRESENT)
    if action.load:
        if action.hold:
            drive.synchronise()
            drive._threaded = False
            drive._ejected = False
            return
        drive._threaded = True
        drive._ejected = False
        drive.partition = drive.position = 0
        drive._sync_partition_page()
        return
    if drive._ejected:
        return
    if drive._prevent and not action.hold:
        raise SenseError(MEDIUM_REMOVAL_PREVENTED)
    drive.synchronise()
    if drive._threaded:
        drive._record_unload(cart)
    drive._threaded = False
    drive._ejected = not action.hold
    drive.partition = drive.position = 0


def _prevent_allow(drive: TapeDrive, cmd: Command) -> None:
    """PREVENT ALLOW MEDIUM REMOVAL (SPC-5 6.15): 00b allow, 01b prevent."""
    prevent = PreventAllowMediumRemoval.parse(cmd.cdb).prevent.prevent
    if prevent > 1:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(4, 1))
    drive._prevent = bool(prevent)


def _read_block_limits(drive: TapeDrive, cmd: Command) -> int:
    """READ BLOCK LIMITS, SSC-5 7.6.2 (6 bytes) or 7.6.3 with MLOI (20 bytes)."""
    cdb = ReadBlockLimits.parse(cmd.cdb)
    if cdb.flags.mloi:
        data: bytes = pages.MaximumObjectIdentifier.build(
            {"maximum_logical_object_identifier": MAXIMUM_LOGICAL_OBJECT_IDENTIFIER}
        )
    else:
        data = pages.BlockLimits.build(
            {
                "granularity": {"granularity": 0},
                "maximum_block_length": MAXIMUM_BLOCK_LENGTH,
                "minimum_block_length": MINIMUM_BLOCK_LENGTH,
            }
        )
    return cmd.data_in(data)


def _report_density_support(drive: TapeDrive, cmd: Command) -> int:
    """REPORT DENSITY SUPPORT, SSC-5 6.6: the drive's densities or the medium's."""
    cdb = ReportDensitySupport.parse(cmd.cdb)
    if cdb.flags.media:
        drive.check_ready()
        media = [drive._cart().medium]
    else:
        media = drive.drive_type.densities
    data = pages.density_support(drive.drive_type, media)
    return cmd.data_in(data, cdb.allocation_length)


def _usage(*data: int) -> bytes:
    return bytes(data)


def _write_attribute_specs() -> tuple[CommandSpec, ...]:
    """WRITE ATTRIBUTE has WTC in byte 1, not a service action; fit the table's view."""
    usage = _usage(0x8D, 0x01, 0, 0, 0, 0xFF, 0, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0)
    handler = attribute_commands.write_attribute
    if Opcode.WRITE_ATTRIBUTE in SERVICE_ACTION_IN_BYTE1:
        return tuple(
            CommandSpec("WRITE ATTRIBUTE", usage, handler, service_action=sa) for sa in (0, 1)
        )
    return (CommandSpec("WRITE ATTRIBUTE", usage, handler),)


def _read_attribute_specs() -> tuple[CommandSpec, ...]:
    usage = _usage(0x8C, 0x1F, 0, 0, 0, 0xFF, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0)
    return tuple(
        CommandSpec(
            "READ ATTRIBUTE", usage, attribute_commands.read_attribute, service_action=int(sa)
        )
        for sa in attribute_commands.ReadAttributeAction
    )


SSC_COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("REWIND", _usage(0x01, 0x01, 0, 0, 0, 0), _rewind, timeout=600, needs_medium=True),
    CommandSpec(
        "FORMAT MEDIUM",
        _usage(0x04, 0x03, 0x0F, 0, 0, 0),
        _format_medium,
        timeout=600,
        needs_medium=True,
    ),
    CommandSpec("READ BLOCK LIMITS", _usage(0x05, 0x01, 0, 0, 0, 0), _read_block_limits),
    CommandSpec("READ(6)", _usage(0x08, 0x03, 0xFF, 0xFF, 0xFF, 0), _read6, needs_medium=True),
    CommandSpec("WRITE(6)", _usage(0x0A, 0x01, 0xFF, 0xFF, 0xFF, 0), _write6, needs_medium=True),
    CommandSpec(
        "WRITE FILEMARKS(6)",
        _usage(0x10, 0x01, 0xFF, 0xFF, 0xFF, 0),
        _write_filemarks6,
        needs_medium=True,
    ),
    CommandSpec(
        "SPACE(6)", _usage(0x11, 0x0F, 0xFF, 0xFF, 0xFF, 0), _space6, timeout=600, needs_medium=True
    ),
    CommandSpec("ERASE(6)", _usage(0x19, 0x03, 0, 0, 0, 0), _erase, timeout=600, needs_medium=True),
    CommandSpec("LOAD UNLOAD", _usage(0x1B, 0x01, 0, 0, 0x0F, 0), _load_unload, timeout=600),
    CommandSpec("PREVENT ALLOW MEDIUM REMOVAL", _usage(0x1E, 0, 0, 0, 0x03, 0), _prevent_allow),
    CommandSpec(
        "LOCATE(10)",
        _usage(0x2B, 0x07, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0),
        _locate10,
        timeout=600,
        needs_medium=True,
    ),
    CommandSpec(
        "READ POSITION",
        _usage(0x34, 0x1F, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0),
        _read_position,
        needs_medium=True,
    ),
    CommandSpec(
        "REPORT DENSITY SUPPORT",
        _usage(0x44, 0x01, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0),
        _report_density_support,
    ),
    CommandSpec(
        "WRITE FILEMARKS(16)",
        _usage(0x80, 0x01, 0, 0xFF, *([0xFF] * 8), 0xFF, 0xFF, 0xFF, 0),
        _write_filemarks16,
        needs_medium=True,
    ),
    *_read_attribute_specs(),
    *_write_attribute_specs(),
    CommandSpec(
        "SPACE(16)",
        _usage(0x91, 0x0F, 0, 0, *([0xFF] * 8), 0, 0, 0, 0),
        _space16,
        timeout=600,
        needs_medium=True,
    ),
    CommandSpec(
        "LOCATE(16)",
        _usage(0x92, 0x3B, 0x01, 0xFF, *([0xFF] * 8), 0, 0, 0, 0),
        _locate16,
        timeout=600,
        needs_medium=True,
    ),
)

TapeDrive.commands = CommandTable(SPC_COMMANDS, SSC_COMMANDS)

#: Commands that neither move the tape nor change it or the drive: the only
#: ones a restarted daemon may run again when it finds them half done.
REPLAYABLE_OPCODES = frozenset(
    {
        0x00,  # TEST UNIT READY
        0x03,  # REQUEST SENSE
        0x05,  # READ BLOCK LIMITS
        0x12,  # INQUIRY
        0x1A,  # MODE SENSE(6)
        0x1C,  # RECEIVE DIAGNOSTIC RESULTS
        0x34,  # READ POSITION
        0x44,  # REPORT DENSITY SUPPORT
        0x4D,  # LOG SENSE
        0x5A,  # MODE SENSE(10)
        0x5E,  # PERSISTENT RESERVE IN
        0x8C,  # READ ATTRIBUTE
        0xA0,  # REPORT LUNS
        0xA3,  # MAINTENANCE IN (REPORT SUPPORTED OPERATION CODES)
    }
)


def may_replay(cmd: Command) -> bool:
    """Replay policy for a restarted daemon: only commands that change nothing.

    READ, WRITE, WRITE FILEMARKS, SPACE, LOCATE, REWIND, ERASE, LOAD UNLOAD,
    FORMAT MEDIUM and every other command that moves the tape or changes
    state must not run twice: the daemon completes them with an error.
    """
    return bool(cmd.cdb) and cmd.cdb[0] in REPLAYABLE_OPCODES
