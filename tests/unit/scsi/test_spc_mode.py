"""MODE SENSE / MODE SELECT 6 and 10 (SPC-5 6.11-6.14) and block descriptors (SPC-5 7.5.5)."""

from __future__ import annotations

from typing import ClassVar

import pytest

from devemu.scsi.block_descriptor import BlockDescriptor
from devemu.scsi.command import Status
from devemu.scsi.device import ScsiDevice
from devemu.scsi.identity import Identity
from devemu.scsi.mode_pages import ModePage, PageControl, no_page_mode_page
from devemu.scsi.mode_sense import OBSOLETE_LUN_BITS, ModeHeader6, ModeHeader10, ModeSense6Cdb
from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    MODE_PARAMETERS_CHANGED,
    PARAMETER_LIST_LENGTH_ERROR,
    SAVING_PARAMETERS_NOT_SUPPORTED,
)
from devemu.scsi.spc import SPC_COMMANDS
from devemu.scsi.table import CommandTable
from tests.unit.scsi.spc_fixtures import DiskLikeDevice, Run, SpcDevice

H = bytes.fromhex

CONTROL = H("0a0a02100000000000000000")
VENDOR = H("a0021122")
GENERAL_DESC = H("5a00000000000200")


@pytest.mark.parametrize(
    ("desc", "direct", "long_lba", "golden"),
    [
        (BlockDescriptor(0x5A, 0x123456, 512), False, False, H("5a12345600000200")),
        (BlockDescriptor(0, 0x12345678, 4096), True, False, H("1234567800001000")),
        (BlockDescriptor(0, 2**33, 4096), True, True, H("00000002000000000000000000001000")),
    ],
)
def test_block_descriptor_forms(
    desc: BlockDescriptor, direct: bool, long_lba: bool, golden: bytes
) -> None:
    assert desc.encode(direct_access=direct, long_lba=long_lba) == golden
    assert BlockDescriptor.decode(golden, direct_access=direct, long_lba=long_lba) == desc


def test_block_descriptor_counts_saturate() -> None:
    big = BlockDescriptor(0, 2**40, 512)
    assert big.encode(direct_access=True)[:4] == H("ffffffff")
    assert big.encode(direct_access=False)[1:4] == H("ffffff")


def test_mode_sense_6_all_pages_golden(dev: SpcDevice, run: Run) -> None:
    answer = run(dev, [0x1A, 0, 0x3F, 0, 255, 0])
    golden = H("1b001008") + GENERAL_DESC + CONTROL + VENDOR
    assert answer.status == Status.GOOD
    assert answer.data == golden
    head = ModeHeader6.parse(golden)
    assert (head.mode_data_length, head.device_specific_parameter) == (0x1B, 0x10)
    assert head.block_descriptor_length == 8


def test_mode_sense_10_dbd_one_page_golden(dev: SpcDevice, run: Run) -> None:
    answer = run(dev, [0x5A, 0x08, 0x20, 0, 0, 0, 0, 0, 255, 0])
    golden = H("000a001000000000") + VENDOR
    assert answer.data == golden
    head = ModeHeader10.parse(golden)
    assert ModeHeader10.build(head) == golden[:8]


def test_mode_sense_changeable_and_default(dev: SpcDevice, run: Run) -> None:
    changeable = run(dev, [0x1A, 0, 0x7F, 0, 255, 0]).data
    assert changeable == H("1b000008") + H("ff00000000ffffff") + H("0a0a04") + bytes(9) + H(
        "a002ff00"
    )
    dev.mode_pages.get(0x20).current[0] = 0x99  # type: ignore[union-attr]
    default = run(dev, [0x1A, 0x08, 0xA0, 0, 255, 0]).data
    assert default[4:] == VENDOR
    current = run(dev, [0x1A, 0x08, 0x20, 0, 255, 0]).data
    assert current[4:] == H("a0029922")


def test_mode_sense_long_lba_for_direct_access(disk: DiskLikeDevice, run: Run) -> None:
    long = run(disk, [0x5A, 0x10, 0x0A, 0, 0, 0, 0, 0, 255, 0]).data
    assert long[:8] == H("0022001001000010")
    assert long[8:24] == H("00000001000000000000000000001000")
    short = run(disk, [0x5A, 0x00, 0x0A, 0, 0, 0, 0, 0, 255, 0]).data
    assert short[:8] == H("001a001000000008")
    assert short[8:16] == H("ffffffff00001000")


