"""The dispatcher over the SPC table: refusals, unit attentions, internal errors.

SPC-5 4.4 (sense data, field pointers), 5.14 (unit attentions).
"""

from __future__ import annotations

from typing import ClassVar

import pytest

from devemu.scsi.command import Command, Status
from devemu.scsi.sense import (
    INTERNAL_TARGET_FAILURE,
    INVALID_COMMAND_OPERATION_CODE,
    INVALID_FIELD_IN_CDB,
    MEDIUM_NOT_PRESENT,
    MODE_PARAMETERS_CHANGED,
    POWER_ON_RESET_OR_BUS_DEVICE_RESET,
    SenseError,
    SenseKey,
)
from devemu.scsi.spc import SPC_COMMANDS, TestUnitReadyCdb
from devemu.scsi.table import CommandSpec, CommandTable
from tests.unit.scsi.spc_fixtures import Run, SpcDevice

H = bytes.fromhex
TUR = [0, 0, 0, 0, 0, 0]


def test_unknown_opcode(dev: SpcDevice, run: Run) -> None:
    answer = run(dev, [0xC5, 0, 0, 0, 0, 0])
    assert answer.code == INVALID_COMMAND_OPERATION_CODE
    assert answer.pointer == H("c00000")


def test_unknown_service_action(dev: SpcDevice, run: Run) -> None:
    answer = run(dev, [0xA3, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    assert answer.code == INVALID_FIELD_IN_CDB
    assert answer.pointer == H("cc0001")


def test_truncated_cdb(dev: SpcDevice, run: Run) -> None:
    answer = run(dev, [0x5A, 0, 0x3F, 0])
    assert answer.code == INVALID_FIELD_IN_CDB
    assert answer.pointer == H("c00000")


@pytest.mark.parametrize("spec", list(CommandTable(SPC_COMMANDS)), ids=lambda s: s.name)
def test_every_reserved_bit_is_refused_with_its_pointer(
    dev: SpcDevice, run: Run, spec: CommandSpec
) -> None:
    base = bytearray(spec.usage)
    for byte in range(1, spec.length):
        for bit in range(8):
            if spec.usage[byte] & (1 << bit):
                continue
            if spec.service_action is not None and byte == 1 and bit < 5:
                continue  # the service action field selects another command
            cdb = bytearray(len(base))
            cdb[0] = spec.opcode
            if spec.service_action is not None:
                cdb[1] = spec.service_action
            cdb[byte] |= 1 << bit
            answer = run(dev, cdb)
            assert answer.code == INVALID_FIELD_IN_CDB, (spec.name, byte, bit)
            assert answer.pointer == bytes([0xC8 | bit, 0, byte]), (spec.name, byte, bit)


def test_unit_attention_ordering(run: Run) -> None:
    device = SpcDevice()
    device.unit_attentions.post(MODE_PARAMETERS_CHANGED)
    # INQUIRY and REPORT LUNS do not take it; TEST UNIT READY does, oldest first.
    assert run(device, [0x12, 0, 0, 0, 36, 0]).status == Status.GOOD
    assert run(device, [0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0]).status == Status.GOOD
    assert run(device, TUR).code == POWER_ON_RESET_OR_BUS_DEVICE_RESET
    # REQUEST SENSE reports the next one as parameter data and clears it.
    answer = run(device, [0x03, 0, 0, 0, 18, 0])
    assert answer.status == Status.GOOD
    assert answer.data[2] == 0x06 and answer.data[12:14] == H("2a01")
    assert run(device, TUR).status == Status.GOOD


def test_unit_attention_before_invalid_opcode(run: Run) -> None:
    device = SpcDevice()
    assert run(device, [0xC5, 0, 0, 0, 0, 0]).code == POWER_ON_RESET_OR_BUS_DEVICE_RESET
    assert run(device, [0xC5, 0, 0, 0, 0, 0]).code == INVALID_COMMAND_OPERATION_CODE


def test_internal_error_is_hardware_error(run: Run) -> None:
    def broken(device: object, cmd: Command) -> None:
        raise RuntimeError("bug")

    class Broken(SpcDevice):
        commands: ClassVar[CommandTable] = CommandTable(
            SPC_COMMANDS, [CommandSpec("VENDOR", 0xC0, TestUnitReadyCdb, broken)]
        )

    device = Broken()
    device.unit_attentions.clear()
    answer = run(device, [0xC0, 0, 0, 0, 0, 0])
    assert answer.status == Status.CHECK_CONDITION
    assert answer.code == INTERNAL_TARGET_FAILURE
    assert answer.code.key == SenseKey.HARDWARE_ERROR
    assert run(device, TUR).status == Status.GOOD  # still serving


class NotReady(SpcDevice):
    def check_ready(self) -> None:
        raise SenseError(MEDIUM_NOT_PRESENT)


def test_request_sense_reports_not_ready_in_both_formats(run: Run) -> None:
    device = NotReady()
    device.unit_attentions.clear()
    assert run(device, TUR).code == MEDIUM_NOT_PRESENT
    fixed = run(device, [0x03, 0, 0, 0, 252, 0])
    assert fixed.status == Status.GOOD
    assert fixed.data == H("700002000000000a000000003a0000000000")
    descriptor = run(device, [0x03, 1, 0, 0, 252, 0])
    assert descriptor.data == H("72023a0000000000")


def test_request_sense_no_sense_and_truncation(dev: SpcDevice, run: Run) -> None:
    answer = run(dev, [0x03, 0, 0, 0, 8, 0])
    assert answer.data == H("700000000000000a")
    full = run(dev, [0x03, 1, 0, 0, 252, 0])
    assert full.data == H("7200000000000000")
    assert run(dev, TUR).status == Status.GOOD
