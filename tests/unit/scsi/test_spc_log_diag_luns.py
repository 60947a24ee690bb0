"""LOG SENSE/SELECT (SPC-5 6.8, 6.9), diagnostics (SPC-5 6.32, 6.42), REPORT LUNS (SPC-5 6.33)."""

from __future__ import annotations

import pytest

from devemu.scsi.command import Status
from devemu.scsi.log_sense import LogPage, log_page, log_parameter
from devemu.scsi.report_luns import LunListHeader
from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    PARAMETER_LIST_LENGTH_ERROR,
    SenseCode,
    SenseError,
    SenseKey,
)
from tests.unit.scsi.spc_fixtures import Run, SpcDevice

H = bytes.fromhex
TEMPERATURE = H("0d00000c00000302001900010302003c")


def log_sense(page: int, sub: int = 0, pointer: int = 0, alloc: int = 512) -> list[int]:
    return [0x4D, 0, 0x40 | page, sub, 0, pointer >> 8, pointer & 0xFF, alloc >> 8, alloc & 0xFF, 0]


@pytest.mark.parametrize(
    ("cdb", "golden"),
    [
        (log_sense(0), H("00000002000d")),
        (log_sense(0, 0xFF), H("40ff0006000000ff0d00")),
        (log_sense(0x0D), TEMPERATURE),
        (log_sense(0x0D, pointer=1), H("0d00000600010302003c")),
        (log_sense(0x0D, alloc=6), TEMPERATURE[:6]),
    ],
)
def test_log_sense_golden(dev: SpcDevice, run: Run, cdb: list[int], golden: bytes) -> None:
    answer = run(dev, cdb)
    assert answer.status == Status.GOOD
    assert answer.data == golden


def test_log_page_builders_match() -> None:
    params = log_parameter(0, H("0019")) + log_parameter(1, H("003c"))
    assert log_page(0x0D, params) == TEMPERATURE
    parsed = LogPage.parse(TEMPERATURE)
    assert (parsed.head.page_code, parsed.page_length) == (0x0D, 12)


@pytest.mark.parametrize(
    ("cdb", "pointer"),
    [
        (log_sense(0x2F), H("cd0002")),
        (log_sense(0x0D, 1), H("c00003")),
        (log_sense(0x0D, pointer=2), H("c00005")),
        (log_sense(0, pointer=1), H("c00005")),
        ([0x4D, 1, 0x40, 0, 0, 0, 0, 0, 64, 0], H("c80001")),  # SP: saving not supported
    ],
)
def test_log_sense_refusals(dev: SpcDevice, run: Run, cdb: list[int], pointer: bytes) -> None:
    answer = run(dev, cdb)
    assert answer.code == INVALID_FIELD_IN_CDB
    assert answer.pointer == pointer


def test_log_select(dev: SpcDevice, run: Run) -> None:
    assert run(dev, [0x4C, 0, 0x40, 0, 0, 0, 0, 0, 0, 0]).status == Status.GOOD
    assert dev.log_resets == 0
    assert run(dev, [0x4C, 2, 0x40, 0, 0, 0, 0, 0, 0, 0]).status == Status.GOOD
    assert dev.log_resets == 1
    refused = run(dev, [0x4C, 0, 0x4D, 0, 0, 0, 0, 0, 4, 0], data_out=H("0d000000"))
    assert refused.pointer == H("c00007")


def test_send_diagnostic_self_test(dev: SpcDevice, run: Run) -> None:
    assert run(dev, [0x1D, 0x04, 0, 0, 0, 0]).status == Status.GOOD
    assert run(dev, [0x1D, 0xA0, 0, 0, 0, 0]).status == Status.GOOD  # foreground short
    assert run(dev, [0x1D, 0x00, 0, 0, 0, 0]).status == Status.GOOD  # nothing asked
    assert dev.self_tests == 2


def test_self_test_failure_is_reported(run: Run) -> None:
    failed = SenseCode(SenseKey.HARDWARE_ERROR, 0x40, 0x80)

    class Failing(SpcDevice):
        def self_test(self) -> None:
            raise SenseError(failed)

    device = Failing()
    device.unit_attentions.clear()
    assert run(device, [0x1D, 0x04, 0, 0, 0, 0]).code == failed


@pytest.mark.parametrize(
    ("cdb", "data", "code", "pointer"),
    [
        ([0x1D, 0x24, 0, 0, 0, 0], None, INVALID_FIELD_IN_CDB, H("cf0001")),
        ([0x1D, 0x20, 0, 0, 0, 0], None, INVALID_FIELD_IN_CDB, H("cf0001")),  # background
        ([0x1D, 0x04, 0, 0, 4, 0], H("00000000"), INVALID_FIELD_IN_CDB, H("c00003")),
        ([0x1D, 0x00, 0, 0, 4, 0], H("00000000"), INVALID_FIELD_IN_CDB, H("cc0001")),
        ([0x1D, 0x10, 0, 0, 4, 0], H("80000000"), INVALID_FIELD_IN_PARAMETER_LIST, H("800000")),
        ([0x1D, 0x10, 0, 0, 4, 0], H("00000001"), INVALID_FIELD_IN_PARAMETER_LIST, H("800002")),
        ([0x1D, 0x10, 0, 0, 3, 0], H("000000"), PARAMETER_LIST_LENGTH_ERROR, None),
    ],
)
def test_send_diagnostic_refusals(
    dev: SpcDevice,
    run: Run,
    cdb: list[int],
    data: bytes | None,
    code: object,
    pointer: bytes | None,
) -> None:
    answer = run(dev, cdb, data_out=data) if data is not None else run(dev, cdb)
    assert answer.code == code
    assert answer.pointer == pointer


def test_diagnostic_page_zero(dev: SpcDevice, run: Run) -> None:
    assert run(dev, [0x1D, 0x10, 0, 0, 4, 0], data_out=H("00000000")).status == Status.GOOD
    assert run(dev, [0x1C, 0, 0, 0, 64, 0]).data == H("0000000100")
    assert run(dev, [0x1C, 1, 0, 0, 64, 0]).data == H("0000000100")
    assert run(dev, [0x1C, 1, 0x40, 0, 64, 0]).pointer == H("c00002")


@pytest.mark.parametrize(
    ("select", "golden"),
    [
        (0x00, H("00000008000000000000000000000000")),
        (0x02, H("00000008000000000000000000000000")),
        (0x11, H("00000008000000000000000000000000")),
        (0x01, H("0000000000000000")),
        (0x10, H("0000000000000000")),
    ],
)
def test_report_luns(dev: SpcDevice, run: Run, select: int, golden: bytes) -> None:
    answer = run(dev, [0xA0, 0, select, 0, 0, 0, 0, 0, 0, 64, 0, 0])
    assert answer.data == golden
    assert LunListHeader.build(LunListHeader.parse(golden)) == golden[:8]


def test_report_luns_refusal_and_truncation(dev: SpcDevice, run: Run) -> None:
    assert run(dev, [0xA0, 0, 0x03, 0, 0, 0, 0, 0, 0, 64, 0, 0]).pointer == H("c00002")
    assert run(dev, [0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0]).data == H("00000008")
