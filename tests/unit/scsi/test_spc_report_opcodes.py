"""REPORT SUPPORTED OPERATION CODES (SPC-5 6.35): every format, generated from the table."""

from __future__ import annotations

import pytest

from devemu.scsi.command import Status
from devemu.scsi.report_opcodes import CommandDescriptor, OneCommandHeader, TimeoutsDescriptor
from devemu.scsi.sense import INVALID_FIELD_IN_CDB
from tests.unit.scsi.spc_fixtures import Run, SpcDevice

H = bytes.fromhex
TIMEOUTS_30 = H("000a00000000001e0000001e")


def rsoc(options: int, opcode: int = 0, sa: int = 0, alloc: int = 8192) -> list[int]:
    return [0xA3, 0x0C, options, opcode, sa >> 8, sa & 0xFF, *alloc.to_bytes(4, "big"), 0, 0]


def test_all_commands_matches_table(dev: SpcDevice, run: Run) -> None:
    data = run(dev, rsoc(0)).data
    length = int.from_bytes(data[:4], "big")
    assert length == len(data) - 4 == 8 * len(dev.commands)
    seen = []
    for pos in range(4, len(data), 8):
        desc = CommandDescriptor.parse(data[pos : pos + 8])
        assert not desc.flags.ctdp
        sa = desc.service_action if desc.flags.servactv else None
        seen.append((desc.operation_code, sa, desc.cdb_length))
    assert seen == [(s.opcode, s.service_action, s.length) for s in dev.commands]
    assert data[4:12] == H("0000000000000006")  # TEST UNIT READY


def test_all_commands_with_timeouts(dev: SpcDevice, run: Run) -> None:
    data = run(dev, rsoc(0x80)).data
    assert int.from_bytes(data[:4], "big") == 20 * len(dev.commands)
    assert data[4:24] == H("0000000000020006") + TIMEOUTS_30
    parsed = TimeoutsDescriptor.parse(data[12:24])
    assert parsed.nominal_timeout == parsed.recommended_timeout == 30
    assert TimeoutsDescriptor.build(parsed) == TIMEOUTS_30


@pytest.mark.parametrize(
    ("cdb", "golden"),
    [
        (rsoc(1, 0x12), H("000300061201ffffff00")),
        (rsoc(0x81, 0x12), H("008300061201ffffff00") + TIMEOUTS_30),
        (rsoc(1, 0xC0), H("00010000")),
        (rsoc(2, 0x5E, 1), H("0003000a5e010000000000ffff00")),
        (rsoc(2, 0x5E, 9), H("00010000")),
        (rsoc(3, 0x12, 5), H("000300061201ffffff00")),
        (rsoc(3, 0x5F, 3), H("0003000a5f03ff0000ffffffff00")),
        (rsoc(3, 0xC0, 0), H("00010000")),
    ],
)
def test_one_command_formats(dev: SpcDevice, run: Run, cdb: list[int], golden: bytes) -> None:
    answer = run(dev, cdb)
    assert answer.status == Status.GOOD
    assert answer.data == golden
    head = OneCommandHeader.parse(golden)
    assert OneCommandHeader.build(head) == golden[:4]
    assert len(golden) == 4 + head.cdb_size + (12 if head.flags.ctdp else 0)


def test_one_command_usage_is_the_table_usage(dev: SpcDevice, run: Run) -> None:
    for spec in dev.commands:
        sa = spec.service_action
        option = 1 if sa is None else 2
        data = run(dev, rsoc(option, spec.opcode, sa or 0)).data
        assert data[4:] == spec.usage, spec.name


@pytest.mark.parametrize(
    ("cdb", "pointer"),
    [
        (rsoc(1, 0x5E), H("c00003")),  # opcode with service actions
        (rsoc(2, 0x12), H("c00003")),  # opcode without service actions
        (rsoc(4), H("ca0002")),  # reserved reporting option
        (rsoc(0x08), H("cb0002")),  # reserved bit in byte 2
    ],
)
def test_refusals(dev: SpcDevice, run: Run, cdb: list[int], pointer: bytes) -> None:
    answer = run(dev, cdb)
    assert answer.code == INVALID_FIELD_IN_CDB
    assert answer.pointer == pointer


def test_allocation_length_truncates(dev: SpcDevice, run: Run) -> None:
    full = run(dev, rsoc(0)).data
    assert run(dev, rsoc(0, alloc=10)).data == full[:10]
