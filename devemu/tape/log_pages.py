"""The log pages of a tape drive, SPC-5 7.3 and SSC-5 8.2.

- 0x02 write error counter and 0x03 read error counter (SPC-5 7.3.21,
  7.3.16): no errors ever, but the bytes processed are real;
- 0x0C sequential-access device (SSC-5 8.2.3): bytes from and to the
  initiator and to and from the medium, capacities in megabytes;
- 0x12 TapeAlert response and 0x2E TapeAlert: :mod:`devemu.tape.tapealert`;
- 0x14 device statistics (SSC-5 8.2 (device statistics log page)): loads, cleanings, power-on and
  motion hours since the daemon started (devemu keeps no lifetime);
- 0x17 volume statistics (SSC-5 8.2 (volume statistics log page)): the cartridge in the drive, its
  mounts and lifetime megabytes from its MAM, and per partition (a
  partition record descriptor each) the native, used and remaining
  capacity, which LTFS reads to size its partitions and to tell a
  missing end of data;
- 0x1B data compression (SSC-5 8.2 (data compression log page)): ratios of 100 (devemu stores
  blocks as they come) and the bytes through the drive;
- 0x31 tape capacity (vendor specific, as LTO drives report it):
  remaining and maximum capacity of partitions 0 and 1 in megabytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from construct import Int8ub, Int16ub, Padding, Struct

from devemu.scsi.log_sense import log_page, log_parameter

WRITE_ERROR_COUNTER = 0x02
READ_ERROR_COUNTER = 0x03
SEQUENTIAL_ACCESS_DEVICE = 0x0C
DEVICE_STATISTICS = 0x14
VOLUME_STATISTICS = 0x17
DATA_COMPRESSION = 0x1B
TAPE_CAPACITY = 0x31

#: Counter parameters use FORMAT AND LINKING 00b (bounded data counter).
_COUNTER = 0x00
#: ASCII parameters use FORMAT AND LINKING 01b (ASCII format list, SPC-5 7.3.2.2.2).
_ASCII = 0x01

MB = 1_000_000


@dataclass(slots=True)
class TapeCounters:
    """Cumulative counters since power on or the last LOG SELECT reset."""

    bytes_from_host: int = 0
    bytes_to_host: int = 0
    bytes_written: int = 0
    bytes_read: int = 0

    def reset(self) -> None:
        self.bytes_from_host = self.bytes_to_host = 0
        self.bytes_written = self.bytes_read = 0


@dataclass(slots=True)
class DeviceCounters:
    """What the device statistics page counts, since the daemon started."""

    loads: int = 0
    started: float = 0.0
    motion_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class PartitionFigures:
    """One partition as volume statistics report it: capacities in bytes.

    ``used`` None: the partition's end of data is not known (SSC-5 8.2 (volume statistics log page):
    FFFFFFFFh in the used capacity record).
    """

    partition: int
    native: int
    used: int | None
    remaining: int


@dataclass(frozen=True, slots=True)
class VolumeFigures:
    """The cartridge in the drive, as volume statistics report it."""

    mounts: int
    written_lifetime_mb: int
    read_lifetime_mb: int
    written_load_mb: int
    read_load_mb: int
    native: int
    used: int
    serial: str
    barcode: str
    write_protected: bool
    worm: bool
    partitions: Sequence[PartitionFigures] = field(default_factory=tuple)


def error_counter_page(page_code: int, processed: int) -> bytes:
    """Write (0x02) or read (0x03) error counters: parameters 0000h-0006h."""
    values = [0, 0, 0, 0, 0, processed, 0]
    params = b"".join(
        log_parameter(code, v.to_bytes(8, "big"), _COUNTER) for code, v in enumerate(values)
    )
    return log_page(page_code, params)


def sequential_access_page(
    c: TapeCounters, *, used: int, early_warning: int, margin: int, position_bytes: int
) -> bytes:
    """SSC-5 8.2.3 table 84 parameters 0000h-0008h and 0100h."""
    params = b"".join(
        log_parameter(code, v.to_bytes(8, "big"), _COUNTER)
        for code, v in (
            (0x0000, c.bytes_from_host),
            (0x0001, c.bytes_written),
            (0x0002, c.bytes_read),
            (0x0003, c.bytes_to_host),
        )
    )
    params += b"".join(
        log_parameter(code, (v // MB).to_bytes(4, "big"), _COUNTER)
        for code, v in (
            (0x0004, used),
            (0x0005, early_warning),
            (0x0006, margin),
            (0x0007, position_bytes),
            (0x0008, 0),
        )
    )
    params += log_parameter(0x0100, bytes(8), _COUNTER)
    return log_page(SEQUENTIAL_ACCESS_DEVICE, params)


def tape_capacity_page(remaining: list[int], maximum: list[int]) -> bytes:
    """Parameters 1-2 remaining, 3-4 maximum capacity of partitions 0 and 1 (MB)."""
    rem = [*remaining[:2], 0, 0][:2]
    top = [*maximum[:2], 0, 0][:2]
    params = b"".join(
        log_parameter(code, (v // MB).to_bytes(4, "big"))
        for code, v in ((1, rem[0]), (2, rem[1]), (3, top[0]), (4, top[1]))
    )
    return log_page(TAPE_CAPACITY, params)


# --- volume statistics, SSC-5 8.2 ----------------------------------------------------

#: SSC-5 8.2, volume statistics partition record descriptor (4-byte value).
PartitionRecord = Struct(
    "descriptor_length" / Int8ub,
    Padding(1),
    "partition_number" / Int16ub,
)
PARTITION_RECORD_LENGTH = 8
#: The partition record value of a used capacity that is not known.
UNKNOWN_CAPACITY = 0xFFFFFFFF


class VolumeParameter:
    """Parameter codes of the volume statistics page, SSC-5 8.2 (volume statistics log page)."""

    PAGE_VALID = 0x0000
    THREAD_COUNT = 0x0001
    TOTAL_WRITE_RETRIES = 0x0003
    TOTAL_UNRECOVERED_WRITE_ERRORS = 0x0004
    TOTAL_SUSPENDED_WRITES = 0x0005
    TOTAL_FATAL_SUSPENDED_WRITES = 0x0006
    TOTAL_READ_RETRIES = 0x0008
    TOTAL_UNRECOVERED_READ_ERRORS = 0x0009
    LAST_MOUNT_UNRECOVERED_WRITE_ERRORS = 0x000C
    LAST_MOUNT_UNRECOVERED_READ_ERRORS = 0x000D
    LAST_MOUNT_MB_WRITTEN = 0x000E
    LAST_MOUNT_MB_READ = 0x000F
    LIFETIME_MB_WRITTEN = 0x0010
    LIFETIME_MB_READ = 0x0011
    TOTAL_NATIVE_CAPACITY = 0x0016
    TOTAL_USED_CAPACITY = 0x0017
    VOLUME_SERIAL = 0x0040
    VOLUME_BARCODE = 0x0042
    WRITE_PROTECT = 0x0080
    WORM = 0x0081
    NATIVE_CAPACITY_OF_PARTITIONS = 0x0202
    USED_CAPACITY_OF_PARTITIONS = 0x0203
    REMAINING_CAPACITY_OF_PARTITIONS = 0x0204


def partition_records(values: Sequence[tuple[int, int]]) -> bytes:
    """Partition record descriptors: (partition number, 4-byte value) each."""
    out = b""
    for number, value in values:
        head: bytes = PartitionRecord.build(
            {"descriptor_length": PARTITION_RECORD_LENGTH - 1, "partition_number": number}
        )
        out += head + min(value, UNKNOWN_CAPACITY).to_bytes(4, "big")
    return out


def _ascii(text: str, length: int) -> bytes:
    return text.encode("ascii", "replace")[:length].ljust(length)


def volume_statistics_page(volume: VolumeFigures | None) -> bytes:
    """Volume statistics (SSC-5 8.2): PAGE VALID 0 and nothing else without a cartridge."""
    if volume is None:
        return log_page(VOLUME_STATISTICS, log_parameter(VolumeParameter.PAGE_VALID, b"\x00"))
    p = VolumeParameter
    params = log_parameter(p.PAGE_VALID, b"\x01")
    # devemu's medium never needs a retry nor loses a write: the error counts are 0
    errors = (
        p.TOTAL_WRITE_RETRIES,
        p.TOTAL_UNRECOVERED_WRITE_ERRORS,
        p.TOTAL_SUSPENDED_WRITES,
        p.TOTAL_FATAL_SUSPENDED_WRITES,
        p.TOTAL_READ_RETRIES,
        p.TOTAL_UNRECOVERED_READ_ERRORS,
        p.LAST_MOUNT_UNRECOVERED_WRITE_ERRORS,
        p.LAST_MOUNT_UNRECOVERED_READ_ERRORS,
    )
    counters = (
        (p.THREAD_COUNT, volume.mounts),
        *((code, 0) for code in errors),
        (p.LAST_MOUNT_MB_WRITTEN, volume.written_load_mb),
        (p.LAST_MOUNT_MB_READ, volume.read_load_mb),
        (p.LIFETIME_MB_WRITTEN, volume.written_lifetime_mb),
        (p.LIFETIME_MB_READ, volume.read_lifetime_mb),
        (p.TOTAL_NATIVE_CAPACITY, volume.native // MB),
        (p.TOTAL_USED_CAPACITY, volume.used // MB),
    )
    params += b"".join(
        log_parameter(code, value.to_bytes(4, "big"), _COUNTER) for code, value in counters
    )
    params += log_parameter(p.VOLUME_SERIAL, _ascii(volume.serial, 32), _ASCII)
    params += log_parameter(p.VOLUME_BARCODE, _ascii(volume.barcode, 32), _ASCII)
    params += log_parameter(p.WRITE_PROTECT, bytes([volume.write_protected]))
    params += log_parameter(p.WORM, bytes([volume.worm]))
    parts = volume.partitions
    for code, values in (
        (p.NATIVE_CAPACITY_OF_PARTITIONS, [(f.partition, f.native // MB) for f in parts]),
        (
            p.USED_CAPACITY_OF_PARTITIONS,
            [(f.partition, UNKNOWN_CAPACITY if f.used is None else f.used // MB) for f in parts],
        ),
        (p.REMAINING_CAPACITY_OF_PARTITIONS, [(f.partition, f.remaining // MB) for f in parts]),
    ):
        params += log_parameter(code, partition_records(values))
    return log_page(VOLUME_STATISTICS, params)


# --- device statistics, SSC-5 8.2 -------------------------------------------------------


class DeviceParameter:
    """Parameter codes of the device statistics page, SSC-5 8.2 (device statistics log page)."""

    LIFETIME_VOLUME_LOADS = 0x0000
    LIFETIME_CLEANING_OPERATIONS = 0x0001
    LIFETIME_POWER_ON_HOURS = 0x0002
    LIFETIME_MEDIUM_MOTION_HOURS = 0x0003


def device_statistics_page(counters: DeviceCounters, power_on_hours: int) -> bytes:
    """Device statistics (SSC-5 8.2): loads, cleanings, power-on and motion hours."""
    d = DeviceParameter
    values = (
        (d.LIFETIME_VOLUME_LOADS, counters.loads),
        (d.LIFETIME_CLEANING_OPERATIONS, 0),
        (d.LIFETIME_POWER_ON_HOURS, power_on_hours),
        (d.LIFETIME_MEDIUM_MOTION_HOURS, int(counters.motion_seconds // 3600)),
    )
    params = b"".join(
        log_parameter(code, value.to_bytes(4, "big"), _COUNTER) for code, value in values
    )
    return log_page(DEVICE_STATISTICS, params)


# --- data compression, SSC-5 8.2 --------------------------------------------------------

#: A compression ratio of 1:1, times 100 (SSC-5 8.2 (data compression log page)).
NO_COMPRESSION_RATIO = 100


def data_compression_page(c: TapeCounters) -> bytes:
    """Data compression (SSC-5 8.2): ratios, then each count as MB and bytes."""
    params = b"".join(
        log_parameter(code, NO_COMPRESSION_RATIO.to_bytes(2, "big"), _COUNTER)
        for code in (0x0000, 0x0001)
    )
    for code, total in (
        (0x0002, c.bytes_to_host),
        (0x0004, c.bytes_read),
        (0x0006, c.bytes_from_host),
        (0x0008, c.bytes_written),
    ):
        params += log_parameter(code, (total // MB).to_bytes(4, "big"), _COUNTER)
        params += log_parameter(code + 1, (total % MB).to_bytes(4, "big"), _COUNTER)
    return log_page(DATA_COMPRESSION, params)
