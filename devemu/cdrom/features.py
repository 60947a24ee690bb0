"""GET CONFIGURATION and the feature descriptors of the drive (MMC-6 6.5, 5.3).

Each feature is a :class:`Feature` value: its code, version, whether it
is persistent, whether it is current with the loaded medium, and its
additional data. RT 0 returns every feature from the starting feature
number on, RT 1 only the current ones, RT 2 the one feature asked for
(MMC-6 table 85). The header carries the current profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from construct import Int8ub, Int16ub, Int32ub, Padding, Struct

from devemu.cdrom.profiles import REWRITABLE, SUPPORTED, SUPPORTED_WRITER, Profile
from devemu.scsi.command import Command
from devemu.scsi.sense import INVALID_FIELD_IN_CDB, SenseError, cdb_field

if TYPE_CHECKING:
    from devemu.cdrom.device import CdromDevice

#: MMC-6 table 86: feature header.
FeatureHeader = Struct(
    "data_length" / Int32ub,
    Padding(2),
    "current_profile" / Int16ub,
)

#: MMC-6 table 87: feature descriptor generic format.
FeatureDescriptorHeader = Struct(
    "code" / Int16ub,
    "flags" / Int8ub,
    "additional_length" / Int8ub,
)

PROFILE_LIST = 0x0000
CORE = 0x0001
MORPHING = 0x0002
REMOVABLE_MEDIUM = 0x0003
RANDOM_READABLE = 0x0010
MULTI_READ = 0x001D
CD_READ = 0x001E
DVD_READ = 0x001F
INCREMENTAL_STREAMING_WRITABLE = 0x0021
DVD_PLUS_R = 0x002B
CD_TRACK_AT_ONCE = 0x002D
CD_MASTERING = 0x002E
DVD_R_RW_WRITE = 0x002F
CD_RW_MEDIA_WRITE_SUPPORT = 0x0037
BD_READ = 0x0040
BD_WRITE = 0x0041
POWER_MANAGEMENT = 0x0100
CD_EXTERNAL_AUDIO_PLAY = 0x0103
TIMEOUT = 0x0105
DVD_CSS = 0x0106
REAL_TIME_STREAMING = 0x0107
DRIVE_SERIAL_NUMBER = 0x0108

#: Removable medium feature byte 4: tray mechanism (001b), Load, Eject, Lock (MMC-6 table 97).
REMOVABLE_TRAY = 0x20 | 0x10 | 0x08 | 0x01
#: Real Time Streaming byte 4 (MMC-6 table 185): SCS (SET CD SPEED).
REAL_TIME_STREAMING_FLAGS = 0x08
#: ... and, on a drive that records, WSPD (GET PERFORMANCE type 03h) and SW (SET STREAMING write).
STREAMING_WRITE_FLAGS = 0x02 | 0x01
#: Core feature: physical interface standard "SCSI family" (MMC-6 table 93).
INTERFACE_SCSI = 0x00000001


@dataclass(frozen=True, slots=True)
class Feature:
    code: int
    version: int
    persistent: bool
    current: bool
    data: bytes = b""

    def encode(self) -> bytes:
        flags = (
            (self.version << 2) | (0x02 if self.persistent else 0) | (0x01 if self.current else 0)
        )
        head: bytes = FeatureDescriptorHeader.build(
            {"code": self.code, "flags": flags, "additional_length": len(self.data)}
        )
        return head + self.data


#: Data block types a TAO write takes (MMC-6 5.3.17): bit n for type n (00h raw, 08h Mode 1).
DATA_BLOCK_TYPES = (1 << 0) | (1 << 8)
#: CD Track at Once byte 4 (MMC-6 table 152): Test Write, CD-RW.
TAO_FLAGS = 0x04 | 0x02
#: CD Mastering byte 4 (MMC-6 table 154): SAO, Test Write, CD-RW.
MASTERING_FLAGS = 0x20 | 0x04 | 0x02
#: The longest cue sheet SEND CUE SHEET takes: 99 tracks of a few entries.
MAX_CUE_SHEET = 0x1000
#: CD-RW subtypes written (MMC-6 table 164): 0 (standard speed), 1 (high speed).
CD_RW_SUBTYPES = 0x03
#: Link size of incremental recording (MMC-6 5.3.17): 7 blocks on CD, 16 (an ECC block) on DVD-R.
CD_LINK_SIZE = 7
DVD_LINK_SIZE = 16
#: DVD+R byte 4 (MMC-6 5.3.22): Write.
DVD_PLUS_R_WRITE = 0x01
#: DVD-R/-RW Write byte 4 (MMC-6 5.3.26): BUFE, Test Write, DVD-RW SL (writes and erases
#: DVD-RW).
DVD_R_WRITE_FLAGS = 0x40 | 0x04 | 0x02
#: The profiles recorded incrementally, Rzone after Rzone (MMC-6 4.5.3): DVD-R and DVD-RW
#: in sequential recording.
DVD_DASH_SEQUENTIAL = (Profile.DVD_R, Profile.DVD_RW_SEQUENTIAL)
#: BD class 0 support bitmap of the BD Read and BD Write features (MMC-6 5.3.31-32).
BD_CLASS0 = (1).to_bytes(2, "big")
#: The BD-RE class 0 versions read and written: 1 and 2 (the same features).
BD_RE_CLASS0 = (0x0006).to_bytes(2, "big")


def sequential_features(profile: Profile) -> list[Feature]:
    """The DVD and BD recording features of this module: DVD+R (MMC-6 5.3.22), DVD-R/-RW
    Write (5.3.26, current with a DVD-R or a sequential DVD-RW), and BD Write (5.3.32: bytes 8-15
    the BD-RE classes 0-3, 16-23 the BD-R classes), current with a BD-R or a BD-RE."""
    return [
        Feature(
            DVD_PLUS_R, 0, False, profile is Profile.DVD_PLUS_R, bytes((DVD_PLUS_R_WRITE, 0, 0, 0))
        ),
        Feature(
            DVD_R_RW_WRITE,
            1,
            False,
            profile in DVD_DASH_SEQUENTIAL,
            bytes((DVD_R_WRITE_FLAGS, 0, 0, 0)),
        ),
        Feature(
            BD_WRITE,
            1,
            False,
            profile in (Profile.BD_R, Profile.BD_RE),
            bytes(4) + BD_RE_CLASS0 + bytes(6) + BD_CLASS0 + bytes(6),
        ),
    ]


def writer_features(profile: Profile) -> list[Feature]:
    """The CD recording features (MMC-6 5.3.17, 5.3.24, 5.3.25, 5.3.30), current on CD-R/RW;
    Incremental Streaming Writable is current on DVD-R and sequential DVD-RW too, with a
    link size of 16 (growisofs and dvd+rw-format read it before they set page 05h)."""
    writable = profile in (Profile.CD_R, Profile.CD_RW)
    link = DVD_LINK_SIZE if profile in DVD_DASH_SEQUENTIAL else CD_LINK_SIZE
    return [
        Feature(
            INCREMENTAL_STREAMING_WRITABLE,
            1,
            False,
            writable or profile in DVD_DASH_SEQUENTIAL,
            DATA_BLOCK_TYPES.to_bytes(2, "big") + bytes((0, 1, link, 0, 0, 0)),
        ),
        Feature(
            CD_TRACK_AT_ONCE,
            2,
            False,
            writable,
            bytes((TAO_FLAGS, 0)) + DATA_BLOCK_TYPES.to_bytes(2, "big"),
        ),
        Feature(
            CD_MASTERING,
            1,
            False,
            writable,
            bytes((MASTERING_FLAGS,)) + MAX_CUE_SHEET.to_bytes(3, "big"),
        ),
        Feature(
            CD_RW_MEDIA_WRITE_SUPPORT,
            0,
            False,
            profile is Profile.CD_RW,
            bytes((0, CD_RW_SUBTYPES, 0, 0)),
        ),
    ]


def features(device: CdromDevice) -> list[Feature]:
    """Every feature of the drive, current flags as of now, in code order."""
    profile = device.profile
    loaded = profile is not Profile.NONE
    cd = profile.is_cd
    dvd = profile.is_dvd
    bd = profile.is_bd
    supported = (
        sorted({*SUPPORTED_WRITER, *REWRITABLE}, reverse=True) if device.writer else SUPPORTED
    )
    profiles = b"".join(
        p.to_bytes(2, "big") + bytes((0x01 if p is profile else 0, 0)) for p in supported
    )
    blocking = 32 if bd else 16 if dvd else 1
    serial = device.identity.serial.encode("ascii")
    serial = serial.ljust(-(-len(serial) // 4) * 4, b" ")
    bd_r = BD_CLASS0 if device.writer else bytes(2)
    bd_re = BD_RE_CLASS0 if device.writer else bytes(2)
    bd_classes = bytes(4) + bd_re + bytes(6) + bd_r + bytes(6) + BD_CLASS0 + bytes(6)
    streaming = REAL_TIME_STREAMING_FLAGS | (STREAMING_WRITE_FLAGS if device.writer else 0)
    found = [
        Feature(PROFILE_LIST, 0, True, True, profiles),
        Feature(CORE, 2, True, True, INTERFACE_SCSI.to_bytes(4, "big") + bytes((0x01, 0, 0, 0))),
        Feature(MORPHING, 1, True, True, bytes((0x02, 0, 0, 0))),
        Feature(REMOVABLE_MEDIUM, 2, True, True, bytes((REMOVABLE_TRAY, 0, 0, 0))),
        Feature(
            RANDOM_READABLE,
            0,
            False,
            loaded,
            (2048).to_bytes(4, "big") + blocking.to_bytes(2, "big") + bytes((0x00, 0)),
        ),
        Feature(MULTI_READ, 0, False, cd),
        Feature(CD_READ, 2, False, cd, bytes((0x03, 0, 0, 0))),
        Feature(DVD_READ, 1, False, dvd, bytes(4)),
        Feature(BD_READ, 0, False, bd, bd_classes),
        Feature(POWER_MANAGEMENT, 0, True, True),
        Feature(CD_EXTERNAL_AUDIO_PLAY, 0, False, cd, bytes((0x03, 0)) + (256).to_bytes(2, "big")),
        Feature(TIMEOUT, 0, True, True, bytes(4)),
        Feature(REAL_TIME_STREAMING, 3, False, loaded, bytes((streaming, 0, 0, 0))),
        Feature(DRIVE_SERIAL_NUMBER, 0, True, True, serial),
    ]
    if device.writer:
        found += (
            writer_features(profile)
            + sequential_features(profile)
            + overwrite.rewritable_features(device)
        )
        found.sort(key=lambda f: f.code)
    return found


def get_configuration(
    device: CdromDevice,
    cmd: Command,
    rt: int,
    starting_feature_number: int,
    allocation_length: int,
) -> int:
    """GET CONFIGURATION, MMC-6 6.5."""
    start = starting_feature_number
    if rt == 3:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 1))
    chosen = []
    for f in features(device):
        if rt == 2:
            if f.code == start:
                chosen.append(f)
        elif f.code >= start and (rt == 0 or f.current):
            chosen.append(f)
    body = b"".join(f.encode() for f in chosen)
    head: bytes = FeatureHeader.build(
        {"data_length": 4 + len(body), "current_profile": device.profile}
    )
    return cmd.data_in(head + body, allocation_length)


# Imported last: the rewritable media's features build on :class:`Feature`.
from devemu.cdrom import overwrite  # noqa: E402
