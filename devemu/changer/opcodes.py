"""Operation codes of the SMC-3 commands the medium changer answers.

SMC-3 6.1 table 9 (commands for medium changer devices) lists them; the
values here are the ones :mod:`devemu.changer.commands` implements.
"""

from __future__ import annotations

from enum import IntEnum


class Opcode(IntEnum):
    """SMC-3 operation codes (SMC-3 6.1 table 9)."""

    INITIALIZE_ELEMENT_STATUS = 0x07
    PREVENT_ALLOW_MEDIUM_REMOVAL = 0x1E
    POSITION_TO_ELEMENT = 0x2B
    INITIALIZE_ELEMENT_STATUS_WITH_RANGE = 0x37
    MOVE_MEDIUM = 0xA5
    EXCHANGE_MEDIUM = 0xA6
    READ_ELEMENT_STATUS = 0xB8
