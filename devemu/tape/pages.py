"""Parameter data a tape drive returns, declared with construct.

READ POSITION (SSC-5 7.7.2-7.7.4), READ BLOCK LIMITS (SSC-5 7.6.2),
REPORT DENSITY SUPPORT (SSC-5 6.6.2, 6.6.3), and the drive's mode pages
(SSC-5 8.3.3 data compression, 8.3.4 device configuration, 8.3.5 medium
partition; the informational exceptions control page is SPC-5 7.5.10:
:mod:`devemu.scsi.informational_exceptions`).
"""

from __future__ import annotations

from construct import (
    BitsInteger,
    BitStruct,
    Bytes,
    Const,
    Flag,
    GreedyRange,
    Int8ub,
    Int16ub,
    Int24ub,
    Int32ub,
    Int64ub,
    Padding,
    Struct,
)

from devemu.scsi.mode_pages import ModePage
from devemu.tape.mam import ascii_value
from devemu.tape.media import DriveType, MediumType

# --- READ POSITION, SSC-5 7.7 --------------------------------------------------------

# Byte 0 of the short and the extended forms (SSC-5 7.7.2 table 46, 7.7.4 table 48).
_BUFFERED_POSITION_FLAGS = BitStruct(
    "bop" / Flag,
    "eop" / Flag,
    "locu" / Flag,
    "bycu" / Flag,
    Padding(1),
    "lolu" / Flag,
    "perr" / Flag,
    "bpew" / Flag,
)

# SSC-5 7.7.2 table 46: short form (service actions 00h and 01h), 20 bytes.
ShortPosition = Struct(
    "flags" / _BUFFERED_POSITION_FLAGS,
    "partition" / Int8ub,
    Padding(2),
    "first_location" / Int32ub,
    "last_location" / Int32ub,
    Padding(1),
    "objects_in_buffer" / Int24ub,
    "bytes_in_buffer" / Int32ub,
)

# SSC-5 7.7.3 table 47: long form (service action 06h), 32 bytes.
LongPosition = Struct(
    "flags"
    / BitStruct(
        "bop" / Flag,
        "eop" / Flag,
        Padding(2),
        "mpu" / Flag,
        "lonu" / Flag,
        Padding(1),
        "bpew" / Flag,
    ),
    Padding(3),
    "partition" / Int32ub,
    "logical_object_number" / Int64ub,
    "logical_file_identifier" / Int64ub,
    "obsolete" / Const(0, Int64ub),
)

# SSC-5 7.7.4 table 48: extended form (service action 08h), 32 bytes.
ExtendedPosition = Struct(
    "flags" / _BUFFERED_POSITION_FLAGS,
    "partition" / Int8ub,
    "additional_length" / Const(0x1C, Int16ub),
    Padding(1),
    "objects_in_buffer" / Int24ub,
    "first_location" / Int64ub,
    "last_location" / Int64ub,
    "bytes_in_buffer" / Int64ub,
)


def read_position_data(
    form: int, *, partition: int, position: int, file_number: int, bop: bool, eop: bool, bpew: bool
) -> bytes:
    """The READ POSITION answer for ``form``; nothing is ever buffered."""
    flags = {"bop": bop, "eop": eop, "bpew": bpew}
    if form == 0x06:
        out: bytes = LongPosition.build(
            {
                "flags": {**flags, "mpu": False, "lonu": False},
                "partition": partition,
                "logical_object_number": position,
                "logical_file_identifier": file_number,
            }
        )
        return out
    unknown = {"locu": False, "bycu": False, "lolu": False, "perr": False}
    if form == 0x08:
        out = ExtendedPosition.build(
            {
                "flags": {**flags, **unknown},
                "partition": partition,
                "objects_in_buffer": 0,
                "first_location": position,
                "last_location": position,
                "bytes_in_buffer": 0,
            }
        )
        return out
    out = ShortPosition.build(
        {
            "flags": {**flags, **unknown},
            "partition": partition,
            "first_location": min(position, 0xFFFFFFFF),
            "last_location": min(position, 0xFFFFFFFF),
            "objects_in_buffer": 0,
            "bytes_in_buffer": 0,
        }
    )
    return out


# --- READ BLOCK LIMITS, SSC-5 7.6.2 ---------------------------------------------------

BlockLimits = Struct(
    "granularity" / BitStruct(Padding(3), "granularity" / BitsInteger(5)),
    "maximum_block_length" / Int24ub,
    "minimum_block_length" / Int16ub,
)
# SSC-5 7.6.3: with MLOI, the maximum logical object identifier.
MaximumObjectIdentifier = Struct(Padding(12), "maximum_logical_object_identifier" / Int64ub)