def test_llbaa_ignored_for_other_device_types(dev: SpcDevice, run: Run) -> None:
    answer = run(dev, [0x5A, 0x10, 0x0A, 0, 0, 0, 0, 0, 255, 0]).data
    assert answer[4] == 0 and answer[6:8] == H("0008")


def test_saved_values_without_saveable_pages(run: Run) -> None:
    class Plain(ScsiDevice):
        commands: ClassVar[CommandTable] = CommandTable(SPC_COMMANDS)

    device = Plain(Identity())
    device.unit_attentions.clear()
    answer = run(device, [0x1A, 0, 0xFF, 0, 255, 0])
    assert answer.code == SAVING_PARAMETERS_NOT_SUPPORTED
    assert run(device, [0x1A, 0, 0x0A, 0, 255, 0]).data == H("0f000000") + CONTROL


def test_unknown_page_points_at_page_code(dev: SpcDevice, run: Run) -> None:
    answer = run(dev, [0x1A, 0, 0x1C, 0, 255, 0])
    assert answer.code == INVALID_FIELD_IN_CDB
    assert answer.pointer == H("cd0002")


def test_mode_sense_6_truncation(dev: SpcDevice, run: Run) -> None:
    full = run(dev, [0x1A, 0, 0x3F, 0, 255, 0]).data
    assert run(dev, [0x1A, 0, 0x3F, 0, 7, 0]).data == full[:7]


def test_select_d_sense_switches_sense_format(dev: SpcDevice, run: Run) -> None:
    page = H("0a0a06100000000000000000")
    assert run(dev, [0x15, 0x10, 0, 0, 16, 0], data_out=bytes(4) + page).status == Status.GOOD
    assert dev.descriptor_sense
    bad = run(dev, [0xFF, 0, 0, 0, 0, 0])
    assert bad.sense[0] == 0x72


def test_select_refuses_unchangeable_bit_with_pointer(dev: SpcDevice, run: Run) -> None:
    page = H("0a0a02000000000000000000")  # QUEUE ALGORITHM MODIFIER changed
    answer = run(dev, [0x15, 0x10, 0, 0, 16, 0], data_out=bytes(4) + page)
    assert answer.code == INVALID_FIELD_IN_PARAMETER_LIST
    assert answer.pointer == H("8c0007")
    assert dev.mode_pages.get(0x0A).current[1] == 0x10  # type: ignore[union-attr]


def test_select_block_descriptor_and_header(dev: SpcDevice, run: Run) -> None:
    data = H("00000008") + H("0000000000000400")
    answer = run(dev, [0x15, 0x10, 0, 0, 12, 0], data_out=data)
    assert answer.status == Status.GOOD
    assert dev.descriptor == BlockDescriptor(0x5A, 0, 1024)  # density 0 = no change
    assert dev.header_seen == [(0, 0)]
    data10 = H("0000000000000008") + H("4400000000000200")
    assert run(dev, [0x55, 0x10, 0, 0, 0, 0, 0, 0, 16, 0], data_out=data10).status == Status.GOOD
    assert dev.descriptor == BlockDescriptor(0x44, 0, 512)


def test_select_refuses_unchangeable_block_length(disk: DiskLikeDevice, run: Run) -> None:
    data = H("00000008") + H("0000000000000200")
    answer = run(disk, [0x15, 0x10, 0, 0, 12, 0], data_out=data)
    assert answer.code == INVALID_FIELD_IN_PARAMETER_LIST
    assert answer.pointer == H("800009")
    same = H("00000008") + H("0000000000001000")
    assert run(disk, [0x15, 0x10, 0, 0, 12, 0], data_out=same).status == Status.GOOD


