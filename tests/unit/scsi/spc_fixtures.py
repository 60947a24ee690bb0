"""Small logical units over the SPC table, and a way to run one CDB on them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from devemu.scsi.block_descriptor import BlockDescriptor
from devemu.scsi.command import Command, Status, answered
from devemu.scsi.device import ScsiDevice
from devemu.scsi.identity import Identity
from devemu.scsi.mode_pages import ModePage
from devemu.scsi.sense import SenseCode, parse_sense
from devemu.scsi.spc import SPC_COMMANDS
from devemu.scsi.table import CommandTable

IDENTITY = Identity("DEVEMU", "SPC TEST UNIT", "0102", "SN0001")


class SpcDevice(ScsiDevice):
    """A logical unit with only the SPC commands, a tape-like descriptor and one page."""

    peripheral_type: ClassVar[int] = 0x01
    commands: ClassVar[CommandTable] = CommandTable(SPC_COMMANDS)
    version_descriptors: ClassVar[tuple[int, ...]] = (0x05A0,)

    def __init__(self, identity: Identity = IDENTITY, **kwargs: object) -> None:
        self.descriptor = BlockDescriptor(0x5A, 0, 512)
        self.header_seen: list[tuple[int, int]] = []
        self.log_resets = 0
        self.self_tests = 0
        super().__init__(identity, **kwargs)  # type: ignore[arg-type]

    def make_mode_pages(self) -> list[ModePage]:
        # A saveable vendor page 0x20 of 2 bytes, first byte changeable.
        return [ModePage(0x20, b"\x11\x22", b"\xff\x00", saveable=True)]

    def block_descriptor(self) -> BlockDescriptor:
        return self.descriptor

    def block_descriptor_changeable(self) -> BlockDescriptor:
        return BlockDescriptor(0xFF, 0, 0xFFFFFF)

    def apply_block_descriptor(self, descriptor: BlockDescriptor) -> None:
        self.descriptor = descriptor

    def mode_medium_type(self) -> int:
        return 0x00

    def mode_device_specific_parameter(self) -> int:
        return 0x10

    def apply_mode_header(self, medium_type: int, device_specific_parameter: int) -> None:
        self.header_seen.append((medium_type, device_specific_parameter))

    def vpd_pages(self) -> dict[int, Callable[[], bytes]]:
        return {0xB0: lambda: bytes([0x01, 0xB0, 0x00, 0x02, 0xAA, 0xBB])}

    def log_pages(self) -> dict[int, Callable[[], bytes]]:
        page = bytes([0x0D, 0x00, 0x00, 0x0C])
        page += bytes([0x00, 0x00, 0x03, 0x02, 0x00, 0x19])  # temperature 25
        page += bytes([0x00, 0x01, 0x03, 0x02, 0x00, 0x3C])  # reference 60
        return {0x0D: lambda: page}

    def reset_log_parameters(self) -> None:
        self.log_resets += 1

    def self_test(self) -> None:
        self.self_tests += 1


class DiskLikeDevice(SpcDevice):
    """Direct access: short and long LBA block descriptors."""

    peripheral_type: ClassVar[int] = 0x00

    def __init__(self, identity: Identity = IDENTITY, **kwargs: object) -> None:
        super().__init__(identity, **kwargs)
        self.descriptor = BlockDescriptor(0, 0x1_0000_0000, 4096)

    def block_descriptor_changeable(self) -> BlockDescriptor:
        return BlockDescriptor()


@dataclass
class Answer:
    status: Status
    sense: bytes
    data: bytes

    @property
    def code(self) -> SenseCode | None:
        return parse_sense(self.sense)[0] if self.sense else None

    @property
    def fields(self) -> dict[str, object]:
        return parse_sense(self.sense)[1] if self.sense else {}

    @property
    def pointer(self) -> bytes | None:
        value = self.fields.get("sense_key_specific")
        assert value is None or isinstance(value, bytes)
        return value


Run = Callable[..., Answer]


def execute(
    device: ScsiDevice,
    cdb: bytes | list[int],
    data_out: bytes | None = None,
    alloc: int = 4096,
    nexus: str = "",
) -> Answer:
    buf = bytearray(data_out) if data_out is not None else bytearray(alloc)
    result = answered(device.execute(Command(bytes(cdb), [memoryview(buf)], nexus=nexus)))
    n = result.data_in_length or 0
    data = b"" if data_out is not None else bytes(buf[:n])
    return Answer(result.status, result.sense, data)