# --- REPORT DENSITY SUPPORT, SSC-5 6.6 ------------------------------------------------

DensityHeader = Struct("available_length" / Int16ub, Padding(2))

# SSC-5 6.6.2 table 17: density support descriptor, 52 bytes.
DensityDescriptor = Struct(
    "primary_density_code" / Int8ub,
    "secondary_density_code" / Int8ub,
    "flags" / BitStruct("wrtok" / Flag, "dup" / Flag, "deflt" / Flag, Padding(4), "dlv" / Flag),
    "descriptor_length" / Int16ub,
    "bits_per_mm" / Int24ub,
    "media_width" / Int16ub,
    "tracks" / Int16ub,
    "capacity" / Int32ub,
    "assigning_organization" / Bytes(8),
    "density_name" / Bytes(8),
    "description" / Bytes(20),
)
DENSITY_DESCRIPTOR_LENGTH = 52


def density_descriptor(medium: MediumType, *, writable: bool, default: bool) -> bytes:
    out: bytes = DensityDescriptor.build(
        {
            "primary_density_code": medium.density_code,
            "secondary_density_code": medium.density_code,
            "flags": {"wrtok": writable, "dup": False, "deflt": default, "dlv": True},
            "descriptor_length": DENSITY_DESCRIPTOR_LENGTH - 3,
            "bits_per_mm": medium.bits_per_mm,
            "media_width": medium.width,
            "tracks": medium.tracks,
            "capacity": medium.capacity // 1_000_000,
            "assigning_organization": ascii_value(medium.assigning_organization, 8),
            "density_name": ascii_value(medium.density_name, 8),
            "description": ascii_value(medium.description, 20),
        }
    )
    return out


def density_support(drive: DriveType, media: list[MediumType]) -> bytes:
    """REPORT DENSITY SUPPORT data for the given densities."""
    body = b"".join(
        density_descriptor(m, writable=drive.can_write(m), default=m.name == drive.native)
        for m in media
    )
    head: bytes = DensityHeader.build({"available_length": len(body) + 2})
    return head + body


# SSC-5 6.6.3: medium type descriptor, 56 bytes.
MediumTypeDescriptor = Struct(
    "medium_type" / Int8ub,
    Padding(1),
    "descriptor_length" / Int16ub,
    "number_of_density_codes" / Int8ub,
    "primary_density_codes" / Bytes(9),
    "media_width" / Int16ub,
    "medium_length" / Int16ub,
    Padding(2),
    "assigning_organization" / Bytes(8),
    "medium_type_name" / Bytes(8),
    "description" / Bytes(20),
)
MEDIUM_TYPE_DESCRIPTOR_LENGTH = 56


def medium_type_descriptor(code: int, medium: MediumType, densities: list[int]) -> bytes:
    """One medium type descriptor: the cartridge, the density codes it can be written in."""
    out: bytes = MediumTypeDescriptor.build(
        {
            "medium_type": code,
            "descriptor_length": MEDIUM_TYPE_DESCRIPTOR_LENGTH - 4,
            "number_of_density_codes": len(densities),
            "primary_density_codes": bytes(densities[:9]).ljust(9, b"\0"),
            "media_width": medium.width,
            "medium_length": medium.length_m,
            "assigning_organization": ascii_value(medium.assigning_organization, 8),
            "medium_type_name": ascii_value(medium.name, 8),
            "description": ascii_value(medium.description, 20),
        }
    )
    return out


def medium_type_support(descriptors: list[bytes]) -> bytes:
    """REPORT DENSITY SUPPORT data of the MEDIUM TYPE form (SSC-5 6.6.3)."""
    body = b"".join(descriptors)
    head: bytes = DensityHeader.build({"available_length": len(body) + 2})
    return head + body


# --- mode pages, SSC-5 8.3 -------------------------------------------------------------

DATA_COMPRESSION_PAGE = 0x0F
DEVICE_CONFIGURATION_PAGE = 0x10
DEVICE_CONFIGURATION_EXTENSION_SUBPAGE = 0x01
MEDIUM_PARTITION_PAGE = 0x11

# SSC-5 8.3.3 table 94: data compression mode page parameters (after the header).
DataCompression = Struct(
    "dce" / BitStruct("dce" / Flag, "dcc" / Flag, Padding(6)),
    "dde" / BitStruct("dde" / Flag, "red" / BitsInteger(2), Padding(5)),
    "compression_algorithm" / Int32ub,
    "decompression_algorithm" / Int32ub,
    Padding(4),
)

