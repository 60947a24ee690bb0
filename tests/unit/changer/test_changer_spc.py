"""The changer through the ring simulator: what mtx and the Linux ch driver ask first."""

from __future__ import annotations

from pathlib import Path

import pytest

from devemu.changer.device import MediumChanger
from devemu.scsi.command import Status
from devemu.scsi.inquiry import VERSION_SMC3
from devemu.testing.simulator import RingSimulator
from tests.unit.changer.test_library_fakes import make_changer


@pytest.fixture
def sim(tmp_path: Path) -> tuple[RingSimulator, MediumChanger]:
    changer = make_changer(tmp_path)
    simulator = RingSimulator()
    simulator.attach(changer)
    return simulator, changer


def test_inquiry_is_a_removable_medium_changer(
    sim: tuple[RingSimulator, MediumChanger],
) -> None:
    s, _ = sim
    done = s.execute(bytes([0x12, 0, 0, 0, 96, 0]), data_in_length=96)
    assert done.status == Status.GOOD
    assert done.data[0] == 0x08
    assert done.data[1] & 0x80
    assert done.data[8:16] == b"DEVEMU  "
    descriptors = [int.from_bytes(done.data[i : i + 2], "big") for i in range(58, 74, 2)]
    assert VERSION_SMC3 in descriptors


def test_only_the_spc_vpd_pages(sim: tuple[RingSimulator, MediumChanger]) -> None:
    s, _ = sim
    done = s.execute(bytes([0x12, 1, 0, 0, 255, 0]), data_in_length=255)
    assert done.data == bytes([0x08, 0x00, 0x00, 0x03, 0x00, 0x80, 0x83])
    done = s.execute(bytes([0x12, 1, 0xB0, 0, 255, 0]), data_in_length=255)
    assert done.status == Status.CHECK_CONDITION


def test_mode_sense_element_address_assignment_as_mtx_asks(
    sim: tuple[RingSimulator, MediumChanger],
) -> None:
    s, _ = sim
    s.execute(bytes([0x00] * 6))  # clears the power-on unit attention
    done = s.execute(bytes([0x1A, 0x08, 0x1D, 0, 136, 0]), data_in_length=136)
    assert done.status == Status.GOOD
    assert done.data[3] == 0  # no block descriptor
    assert done.data[4:] == bytes.fromhex("1d 12 0001 0001 0400 0006 0300 0002 0100 0002 0000")
    assert done.data[0] == len(done.data) - 1


def test_mode_sense_without_dbd_has_no_block_descriptor_either(
    sim: tuple[RingSimulator, MediumChanger],
) -> None:
    s, _ = sim
    s.execute(bytes([0x00] * 6))
    done = s.execute(bytes([0x1A, 0x00, 0x3F, 0, 255, 0]), data_in_length=255)
    assert done.status == Status.GOOD
    assert done.data[3] == 0
    codes = []
    pos = 4
    while pos < len(done.data):
        codes.append(done.data[pos] & 0x3F)
        pos += 2 + done.data[pos + 1]
    assert {0x1D, 0x1E, 0x1F} <= set(codes)


def test_read_element_status_short_allocation_through_the_ring(
    sim: tuple[RingSimulator, MediumChanger],
) -> None:
    s, _ = sim
    s.execute(bytes([0x00] * 6))
    cdb = bytes.fromhex("b8 12 0000 ffff 00 000008 00 00")
    done = s.execute(cdb, data_in_length=4096)
    assert done.status == Status.GOOD
    assert len(done.data) == 8
    available = int.from_bytes(done.data[5:8], "big")
    done = s.execute(
        bytes.fromhex("b8 12 0000 ffff 00") + (available + 8).to_bytes(3, "big") + b"\0\0",
        data_in_length=4096,
    )
    assert len(done.data) == available + 8
    assert done.data[8 + 8 + 12 : 8 + 8 + 20] == b"E01001L8"


def test_report_supported_operation_codes_lists_the_smc_commands(
    sim: tuple[RingSimulator, MediumChanger],
) -> None:
    s, _ = sim
    s.execute(bytes([0x00] * 6))
    done = s.execute(bytes.fromhex("a3 0c 00 0000 00001000 00 00"), data_in_length=4096)
    assert done.status == Status.GOOD
    listed = {done.data[i] for i in range(4, len(done.data), 8)}
    assert {0x07, 0x1E, 0x2B, 0x37, 0xA5, 0xA6, 0xB8} <= listed
