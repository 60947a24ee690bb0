"""The disk's VPD pages and mode pages.

VPD (SBC-4 6.6): Block Limits (0xB0), Block Device Characteristics
(0xB1) and Logical Block Provisioning (0xB2). The SPC part builds 0x00,
0x80 and 0x83 and lists these in the supported pages page.

Mode pages (SBC-4 6.5): Read-Write Error Recovery (0x01) and Caching
(0x08). The Control page (0x0A) is the SPC part's. Only WCE is
changeable: with it off every write reaches stable storage before GOOD.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from construct import (
    BitsInteger,
    BitStruct,
    Const,
    Flag,
    Int8ub,
    Int16ub,
    Int32ub,
    Int64ub,
    Padding,
    Struct,
)

from devemu.scsi.mode_pages import ModePage

# --- VPD pages ------------------------------------------------------------------------

#: Block Limits VPD page, SBC-4 6.6.4 table 236.
BlockLimitsVpd = Struct(
    "peripheral" / Int8ub,
    "page_code" / Const(0xB0, Int8ub),
    "page_length" / Const(0x3C, Int16ub),
    "flags" / BitStruct("reserved" / BitsInteger(7), "wsnz" / Flag),
    "max_compare_and_write_length" / Int8ub,
    "optimal_transfer_length_granularity" / Int16ub,
    "max_transfer_length" / Int32ub,
    "optimal_transfer_length" / Int32ub,
    "max_prefetch_length" / Int32ub,
    "max_unmap_lba_count" / Int32ub,
    "max_unmap_block_descriptor_count" / Int32ub,
    "optimal_unmap_granularity" / Int32ub,
    "unmap_alignment" / BitStruct("ugavalid" / Flag, "alignment" / BitsInteger(31)),
    "max_write_same_length" / Int64ub,
    "max_atomic_transfer_length" / Int32ub,
    "atomic_alignment" / Int32ub,
    "atomic_transfer_length_granularity" / Int32ub,
    "max_atomic_transfer_length_with_boundary" / Int32ub,
    "max_atomic_boundary_size" / Int32ub,
)

#: Block Device Characteristics VPD page, SBC-4 6.6.2 table 233.
BlockDeviceCharacteristicsVpd = Struct(
    "peripheral" / Int8ub,
    "page_code" / Const(0xB1, Int8ub),
    "page_length" / Const(0x3C, Int16ub),
    "medium_rotation_rate" / Int16ub,
    "product_type" / Int8ub,
    "form"
    / BitStruct(
        "wabereq" / BitsInteger(2),
        "wacereq" / BitsInteger(2),
        "nominal_form_factor" / BitsInteger(4),
    ),
    "flags"
    / BitStruct(
        "reserved" / BitsInteger(2),
        "zoned" / BitsInteger(2),
        "reserved2" / BitsInteger(2),
        "fuab" / Flag,
        "vbuls" / Flag,
    ),
    Padding(55),
)

#: Logical Block Provisioning VPD page, SBC-4 6.6.6 table 245.
LogicalBlockProvisioningVpd = Struct(
    "peripheral" / Int8ub,
    "page_code" / Const(0xB2, Int8ub),
    "page_length" / Const(0x0004, Int16ub),
    "threshold_exponent" / Int8ub,
    "flags"
    / BitStruct(
        "lbpu" / Flag,
        "lbpws" / Flag,
        "lbpws10" / Flag,
        "lbprz" / BitsInteger(3),
        "anc_sup" / Flag,
        "dp" / Flag,
    ),
    "type" / BitStruct("minimum_percentage" / BitsInteger(5), "provisioning_type" / BitsInteger(3)),
    "threshold_percentage" / Int8ub,
)

#: MEDIUM ROTATION RATE for a non-rotating medium, SBC-4 6.6.2 table 234.
NON_ROTATING = 0x0001
#: PROVISIONING TYPE thin, SBC-4 6.6.6 table 247.
THIN_PROVISIONED = 0x2
#: LBPRZ: a deallocated block reads as zeros, SBC-4 6.6.6 table 246.
LBPRZ_ZEROS = 0x1
#: Bytes of the image file a WRITE ATOMIC may cover: one page of the page cache.
ATOMIC_PAGE = 4096


@dataclass(frozen=True, slots=True)
class Limits:
    """What a disk tells the initiator about its limits, in logical blocks."""

    block_size: int
    #: log2 of logical blocks per physical block (4 KiB physical blocks).
    lbppbe: int
    max_compare_and_write: int
    max_transfer: int
    max_unmap_lba_count: int
    max_unmap_descriptors: int
    max_write_same: int
    #: WRITE ATOMIC (16), SBC-4 6.6.4 and 4.29: one page of the image file
    #: (what ``kill -9`` cannot tear, :mod:`devemu.disk.atomic`).
    max_atomic_transfer: int
    atomic_alignment: int
    atomic_granularity: int
    max_atomic_with_boundary: int
    max_atomic_boundary: int

    @classmethod
    def for_block_size(
        cls, block_size: int, *, physical: int = 4096, max_transfer_bytes: int = 16 << 20
    ) -> Limits:
        """The limits of a disk of ``block_size``; an NBD export may give its own
        physical (preferred) block and largest request (:mod:`devemu.disk.nbd`)."""
        lbppbe = max(0, (physical // block_size).bit_length() - 1)
        max_transfer = max(1, max_transfer_bytes // block_size)
        page = max(1, ATOMIC_PAGE // block_size)
        return cls(
            block_size=block_size,
            lbppbe=lbppbe,
            max_compare_and_write=255,
            max_transfer=max_transfer,
            max_unmap_lba_count=0xFFFFFFFF,
            max_unmap_descriptors=256,
            max_write_same=(1 << 30) // block_size,
            max_atomic_transfer=page,
            atomic_alignment=page,
            atomic_granularity=1,
            max_atomic_with_boundary=max_transfer,
            max_atomic_boundary=1,
        )


def block_limits_vpd(limits: Limits) -> bytes:
    """VPD page 0xB0 (SBC-4 6.6.4)."""
    granularity = 1 << limits.lbppbe
    page: bytes = BlockLimitsVpd.build(
        {
            "peripheral": 0x00,
            "flags": {"reserved": 0, "wsnz": True},
            "max_compare_and_write_length": limits.max_compare_and_write,
            "optimal_transfer_length_granularity": granularity,
            "max_transfer_length": limits.max_transfer,
            "optimal_transfer_length": 0,
            "max_prefetch_length": 0,
            "max_unmap_lba_count": limits.max_unmap_lba_count,
            "max_unmap_block_descriptor_count": limits.max_unmap_descriptors,
            "optimal_unmap_granularity": granularity,
            "unmap_alignment": {"ugavalid": True, "alignment": 0},
            "max_write_same_length": limits.max_write_same,
            "max_atomic_transfer_length": limits.max_atomic_transfer,
            "atomic_alignment": limits.atomic_alignment,
            "atomic_transfer_length_granularity": limits.atomic_granularity,
            "max_atomic_transfer_length_with_boundary": limits.max_atomic_with_boundary,
            "max_atomic_boundary_size": limits.max_atomic_boundary,
        }
    )
    return page


def block_device_characteristics_vpd() -> bytes:
    """VPD page 0xB1 (SBC-4 6.6.2): a non-rotating medium of no set form factor."""
    page: bytes = BlockDeviceCharacteristicsVpd.build(
        {
            "peripheral": 0x00,
            "medium_rotation_rate": NON_ROTATING,
            "product_type": 0,
            "form": {"wabereq": 0, "wacereq": 0, "nominal_form_factor": 0},
            "flags": {"reserved": 0, "zoned": 0, "reserved2": 0, "fuab": False, "vbuls": False},
        }
    )
    return page


def logical_block_provisioning_vpd() -> bytes:
    """VPD page 0xB2 (SBC-4 6.6.6): thin provisioned, UNMAP and WRITE SAME deallocate."""
    page: bytes = LogicalBlockProvisioningVpd.build(
        {
            "peripheral": 0x00,
            "threshold_exponent": 0,
            "flags": {
                "lbpu": True,
                "lbpws": True,
                "lbpws10": True,
                "lbprz": LBPRZ_ZEROS,
                "anc_sup": False,
                "dp": False,
            },
            "type": {"minimum_percentage": 0, "provisioning_type": THIN_PROVISIONED},
            "threshold_percentage": 0,
        }
    )
    return page


# --- mode pages ---------------------------------------------------------------------

READ_WRITE_ERROR_RECOVERY = 0x01
CACHING = 0x08

#: Read-Write Error Recovery mode page parameters (after the header), SBC-4 6.5.10 table 223.
ReadWriteErrorRecovery = Struct(
    "flags"
    / BitStruct(
        "awre" / Flag,
        "arre" / Flag,
        "tb" / Flag,
        "rc" / Flag,
        "eer" / Flag,
        "per" / Flag,
        "dte" / Flag,
        "dcr" / Flag,
    ),
    "read_retry_count" / Int8ub,
    Padding(3),
    "byte7" / BitStruct("lbpere" / Flag, "reserved" / BitsInteger(7)),
    "write_retry_count" / Int8ub,
    Padding(1),
    "recovery_time_limit" / Int16ub,
)

#: Caching mode page parameters (after the header), SBC-4 6.5.5 table 210.
Caching = Struct(
    "flags"
    / BitStruct(
        "ic" / Flag,
        "abpf" / Flag,
        "cap" / Flag,
        "disc" / Flag,
        "size" / Flag,
        "wce" / Flag,
        "mf" / Flag,
        "rcd" / Flag,
    ),
    "retention" / BitStruct("demand_read" / BitsInteger(4), "write" / BitsInteger(4)),
    "disable_prefetch_transfer_length" / Int16ub,
    "minimum_prefetch" / Int16ub,
    "maximum_prefetch" / Int16ub,
    "maximum_prefetch_ceiling" / Int16ub,
    "flags2"
    / BitStruct(
        "fsw" / Flag,
        "lbcss" / Flag,
        "dra" / Flag,
        "vendor_specific" / BitsInteger(2),
        "sync_prog" / BitsInteger(2),
        "nv_dis" / Flag,
    ),
    "number_of_cache_segments" / Int8ub,
    "cache_segment_size" / Int16ub,
    Padding(4),
)

#: WCE in the first parameter byte of the caching page.
WCE = 0x04


def read_write_error_recovery_page() -> ModePage:
    """Mode page 0x01: automatic reallocation reported on, nothing changeable."""
    default = ReadWriteErrorRecovery.build(
        {
            "flags": {
                "awre": True,
                "arre": True,
                "tb": False,
                "rc": False,
                "eer": False,
                "per": False,
                "dte": False,
                "dcr": False,
            },
            "read_retry_count": 0,
            "byte7": {"lbpere": False, "reserved": 0},
            "write_retry_count": 0,
            "recovery_time_limit": 0,
        }
    )
    return ModePage(READ_WRITE_ERROR_RECOVERY, default, bytes(len(default)))


def caching_page(write_cache: bool, on_change: Callable[[bytes], None] | None = None) -> ModePage:
    """Mode page 0x08 with WCE as configured; WCE is the one changeable bit."""
    default = bytearray(Caching.sizeof())
    if write_cache:
        default[0] |= WCE
    changeable = bytearray(len(default))
    changeable[0] = WCE
    return ModePage(
        CACHING,
        bytes(default),
        bytes(changeable),
        on_change=on_change,
    )