# SSC-5 8.3.4 table 97: device configuration mode page parameters.
DeviceConfiguration = Struct(
    "format" / BitStruct(Padding(1), "cap" / Flag, "caf" / Flag, "active_format" / BitsInteger(5)),
    "active_partition" / Int8ub,
    "write_buffer_full_ratio" / Int8ub,
    "read_buffer_empty_ratio" / Int8ub,
    "write_delay_time" / Int16ub,
    "flags1"
    / BitStruct(
        "obr" / Flag,
        "lois" / Flag,
        "rsmk" / Flag,
        "avc" / Flag,
        "socf" / BitsInteger(2),
        "robo" / Flag,
        "rew" / Flag,
    ),
    "gap_size" / Int8ub,
    "flags2"
    / BitStruct(
        "eod_defined" / BitsInteger(3),
        "eeg" / Flag,
        "sew" / Flag,
        "swp" / Flag,
        "baml" / Flag,
        "bam" / Flag,
    ),
    "buffer_size_at_early_warning" / Int24ub,
    "select_data_compression_algorithm" / Int8ub,
    "flags3" / Int8ub,
)

# SSC-5 8.3.5 table 99: medium partition mode page parameters, then one partition
# size descriptor per partition the drive can make (two, or four from LTO-6 on).
MediumPartition = Struct(
    "maximum_additional_partitions" / Int8ub,
    "additional_partitions_defined" / Int8ub,
    "flags"
    / BitStruct(
        "fdp" / Flag,
        "sdp" / Flag,
        "idp" / Flag,
        "psum" / BitsInteger(2),
        "pofm" / Flag,
        "clear" / Flag,
        "addp" / Flag,
    ),
    "medium_format_recognition" / Int8ub,
    "partition_units" / BitStruct(Padding(4), "units" / BitsInteger(4)),
    Padding(1),
    "partition_sizes" / GreedyRange(Int16ub),
)
#: Size descriptors of a drive that makes at most two partitions (Linux st writes two).
PARTITION_DESCRIPTORS = 2


def partition_descriptors(maximum_additional: int) -> int:
    """Size descriptors page 11h carries: one per partition the drive can make, at least two."""
    return max(PARTITION_DESCRIPTORS, maximum_additional + 1)


PSUM_BYTES, PSUM_KB, PSUM_MB, PSUM_UNITS = 0, 1, 2, 3


