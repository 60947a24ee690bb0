"""INQUIRY standard data (SPC-5 6.7.2) and the SPC VPD pages (SPC-5 7.7), golden bytes."""

from __future__ import annotations

import pytest

from devemu.scsi.command import Status
from devemu.scsi.inquiry import StandardInquiry, standard_inquiry_data
from devemu.scsi.sense import INVALID_FIELD_IN_CDB
from devemu.scsi.vpd import Designator, VpdPage, designator, vpd_page
from tests.unit.scsi.spc_fixtures import IDENTITY, Run, SpcDevice

H = bytes.fromhex

STANDARD = (
    H("010007125b000002")
    + b"DEVEMU  SPC TEST UNIT   0102"
    + bytes(20)
    + H("0000")
    + H("00a005c005a0")
    + bytes(10)
    + bytes(22)
)

NAA = H("60014051cb49fdbb972afc4ae406884d")
T10 = b"DEVEMU  SPC TEST UNIT   SN0001"
VPD_83 = H("01830036") + H("01030010") + NAA + H("0201001e") + T10


def test_standard_inquiry_golden(dev: SpcDevice) -> None:
    assert len(STANDARD) == 96
    assert standard_inquiry_data(dev) == STANDARD
    parsed = StandardInquiry.parse(STANDARD)
    assert parsed.peripheral.qualifier == 0
    assert parsed.peripheral.device_type == 0x01
    assert parsed.version == 0x07
    assert parsed.flags3.hisup
    assert parsed.flags3.response_data_format == 2
    assert parsed.additional_length == 91
    assert parsed.flags7.cmdque
    assert parsed.vendor == b"DEVEMU  "
    assert list(parsed.version_descriptors) == [0x00A0, 0x05C0, 0x05A0, 0, 0, 0, 0, 0]
    assert StandardInquiry.build(parsed) == STANDARD


def test_removable_sets_rmb(run: Run) -> None:
    class Removable(SpcDevice):
        removable = True

    answer = run(Removable(), [0x12, 0, 0, 0, 96, 0])
    assert answer.data[1] == 0x80


def test_version_descriptors_are_not_repeated(dev: SpcDevice) -> None:
    class Repeats(SpcDevice):
        version_descriptors = (0x00A0, 0x05C0, 0x0600)

    parsed = StandardInquiry.parse(standard_inquiry_data(Repeats()))
    assert list(parsed.version_descriptors)[:4] == [0x00A0, 0x05C0, 0x0600, 0]


@pytest.mark.parametrize("alloc", [0, 5, 36, 95, 96, 255])
def test_allocation_length_truncates(dev: SpcDevice, run: Run, alloc: int) -> None:
    answer = run(dev, [0x12, 0, 0, alloc >> 8, alloc & 0xFF, 0])
    assert answer.status == Status.GOOD
    assert answer.data == STANDARD[: min(alloc, 96)]


@pytest.mark.parametrize(
    ("page", "golden"),
    [
        (0x00, H("01000004008083b0")),
        (0x80, H("01800006") + b"SN0001"),
        (0x83, VPD_83),
        (0xB0, H("01b00002aabb")),
    ],
)
def test_vpd_pages_golden(dev: SpcDevice, run: Run, page: int, golden: bytes) -> None:
    answer = run(dev, [0x12, 1, page, 0, 255, 0])
    assert answer.status == Status.GOOD
    assert answer.data == golden
    parsed = VpdPage.parse(golden)
    assert parsed.page_code == page
    assert vpd_page(parsed.peripheral.device_type, page, parsed.body) == golden


def test_device_identification_designators_parse() -> None:
    body = VPD_83[4:]
    naa = Designator.parse(body)
    assert (naa.head.code_set, naa.kind.designator_type, naa.kind.association) == (1, 3, 0)
    assert naa.designator == IDENTITY.naa == NAA
    assert naa.designator[0] >> 4 == 6
    t10 = Designator.parse(body[20:])
    assert (t10.head.code_set, t10.kind.designator_type) == (2, 1)
    assert t10.designator == T10
    assert designator(2, 1, T10) == body[20:]


@pytest.mark.parametrize(
    ("cdb", "pointer"),
    [
        ([0x12, 1, 0x81, 0, 255, 0], H("c00002")),  # unknown VPD page
        ([0x12, 0, 0x80, 0, 255, 0], H("c00002")),  # page code without EVPD
        ([0x12, 2, 0, 0, 255, 0], H("c90001")),  # obsolete CMDDT
        ([0x12, 0, 0, 0, 255, 0x01], H("c80005")),  # LINK in the control byte
    ],
)
def test_inquiry_refusals(dev: SpcDevice, run: Run, cdb: list[int], pointer: bytes) -> None:
    answer = run(dev, cdb)
    assert answer.status == Status.CHECK_CONDITION
    assert answer.code == INVALID_FIELD_IN_CDB
    assert answer.pointer == pointer


def test_inquiry_ignores_pending_unit_attention(run: Run) -> None:
    device = SpcDevice()
    assert run(device, [0x12, 0, 0, 0, 96, 0]).status == Status.GOOD
    assert device.unit_attentions
