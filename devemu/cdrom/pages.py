"""The mode pages of the drive (MMC-6 7), registered as ModePage values.

MODE SENSE and MODE SELECT themselves belong to the SPC part; this module
declares the pages and keeps the dynamic fields of page 0x2A (lock state,
current read speed) in step with the drive.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from construct import Bytes, Int8ub, Int16ub, Padding, Struct

from devemu.cdrom import write_pages
from devemu.scsi.mode_pages import ModePage

if TYPE_CHECKING:
    from devemu.cdrom.device import CdromDevice

READ_WRITE_ERROR_RECOVERY = 0x01
CD_DEVICE_PARAMETERS = 0x0D
CD_AUDIO_CONTROL = 0x0E
POWER_CONDITION = 0x1A
CAPABILITIES = 0x2A

#: Highest read speed reported, kB/s (48x CD).
MAX_READ_SPEED = 48 * 176
#: Highest write speed of a drive that records, kB/s (48x CD).
MAX_WRITE_SPEED = 48 * 176
#: Volume levels (MMC-6 7.3 / page 0x0E): 256.
VOLUME_LEVELS = 256
BUFFER_KB = 2048

#: MMC-6 7.3.2 (MMC-3 6.3.11, table 361): CD/DVD capabilities and mechanical status page body.
CapabilitiesPage = Struct(
    "read_media" / Int8ub,
    "write_media" / Int8ub,
    "audio_flags" / Int8ub,
    "cdda_flags" / Int8ub,
    "mechanism" / Int8ub,
    "channel_flags" / Int8ub,
    "max_read_speed" / Int16ub,
    "volume_levels" / Int16ub,
    "buffer_size" / Int16ub,
    "current_read_speed" / Int16ub,
    Padding(1),
    "digital_output" / Int8ub,
    "max_write_speed" / Int16ub,
    "current_write_speed" / Int16ub,
    "copy_management_revision" / Int16ub,
    "reserved" / Bytes(3),
    "rotation_control" / Int8ub,
    "current_write_speed_selected" / Int16ub,
    "write_speed_descriptors" / Int16ub,
)

#: read_media: DVD-ROM read, method 2, CD-RW read, CD-R read.
READ_MEDIA = 0x08 | 0x04 | 0x02 | 0x01
#: audio_flags: multi-session, mode 2 form 2, mode 2 form 1, audio play.
AUDIO_FLAGS = 0x40 | 0x20 | 0x10 | 0x01
#: cdda_flags: UPC, ISRC, C2 pointers, R-W supported, CD-DA stream accurate, CD-DA commands.
CDDA_FLAGS = 0x40 | 0x20 | 0x10 | 0x04 | 0x02 | 0x01
#: mechanism: loading mechanism type 001b (tray), eject, lock.
MECHANISM = 0x20 | 0x08 | 0x01
LOCK_STATE = 0x02
#: write_media of a drive that records: DVD-R write, test write, CD-RW write, CD-R write
#: (MMC-3 table 361).
WRITE_MEDIA = 0x10 | 0x04 | 0x02 | 0x01
#: channel_flags: separate channel mute, separate volume levels.
CHANNEL_FLAGS = 0x03


def capabilities_body(
    *,
    locked: bool = False,
    speed: int = MAX_READ_SPEED,
    writer: bool = False,
    write_speed: int = MAX_WRITE_SPEED,
) -> bytes:
    """Page 2Ah; a drive that records reports CD-R/RW writing and its write speeds."""
    write_speed = min(write_speed or MAX_WRITE_SPEED, MAX_WRITE_SPEED) if writer else 0
    out: bytes = CapabilitiesPage.build(
        {
            "read_media": READ_MEDIA,
            "write_media": WRITE_MEDIA if writer else 0,
            "audio_flags": AUDIO_FLAGS,
            "cdda_flags": CDDA_FLAGS,
            "mechanism": MECHANISM | (LOCK_STATE if locked else 0),
            "channel_flags": CHANNEL_FLAGS,
            "max_read_speed": MAX_READ_SPEED,
            "volume_levels": VOLUME_LEVELS,
            "buffer_size": BUFFER_KB,
            "current_read_speed": speed,
            "digital_output": 0,
            "max_write_speed": MAX_WRITE_SPEED if writer else 0,
            "current_write_speed": write_speed,
            "copy_management_revision": 0,
            "reserved": bytes(3),
            "rotation_control": 0,
            "current_write_speed_selected": write_speed,
            "write_speed_descriptors": 0,
        }
    )
    return out


def make_pages(
    *, writer: bool = False, incremental: Callable[[], bool] = lambda: False
) -> list[ModePage]:
    """Pages 0x01, 0x0D, 0x0E, 0x1A and 0x2A with their defaults and masks; and the
    write parameters page 0x05 on a drive that records (``incremental``: the loaded
    medium is a DVD or BD, written incrementally)."""
    extra = [write_pages.make_page(incremental)] if writer else []
    capabilities = capabilities_body(writer=writer)
    return [
        *extra,
        # MMC-6 7.3 (read/write error recovery): AWRE/ARRE off, read retry count 1.
        ModePage(
            READ_WRITE_ERROR_RECOVERY,
            bytes([0x00, 0x01, 0, 0, 0, 0, 0x00, 0, 0, 0]),
            bytes([0xFF, 0xFF, 0, 0, 0, 0, 0xFF, 0, 0, 0]),
        ),
        # MMC-3 6.3.7 (CD device parameters): inactivity timer, 60 S per M, 75 F per S.
        ModePage(
            CD_DEVICE_PARAMETERS,
            bytes([0, 0x00, 0x00, 60, 0x00, 75]),
            bytes([0, 0x0F, 0, 0, 0, 0]),
        ),
        # MMC-3 6.3.8 (CD audio control): IMMED, port 0 = left, port 1 = right, full volume.
        ModePage(
            CD_AUDIO_CONTROL,
            bytes([0x04, 0, 0, 0, 0, 0, 0x01, 0xFF, 0x02, 0xFF, 0, 0, 0, 0]),
            bytes([0x06, 0, 0, 0, 0, 0, 0x0F, 0xFF, 0x0F, 0xFF, 0x0F, 0xFF, 0x0F, 0xFF]),
        ),
        # SPC-5 7.5.13 (power condition): timers off; idle/standby bits and timers changeable.
        ModePage(
            POWER_CONDITION,
            bytes(38),
            bytes([0, 0x0F]) + b"\xff" * 8 + bytes(28),
        ),
        ModePage(CAPABILITIES, capabilities, bytes(len(capabilities))),
    ]


def update_dynamic(device: CdromDevice) -> None:
    """Refresh the lock state and read speed of page 0x2A."""
    page = device.mode_pages.get(CAPABILITIES)
    if page is not None:
        speed = min(device.read_speed, MAX_READ_SPEED)
        page.set_current(
            capabilities_body(
                locked=device.prevented,
                speed=speed,
                writer=device.writer,
                write_speed=device.write_speed,
            )
        )
