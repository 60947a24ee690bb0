"""Byte counts written the way coreutils reads them (``truncate -s``, ``dd``).

``4096``, ``512K``, ``10G``, ``1TiB``: binary multiples (K = KiB = 1024);
``10GB``: decimal multiples (KB = 1000), as LTO capacities are quoted.
"""

from __future__ import annotations

import argparse
import re

_SIZE = re.compile(r"^\s*(\d+)\s*(?:([KMGTP])(iB|B)?)?\s*$", re.IGNORECASE)
_POWER = {"K": 1, "M": 2, "G": 3, "T": 4, "P": 5}


def parse_size(text: str) -> int:
    """Bytes from a size such as ``512M``, ``10G``, ``1TiB`` or ``12TB``.

    Raises ValueError naming the text when it is not a size.
    """
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a size such as 512M, 10G, 1TiB or 12TB")
    number, unit, suffix = match.groups()
    if not unit:
        return int(number)
    base = 1000 if suffix and suffix.upper() == "B" else 1024
    multiple: int = base ** _POWER[unit.upper()]
    return int(number) * multiple


def size_argument(text: str) -> int:
    """:func:`parse_size` as an argparse ``type=``: refusals are usage errors."""
    try:
        return parse_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