def data_compression_page() -> ModePage:
    default = bytes([0xC0, 0x80, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0])
    changeable = bytes([0x80, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    return ModePage(DATA_COMPRESSION_PAGE, default, changeable)


def device_configuration_page() -> ModePage:
    default: bytes = DeviceConfiguration.build(
        {
            "format": {"cap": False, "caf": False, "active_format": 0},
            "active_partition": 0,
            "write_buffer_full_ratio": 0,
            "read_buffer_empty_ratio": 0,
            "write_delay_time": 0,
            "flags1": {
                "obr": False,
                "lois": True,
                "rsmk": False,
                "avc": False,
                "socf": 0,
                "robo": False,
                "rew": False,
            },
            "gap_size": 0,
            "flags2": {
                "eod_defined": 0,
                "eeg": True,
                "sew": True,
                "swp": False,
                "baml": False,
                "bam": False,
            },
            "buffer_size_at_early_warning": 0,
            "select_data_compression_algorithm": 1,
            "flags3": 0,
        }
    )
    changeable = bytes(12) + b"\xff\x00"
    return ModePage(DEVICE_CONFIGURATION_PAGE, default, changeable)


# SSC-5 8.3 (device configuration extension mode page): its parameters (page
# length 1Ch). WRITE MODE 0h: overwrite allowed (1h, append only, is not offered);
# PEWS: the programmable early warning size, in megabytes.
DeviceConfigurationExtension = Struct(
    "flags"
    / BitStruct(Padding(4), "tarpf" / Flag, "tarpp" / Flag, "taplsd" / Flag, "tarlld" / Flag),
    "modes" / BitStruct("write_mode" / BitsInteger(4), "short_erase_mode" / BitsInteger(4)),
    "pews" / Int16ub,
    "vcelbre" / BitStruct(Padding(7), "vcelbre" / Flag),
    Padding(23),
)


def device_configuration_extension_page() -> ModePage:
    """Page 10h/01h: overwrite allowed, no programmable early warning; PEWS changeable."""
    default: bytes = DeviceConfigurationExtension.build(
        {
            "flags": {"tarpf": False, "tarpp": False, "taplsd": False, "tarlld": False},
            "modes": {"write_mode": 0, "short_erase_mode": 0},
            "pews": 0,
            "vcelbre": {"vcelbre": False},
        }
    )
    changeable = bytes([0, 0, 0xFF, 0xFF]) + bytes(len(default) - 4)
    return ModePage(
        DEVICE_CONFIGURATION_PAGE,
        default,
        changeable,
        subpage=DEVICE_CONFIGURATION_EXTENSION_SUBPAGE,
    )


def programmable_early_warning(body: bytes) -> int:
    """PEWS of page 10h/01h values, in bytes (SSC-5 4.2.x: megabytes before early warning)."""
    return int(DeviceConfigurationExtension.parse(body).pews) * 1_000_000


def medium_partition_body(
    maximum_additional: int, capacities: list[int], descriptors: int | None = None
) -> bytes:
    """Page 0x11 values describing a partition layout (sizes in MB or GB).

    ``descriptors``: how many size descriptors (default: one per partition
    ``maximum_additional`` allows, at least two); unused ones are zero.
    """
    count = descriptors or partition_descriptors(maximum_additional)
    sizes = [c // 1_000_000 for c in capacities[:count]]
    psum, units = PSUM_MB, 0
    if any(s > 0xFFFE for s in sizes):
        sizes = [c // 1_000_000_000 for c in capacities[:count]]
        psum, units = PSUM_UNITS, 9
    sizes += [0] * (count - len(sizes))
    out: bytes = MediumPartition.build(
        {
            "maximum_additional_partitions": maximum_additional,
            "additional_partitions_defined": len(capacities) - 1,
            "flags": {
                "fdp": False,
                "sdp": False,
                "idp": True,
                "psum": psum,
                "pofm": True,
                "clear": False,
                "addp": False,
            },
            "medium_format_recognition": 0x03,
            "partition_units": {"units": units},
            "partition_sizes": [min(s, 0xFFFE) for s in sizes],
        }
    )
    return out


def medium_partition_page(maximum_additional: int, capacity: int) -> ModePage:
    """Page 0x11: one partition; the layout fields and every size descriptor changeable."""
    default = medium_partition_body(maximum_additional, [capacity])
    count = partition_descriptors(maximum_additional)
    changeable = bytes([0, 0x03, 0xF8, 0, 0x0F, 0]) + b"\xff\xff" * count
    return ModePage(MEDIUM_PARTITION_PAGE, default, changeable)


def partition_layout(body: bytes, capacity: int, maximum_additional: int) -> list[int]:
    """Partition capacities (bytes) that page 0x11 values ask for (SSC-5 8.3.5).

    ValueError when the request cannot be met.
    """
    page = MediumPartition.parse(body)
    count = page.additional_partitions_defined + 1
    if count - 1 > maximum_additional:
        raise ValueError(f"{count} partitions requested, {maximum_additional + 1} possible")
    flags = page.flags
    if count == 1:
        return [capacity]
    if flags.sdp or flags.fdp:
        return [capacity // count] * count
    if not flags.idp:
        raise ValueError("more than one partition requested without FDP, SDP or IDP")
    if count > len(page.partition_sizes):
        raise ValueError(f"IDP with {count} partitions needs more size descriptors")
    unit = {
        PSUM_BYTES: 1,
        PSUM_KB: 1000,
        PSUM_MB: 1_000_000,
        PSUM_UNITS: 10**page.partition_units.units,
    }[flags.psum]
    sizes = list(page.partition_sizes)[:count]
    rest = [i for i, s in enumerate(sizes) if s == 0xFFFF]
    if len(rest) > 1:
        raise ValueError("more than one partition asks for the remaining capacity")
    fixed = sum(s * unit for i, s in enumerate(sizes) if i not in rest)
    if fixed > capacity:
        raise ValueError("partition sizes exceed the medium capacity")
    out = [s * unit for s in sizes]
    if rest:
        out[rest[0]] = capacity - fixed
    elif fixed < capacity:
        out[-1] += capacity - fixed
    if any(c == 0 for c in out):
        raise ValueError("a partition would have no capacity")
    return out


# --- VPD, SSC-5 8.4 ---------------------------------------------------------------------

SEQUENTIAL_ACCESS_CAPABILITIES = 0xB0
MANUFACTURER_SERIAL = 0xB1
TAPEALERT_SUPPORTED_FLAGS = 0xB2

# SSC-5 8.4.2 table 106: sequential-access device capabilities, after the header.
SequentialAccessCapabilities = Struct(
    "flags" / BitStruct(Padding(5), "tsmc" / Flag, "wrtm" / Flag, "worm" / Flag),
    Padding(1),
)
