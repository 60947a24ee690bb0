"""The SBC-4 disk: a direct-access logical unit over an image file.

Theory of operation
-------------------
:class:`Disk` is a :class:`~devemu.scsi.device.ScsiDevice` whose command
table is the SPC set plus the SBC commands of :mod:`devemu.disk.commands`
and the copy offload commands of :mod:`devemu.disk.copy_offload`.
Its state is small: the open :class:`~devemu.disk.image.DiskImage`, the
write cache setting (WCE of the caching mode page, SBC-4 6.5.5) and
whether the unit is stopped (START STOP UNIT, SBC-4 5.25).

The handlers take operations out of the CDB and hand them to the image;
the image never sees a CDB. Checks every command shares live here:
the LBA range (SBC-4 4.5: LOGICAL BLOCK ADDRESS OUT OF RANGE, with the
first LBA outside the medium in INFORMATION), write protection (every
writing command on a read-only image ends in DATA PROTECT / WRITE
PROTECTED before anything is changed) and the length of the data-out
buffer against what the CDB asks for.

Durability: with WCE on, a write is GOOD once the data is in the host's
page cache and SYNCHRONIZE CACHE makes it durable (``fdatasync``); with
WCE off, or for a FUA write, the data reaches stable storage before
GOOD (an ``RWF_DSYNC`` write).

READ and WRITE take the dispatcher's one path like every other command:
the handler receives the LBA and length decoded by the precompiled
struct derived from the CDB declaration, checks the range and lets the
image move the data with one ``os.preadv``/``os.pwritev``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from devemu.disk.checks import out_of_range
from devemu.disk.claims import DEFAULT_STANDARDS, DISK_CLAIMS
from devemu.disk.commands import SBC_COMMANDS
from devemu.disk.copy_offload import COPY_COMMANDS, CopyManager, third_party_copy_vpd
from devemu.disk.copy_results import THIRD_PARTY_COPY_VPD
from devemu.disk.image import DiskImage
from devemu.disk.nbd import NbdImage
from devemu.disk.nbd_queue import CommandQueue
from devemu.disk.pages import (
    WCE,
    Limits,
    block_device_characteristics_vpd,
    block_limits_vpd,
    caching_page,
    logical_block_provisioning_vpd,
    read_write_error_recovery_page,
)
from devemu.disk.sanitize import SANITIZE_COMMANDS, Sanitizer
from devemu.scsi.block_descriptor import BlockDescriptor
from devemu.scsi.command import Command
from devemu.scsi.device import ScsiDevice, VpdProducer
from devemu.scsi.identity import Identity
from devemu.scsi.inquiry import Claims
from devemu.scsi.mode_pages import ModePage
from devemu.scsi.sense import (
    INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT,
    LOGICAL_UNIT_NOT_READY_INITIALIZING_COMMAND_REQUIRED,
    SenseError,
)
from devemu.scsi.spc import SPC_COMMANDS
from devemu.scsi.table import CommandTable
from devemu.tcmu.loop import CompleteAll, IoSource

#: DEVICE-SPECIFIC PARAMETER bits of the mode parameter header, SBC-4 6.5.1 table 203.
WP = 0x80
DPOFUA = 0x10


#: What a disk's blocks live on: an image file, or an NBD export (:mod:`devemu.disk.nbd`).
BlockImage = DiskImage | NbdImage


class Disk(ScsiDevice):
    """An SBC-4 direct-access block device backed by a :class:`DiskImage` or an NBD export."""

    peripheral_type: ClassVar[int] = 0x00
    removable: ClassVar[bool] = False
    commands: ClassVar[CommandTable] = CommandTable(
        SPC_COMMANDS, SBC_COMMANDS, COPY_COMMANDS, SANITIZE_COMMANDS
    )
    third_party_copy: ClassVar[bool] = True

    def __init__(
        self,
        image: BlockImage,
        identity: Identity,
        *,
        write_cache: bool = True,
        claims: Claims = DISK_CLAIMS[DEFAULT_STANDARDS],
    ) -> None:
        self.image = image
        #: VERSION and version descriptors of INQUIRY (:mod:`devemu.disk.claims`).
        self.claims = claims
        self.shift = image.shift
        self.block_size = image.block_size
        self.capacity = image.capacity
        self.read_only = image.read_only
        #: Every command that changes the medium ends in DATA PROTECT (SBC-4 4.11).
        self.write_protected = image.read_only
        self.limits = (
            image.limits()
            if isinstance(image, NbdImage)
            else Limits.for_block_size(image.block_size)
        )
        #: WCE: True while writes may stay in the page cache until flushed.
        self.write_cache = write_cache
        #: READ, WRITE and SYNCHRONIZE CACHE answered later (an NBD export on a ring).
        self.queue: CommandQueue | None = None
        self._stopped = False
        super().__init__(identity)
        #: EXTENDED COPY's reach and held results (:mod:`devemu.disk.copy_offload`).
        self.copy_manager = CopyManager(self)
        self.may_be_not_ready = False
        #: SANITIZE's state (:mod:`devemu.disk.sanitize`).
        self.sanitizer = Sanitizer(self)

    def attach_ring(self, complete_all: CompleteAll) -> IoSource | None:
        """A ring loop serves the disk: on an NBD export with a queue depth above 1, READ,
        WRITE and SYNCHRONIZE CACHE are answered later through ``complete_all`` and the
        connection is the source the loop's driver polls (:mod:`devemu.disk.nbd_queue`)."""
        image = self.image
        if self.queue is not None:
            self.queue.detach()
            self.queue = None
        if not isinstance(image, NbdImage) or image.queue_depth <= 1:
            return None
        self.queue = CommandQueue(self, image, complete_all)
        return self.queue

    def quiesce(self) -> None:
        """Wait until no request of a command answered later is in flight (their answers
        go out at the worker's next turn): what follows may touch the image from
        another thread."""
        if self.queue is not None:
            self.queue.flight.drain()

    # --- ScsiDevice hooks -----------------------------------------------------------

    def make_mode_pages(self) -> list[ModePage]:
        return [
            read_write_error_recovery_page(),
            caching_page(self.write_cache, self._caching_changed),
        ]

    def _caching_changed(self, params: bytes) -> None:
        self.write_cache = bool(params[0] & WCE)

    def vpd_pages(self) -> dict[int, VpdProducer]:
        limits = self.limits
        return {
            0xB0: lambda: block_limits_vpd(limits),
            0xB1: block_device_characteristics_vpd,
            0xB2: logical_block_provisioning_vpd,
            THIRD_PARTY_COPY_VPD: lambda: third_party_copy_vpd(self.block_size),
        }

    @property
    def stopped(self) -> bool:
        """The unit was stopped by START STOP UNIT and needs a START (SBC-4 4.19)."""
        return self._stopped

    @stopped.setter
    def stopped(self, value: bool) -> None:
        self._stopped = value
        self.may_be_not_ready = True

    def check_ready(self) -> None:
        """A sanitize's state (SBC-4 4.11), then :meth:`check_medium`."""
        condition = self.sanitizer.condition()
        if condition is not None:
            raise condition
        self.check_medium()

    def check_medium(self) -> None:
        """A stopped unit needs START STOP UNIT with START (SBC-4 4.19, 5.25)."""
        if self.stopped:
            raise SenseError(LOGICAL_UNIT_NOT_READY_INITIALIZING_COMMAND_REQUIRED)
        # Ready: the dispatcher stops asking until something changes again.
        self.may_be_not_ready = "commands" in vars(self)

    def use_table(self, table: CommandTable | None) -> None:
        """Answer from ``table`` instead of the class's (None: the class's again).

        A sanitize installs a table that refuses what SBC-4 4.11 refuses
        while it runs or after it failed: the per-command path stays the
        dispatcher's one dictionary look-up.
        """
        vars(self).pop("commands", None)
        if table is not None:
            vars(self)["commands"] = table
        self._plain = self.commands.plain
        self.may_be_not_ready = True

    def block_descriptor(self) -> BlockDescriptor:
        """Short/long LBA block descriptor: capacity and block length (SBC-4 6.5.2)."""
        return BlockDescriptor(0, self.capacity, self.block_size)

    def mode_device_specific_parameter(self) -> int:
        """WP while write protected, DPOFUA always (SBC-4 6.5.1)."""
        return (WP if self.write_protected else 0) | DPOFUA

    # --- checks shared by the handlers ------------------------------------------------

    def check_range(self, lba: int, count: int) -> None:
        """LOGICAL BLOCK ADDRESS OUT OF RANGE unless ``count`` blocks at ``lba`` exist."""
        if lba + count > self.capacity:
            raise out_of_range(lba, self.capacity)

    def check_data_out(self, cmd: Command, length: int) -> None:
        """The data-out buffer must hold exactly what the CDB asks for."""
        if cmd.data_length != length:
            raise SenseError(INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT)

    def durable(self, fua: bool) -> bool:
        """Must this write reach stable storage before GOOD? (FUA, or WCE off)."""
        return fua or not self.write_cache

    def set_sanitize_file(self, path: Path | None) -> None:
        """Keep the sanitize state in ``path``; a sanitize found running there resumes."""
        self.sanitizer.set_file(path)

    def close(self) -> None:
        self.sanitizer.stop()
        self.image.close()
