"""READ CAPACITY (10) and (16): how many blocks, how long, how provisioned.

SBC-4 5.20 and 5.21. The (16) form adds the thin provisioning bits:
LBPME (UNMAP and GET LBA STATUS work) and LBPRZ (a deallocated block
reads as zeros), and the logical blocks per physical block exponent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devemu.disk.parameters import ReadCapacity10Data, ReadCapacity16Data
from devemu.scsi.command import Command

if TYPE_CHECKING:
    from devemu.disk.device import Disk

#: RETURNED LOGICAL BLOCK ADDRESS when the last LBA needs READ CAPACITY (16).
_RC10_OVERFLOW = 0xFFFFFFFF


def read_capacity_10_data(dev: Disk) -> bytes:
    """READ CAPACITY (10) parameter data, SBC-4 5.20.2."""
    data: bytes = ReadCapacity10Data.build(
        {
            "returned_lba": min(dev.capacity - 1, _RC10_OVERFLOW),
            "block_length": dev.block_size,
        }
    )
    return data


def read_capacity_16_data(dev: Disk) -> bytes:
    """READ CAPACITY (16) parameter data, SBC-4 5.21.2."""
    data: bytes = ReadCapacity16Data.build(
        {
            "returned_lba": dev.capacity - 1,
            "block_length": dev.block_size,
            "protection": {"reserved": 0, "p_type": 0, "prot_en": False},
            "exponents": {"p_i_exponent": 0, "lbppbe": dev.limits.lbppbe},
            "provisioning": {"lbpme": True, "lbprz": True, "lowest_aligned_lba": 0},
        }
    )
    return data


def read_capacity_10(dev: Disk, cmd: Command) -> int:
    """READ CAPACITY (10), SBC-4 5.20: the last LBA (all ones past 2^32 - 1) and block length."""
    return cmd.data_in(read_capacity_10_data(dev))


def read_capacity_16(dev: Disk, cmd: Command, allocation_length: int) -> int:
    """READ CAPACITY (16), SBC-4 5.21."""
    return cmd.data_in(read_capacity_16_data(dev), allocation_length)
