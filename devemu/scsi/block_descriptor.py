"""Mode parameter block descriptors, SPC-5 7.5.5.

A device that has block descriptors reports one :class:`BlockDescriptor`
value; MODE SENSE encodes it in the form the device type and the CDB ask
for, and MODE SELECT decodes what the initiator sent back into the same
value:

- the general form (SPC-5 7.5.5.1, every device type but direct access):
  density code, number of blocks (3 bytes), block length (3 bytes);
- the short LBA form (SBC-4 6.5.2.2, direct access): number of logical
  blocks (4 bytes), block length (3 bytes);
- the long LBA form (SBC-4 6.5.2.3, direct access with LLBAA): number of
  logical blocks (8 bytes), block length (4 bytes).

Counts too large for the field are reported as all ones, as the
standards require ("the number of blocks exceeds the field").
"""

from __future__ import annotations

from dataclasses import dataclass

from construct import Bytes, Int8ub, Int24ub, Int32ub, Int64ub, Padding, Struct

#: SPC-5 7.5.5.1 table 449: general mode parameter block descriptor.
GeneralBlockDescriptor = Struct(
    "density_code" / Int8ub,
    "number_of_blocks" / Int24ub,
    Padding(1),
    "block_length" / Int24ub,
)

#: SBC-4 6.5.2.2: short LBA mode parameter block descriptor.
ShortLbaBlockDescriptor = Struct(
    "number_of_blocks" / Int32ub,
    Padding(1),
    "block_length" / Int24ub,
)

#: SBC-4 6.5.2.3: long LBA mode parameter block descriptor.
LongLbaBlockDescriptor = Struct(
    "number_of_blocks" / Int64ub,
    "reserved" / Bytes(4),
    "block_length" / Int32ub,
)

SHORT_LENGTH = 8
LONG_LENGTH = 16


@dataclass(frozen=True, slots=True)
class BlockDescriptor:
    """Density, block count and block length of a mode parameter block descriptor.

    ``density_code`` only exists in the general form; direct-access
    devices leave it 0. ``number_of_blocks`` 0 means "all remaining" (SSC)
    or "no change" in MODE SELECT (SBC-4 6.5.2.2). ``block_length`` 0 is
    variable block mode on a tape drive.
    """

    density_code: int = 0
    number_of_blocks: int = 0
    block_length: int = 0

    def encode(self, *, direct_access: bool, long_lba: bool = False) -> bytes:
        """The descriptor bytes: general, short LBA or long LBA form."""
        if direct_access and long_lba:
            out: bytes = LongLbaBlockDescriptor.build(
                {
                    "number_of_blocks": min(self.number_of_blocks, 2**64 - 1),
                    "reserved": b"\x00" * 4,
                    "block_length": min(self.block_length, 2**32 - 1),
                }
            )
            return out
        if direct_access:
            out = ShortLbaBlockDescriptor.build(
                {
                    "number_of_blocks": min(self.number_of_blocks, 0xFFFFFFFF),
                    "block_length": min(self.block_length, 0xFFFFFF),
                }
            )
            return out
        out = GeneralBlockDescriptor.build(
            {
                "density_code": self.density_code,
                "number_of_blocks": min(self.number_of_blocks, 0xFFFFFF),
                "block_length": min(self.block_length, 0xFFFFFF),
            }
        )
        return out

    @classmethod
    def decode(cls, data: bytes, *, direct_access: bool, long_lba: bool = False) -> BlockDescriptor:
        """Parse one descriptor of the form ``encode`` writes."""
        if direct_access and long_lba:
            long = LongLbaBlockDescriptor.parse(data)
            return cls(0, long.number_of_blocks, long.block_length)
        if direct_access:
            short = ShortLbaBlockDescriptor.parse(data)
            return cls(0, short.number_of_blocks, short.block_length)
        general = GeneralBlockDescriptor.parse(data)
        return cls(general.density_code, general.number_of_blocks, general.block_length)
