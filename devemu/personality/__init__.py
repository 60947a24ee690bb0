"""Product personalities: what a library or drive model says about itself, as data.

``personality = "ibm-ts3500"`` on a ``[[library]]`` table, or
``personality = "hp-lto"`` on a ``[[library.drives]]`` table, gives the
device the identity, INQUIRY data, VPD designators, serial format and
(for a library) element address ranges of that product; ``generic``,
the default, is devemu's own. One module per product holds its
:mod:`~devemu.personality.model` value and cites the vendor manual each
fact comes from.
"""

from __future__ import annotations

from devemu.personality.generic import GENERIC_DRIVE, GENERIC_LIBRARY
from devemu.personality.hp_lto import HP_LTO
from devemu.personality.hp_msl import MSL
from devemu.personality.ibm_lto import IBM_LTO
from devemu.personality.ibm_ts3500 import TS3500
from devemu.personality.ibm_ts4300 import TS4300
from devemu.personality.model import DrivePersonality, LibraryPersonality
from devemu.personality.quantum_scalar_i import SCALAR_I500
from devemu.personality.stk_sl500 import SL500

LIBRARY_PERSONALITIES: dict[str, LibraryPersonality] = {
    p.name: p for p in (GENERIC_LIBRARY, TS3500, TS4300, MSL, SCALAR_I500, SL500)
}
DRIVE_PERSONALITIES: dict[str, DrivePersonality] = {
    p.name: p for p in (GENERIC_DRIVE, IBM_LTO, HP_LTO)
}

__all__ = [
    "DRIVE_PERSONALITIES",
    "LIBRARY_PERSONALITIES",
    "DrivePersonality",
    "LibraryPersonality",
]