@pytest.mark.parametrize(
    ("cdb", "data", "code", "pointer"),
    [
        ([0x15, 0x10, 0, 0, 3, 0], H("000000"), PARAMETER_LIST_LENGTH_ERROR, None),
        ([0x15, 0x10, 0, 0, 8, 0], H("0000000800000000"), PARAMETER_LIST_LENGTH_ERROR, None),
        (
            [0x15, 0x10, 0, 0, 20, 0],
            H("00000010") + bytes(16),
            INVALID_FIELD_IN_PARAMETER_LIST,
            H("800003"),
        ),
        (
            [0x55, 0x10, 0, 0, 0, 0, 0, 0, 24, 0],
            H("0000000001000010") + bytes(16),
            INVALID_FIELD_IN_PARAMETER_LIST,
            H("880004"),
        ),
        (
            [0x15, 0x10, 0, 0, 8, 0],
            H("00000000") + H("3f020000"),
            INVALID_FIELD_IN_PARAMETER_LIST,
            H("8d0004"),
        ),
    ],
)
def test_select_refusals(
    dev: SpcDevice, run: Run, cdb: list[int], data: bytes, code: object, pointer: bytes | None
) -> None:
    answer = run(dev, cdb, data_out=data)
    assert answer.code == code
    assert answer.pointer == pointer


def test_save_pages(dev: SpcDevice, run: Run) -> None:
    control = H("0a0a06100000000000000000")
    refused = run(dev, [0x15, 0x11, 0, 0, 16, 0], data_out=bytes(4) + control)
    assert refused.code == SAVING_PARAMETERS_NOT_SUPPORTED
    assert not dev.descriptor_sense
    vendor = H("20027722")  # PS is reserved in MODE SELECT and ignored
    assert run(dev, [0x15, 0x11, 0, 0, 8, 0], data_out=bytes(4) + vendor).status == Status.GOOD
    assert run(dev, [0x1A, 0x08, 0xE0, 0, 255, 0]).data[4:] == H("a0027722")
    # PF=0: the vendor-specific format is the page format.
    vendor2 = H("20025522")
    assert run(dev, [0x15, 0x00, 0, 0, 8, 0], data_out=bytes(4) + vendor2).status == Status.GOOD
    assert run(dev, [0x1A, 0x08, 0x20, 0, 255, 0]).data[4:] == H("a0025522")
    assert run(dev, [0x1A, 0x08, 0xE0, 0, 255, 0]).data[4:] == H("a0027722")


def test_mode_parameters_changed_reaches_other_nexus(dev: SpcDevice, run: Run) -> None:
    vendor = H("20027722")
    run(dev, [0x15, 0x10, 0, 0, 8, 0], data_out=bytes(4) + vendor, nexus="iqn.a")
    assert not dev.unit_attentions  # one initiator: nobody else to tell
    run(dev, [0x00, 0, 0, 0, 0, 0], nexus="iqn.b")
    run(dev, [0x15, 0x10, 0, 0, 8, 0], data_out=bytes(4) + vendor, nexus="iqn.a")
    assert not dev.unit_attentions  # nothing changed
    vendor = H("20026622")
    run(dev, [0x15, 0x10, 0, 0, 8, 0], data_out=bytes(4) + vendor, nexus="iqn.a")
    answer = run(dev, [0x00, 0, 0, 0, 0, 0], nexus="iqn.b")
    assert answer.code == MODE_PARAMETERS_CHANGED


# --- page code 00h: no page (SPC-5 7.5.1), as Linux st reads it --------------------------


class PageZeroDevice(SpcDevice):
    """A logical unit that declares vendor page 00h: header and descriptor only."""

    def make_mode_pages(self) -> list[ModePage]:
        return [*super().make_mode_pages(), no_page_mode_page()]


@pytest.fixture
def page_zero() -> PageZeroDevice:
    device = PageZeroDevice()
    device.unit_attentions.clear()
    return device


def test_st_open_mode_sense_page_zero_golden(page_zero: PageZeroDevice, run: Run) -> None:
    answer = run(page_zero, [0x1A, 0, 0x00, 0, 12, 0])  # drivers/scsi/st.c check_tape()
    golden = H("0b001008") + GENERAL_DESC
    assert answer.status == Status.GOOD
    assert answer.data == golden
    head = ModeHeader6.parse(golden)
    assert (head.mode_data_length, head.block_descriptor_length) == (11, 8)
    built = ModeHeader6.build(
        {
            "mode_data_length": 11,
            "medium_type": 0,
            "device_specific_parameter": 0x10,
            "block_descriptor_length": 8,
        }
    )
    assert built + GENERAL_DESC == golden


