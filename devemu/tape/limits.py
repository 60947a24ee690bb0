"""The drive's fixed limits: block lengths, object identifiers, early warning.

READ BLOCK LIMITS reports the block lengths (SSC-5 7.6.2) and the largest
logical object identifier (SSC-5 7.6.3); MODE SELECT refuses a block
length outside them. Early warning (SSC-5 4.2.7) sits a fraction of the
partition before its end, at most 1 GiB.
"""

from __future__ import annotations

#: READ BLOCK LIMITS: the largest block (8 MiB) and the smallest.
MAXIMUM_BLOCK_LENGTH = 0x800000
MINIMUM_BLOCK_LENGTH = 1
MAXIMUM_LOGICAL_OBJECT_IDENTIFIER = 0xFFFFFFFE
#: Early warning sits this far before the end of a partition (at most 1 GiB).
EARLY_WARNING_FRACTION = 64
EARLY_WARNING_MAXIMUM = 1 << 30


def early_warning_margin(capacity: int) -> int:
    """Bytes between early warning and the physical end of a partition."""
    return min(capacity // EARLY_WARNING_FRACTION, EARLY_WARNING_MAXIMUM)
