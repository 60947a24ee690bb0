"""VPD pages, mode pages and parameter data of the disk: golden bytes both ways."""

from __future__ import annotations

from devemu.disk import pages, parameters
from devemu.scsi.mode_pages import PageControl
from tests.golden import check_both_ways

B0_512 = bytes.fromhex(
    "00b0003c"
    "01ff0008"
    "00008000"
    "00000000"
    "00000000"
    "ffffffff"
    "00000100"
    "00000008"
    "80000000"
    "0000000000200000"
    "00000008"  # MAXIMUM ATOMIC TRANSFER LENGTH: one 4096-byte page
    "00000008"  # ATOMIC ALIGNMENT
    "00000001"  # ATOMIC TRANSFER LENGTH GRANULARITY
    "00008000"  # MAXIMUM ATOMIC TRANSFER LENGTH WITH ATOMIC BOUNDARY
    "00000001"  # MAXIMUM ATOMIC BOUNDARY SIZE
)


def test_block_limits_vpd_512() -> None:
    page = pages.block_limits_vpd(pages.Limits.for_block_size(512))
    assert page == B0_512
    parsed = pages.BlockLimitsVpd.parse(page)
    assert parsed.flags.wsnz
    assert parsed.max_compare_and_write_length == 255
    assert parsed.optimal_unmap_granularity == 8
    assert parsed.unmap_alignment.ugavalid
    assert parsed.max_write_same_length == (1 << 30) // 512


def test_block_limits_vpd_4096() -> None:
    page = pages.block_limits_vpd(pages.Limits.for_block_size(4096))
    assert page[:8] == bytes.fromhex("00b0003c01ff0001")
    parsed = pages.BlockLimitsVpd.parse(page)
    assert parsed.max_transfer_length == (16 << 20) // 4096
    assert parsed.optimal_unmap_granularity == 1
    assert parsed.max_write_same_length == (1 << 30) // 4096


def test_limits_exponent() -> None:
    assert pages.Limits.for_block_size(512).lbppbe == 3
    assert pages.Limits.for_block_size(4096).lbppbe == 0


def test_block_device_characteristics_vpd() -> None:
    golden = bytes.fromhex("00b1003c0001000000") + bytes(55)
    assert pages.block_device_characteristics_vpd() == golden
    check_both_ways(
        pages.BlockDeviceCharacteristicsVpd,
        golden,
        {
            "peripheral": 0,
            "page_code": 0xB1,
            "page_length": 0x3C,
            "medium_rotation_rate": 1,
            "product_type": 0,
            "form": {"wabereq": 0, "wacereq": 0, "nominal_form_factor": 0},
            "flags": {
                "reserved": 0,
                "zoned": 0,
                "reserved2": 0,
                "fuab": False,
                "vbuls": False,
            },
        },
    )


def test_logical_block_provisioning_vpd() -> None:
    golden = bytes.fromhex("00b20004 00 e4 02 00")
    assert pages.logical_block_provisioning_vpd() == golden
    check_both_ways(
        pages.LogicalBlockProvisioningVpd,
        golden,
        {
            "peripheral": 0,
            "page_code": 0xB2,
            "page_length": 4,
            "threshold_exponent": 0,
            "flags": {
                "lbpu": True,
                "lbpws": True,
                "lbpws10": True,
                "lbprz": 1,
                "anc_sup": False,
                "dp": False,
            },
            "type": {"minimum_percentage": 0, "provisioning_type": 2},
            "threshold_percentage": 0,
        },
    )


def test_read_write_error_recovery_page() -> None:
    page = pages.read_write_error_recovery_page()
    assert page.page == 0x01
    assert page.encode(PageControl.CURRENT) == bytes.fromhex("010a c0 00 000000 00 00 00 0000")
    assert page.changeable == bytes(10)


def test_caching_page_wce_on_and_off() -> None:
    on = pages.caching_page(True)
    off = pages.caching_page(False)
    assert on.encode(PageControl.CURRENT) == bytes.fromhex("0812 04") + bytes(17)
    assert off.encode(PageControl.CURRENT) == bytes.fromhex("0812 00") + bytes(17)
    assert on.changeable == b"\x04" + bytes(17)
    parsed = pages.Caching.parse(bytes(on.current))
    assert parsed.flags.wce and not parsed.flags.rcd


def test_read_capacity_data_both_ways() -> None:
    check_both_ways(
        parameters.ReadCapacity10Data,
        bytes.fromhex("000007ff00000200"),
        {"returned_lba": 0x7FF, "block_length": 512},
    )
    check_both_ways(
        parameters.ReadCapacity16Data,
        bytes.fromhex("00000000000007ff 00000200 00 03 c000") + bytes(16),
        {
            "returned_lba": 0x7FF,
            "block_length": 512,
            "protection": {"reserved": 0, "p_type": 0, "prot_en": False},
            "exponents": {"p_i_exponent": 0, "lbppbe": 3},
            "provisioning": {"lbpme": True, "lbprz": True, "lowest_aligned_lba": 0},
        },
    )


def test_unmap_and_lba_status_structures_both_ways() -> None:
    check_both_ways(
        parameters.UnmapHeader,
        bytes.fromhex("0016 0010 00000000"),
        {"unmap_data_length": 0x16, "block_descriptor_data_length": 0x10},
    )
    check_both_ways(
        parameters.UnmapDescriptor,
        bytes.fromhex("0000000000000010 00000020 00000000"),
        {"lba": 0x10, "count": 0x20},
    )
    check_both_ways(
        parameters.LbaStatusHeader,
        bytes.fromhex("00000014 00000000"),
        {"parameter_data_length": 20},
    )
    check_both_ways(
        parameters.LbaStatusDescriptor,
        bytes.fromhex("0000000000000008 000007f8 01 000000"),
        {"lba": 8, "count": 0x7F8, "provisioning_status": {"reserved": 0, "status": 1}},
    )