def test_page_zero_in_every_form(page_zero: PageZeroDevice, run: Run) -> None:
    assert run(page_zero, [0x1A, 0x08, 0x00, 0, 255, 0]).data == H("03001000")
    ten = run(page_zero, [0x5A, 0, 0x00, 0, 0, 0, 0, 0, 255, 0]).data
    assert ten == H("000e001000000008") + GENERAL_DESC
    changeable = run(page_zero, [0x1A, 0, 0x40, 0, 255, 0]).data
    assert changeable == H("0b000008") + H("ff000000 00ffffff")
    # Page 00h adds nothing to "all pages".
    everything = run(page_zero, [0x1A, 0, 0x3F, 0, 255, 0]).data
    assert everything == H("1b001008") + GENERAL_DESC + CONTROL + VENDOR


def test_page_zero_subpage_is_still_unknown(page_zero: PageZeroDevice, run: Run) -> None:
    answer = run(page_zero, [0x1A, 0, 0x00, 0x01, 255, 0])
    assert answer.code == INVALID_FIELD_IN_CDB


def test_page_zero_refused_without_declaration(dev: SpcDevice, run: Run) -> None:
    answer = run(dev, [0x1A, 0, 0x00, 0, 12, 0])
    assert answer.code == INVALID_FIELD_IN_CDB
    assert answer.pointer == H("cd0002")


def test_page_zero_cannot_be_selected(page_zero: PageZeroDevice, run: Run) -> None:
    answer = run(page_zero, [0x15, 0x10, 0, 0, 6, 0], data_out=H("00000000") + H("0000"))
    assert answer.code == INVALID_FIELD_IN_PARAMETER_LIST
    assert answer.pointer == H("8d0004")
    # What st sends for MTSETBLK: header and descriptor, no page at all.
    setblk = H("00001008") + H("5a00000000000400")
    assert run(page_zero, [0x15, 0x10, 0, 0, 12, 0], data_out=setblk).status == Status.GOOD
    assert run(page_zero, [0x1A, 0, 0x00, 0, 12, 0]).data[9:12] == H("000400")


def test_no_page_mode_page_encodes_to_nothing() -> None:
    page = no_page_mode_page()
    assert (page.page, page.subpage, page.page_format) == (0, 0, False)
    assert all(page.encode(pc) == b"" for pc in PageControl)


# --- the obsolete LUN bits of MODE SENSE(6), as Linux ch sends them ------------------------


@pytest.mark.parametrize("lun", range(8))
def test_mode_sense_6_ignores_lun_bits(dev: SpcDevice, run: Run, lun: int) -> None:
    plain = run(dev, [0x1A, 0x08, 0x3F, 0, 255, 0])
    with_lun = run(dev, [0x1A, lun << 5 | 0x08, 0x3F, 0, 255, 0])
    assert with_lun.status == Status.GOOD
    assert with_lun.data == plain.data


def test_mode_sense_6_cdb_declares_the_lun_bits() -> None:
    cdb = H("1aa81d00ff00")
    parsed = ModeSense6Cdb.parse(cdb)
    assert (parsed.flags.obsolete_lun, parsed.flags.dbd, parsed.page.page_code) == (5, True, 0x1D)
    built = ModeSense6Cdb.build(
        {
            "opcode": 0x1A,
            "flags": {"obsolete_lun": 5, "reserved": False, "dbd": True, "reserved2": 0},
            "page": {"pc": 0, "page_code": 0x1D},
            "subpage_code": 0,
            "allocation_length": 255,
            "control": 0,
        }
    )
    assert built == cdb


def test_lun_bits_only_where_linux_sends_them(dev: SpcDevice, run: Run) -> None:
    reserved = run(dev, [0x1A, 0x10, 0x3F, 0, 255, 0])
    assert reserved.code == INVALID_FIELD_IN_CDB
    assert reserved.pointer == H("cc0001")
    ten = run(dev, [0x5A, 0x20, 0x3F, 0, 0, 0, 0, 0, 255, 0])
    assert ten.code == INVALID_FIELD_IN_CDB
    assert ten.pointer == H("cd0001")
    usage = run(dev, [0xA3, 0x0C, 0x01, 0x1A, 0, 0, 0, 0, 0, 20, 0, 0]).data
    assert usage == H("00030006") + bytes([0x1A, OBSOLETE_LUN_BITS | 0x08, 0xFF, 0xFF, 0xFF, 0])
