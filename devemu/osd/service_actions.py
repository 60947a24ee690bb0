"""The OSD-2 service actions of the variable-length CDB (OSD-2 6.1 table 39).

OSD-2 service actions are 8880h plus a number (OSD-1 used 8800h plus the
same numbers).
"""

from __future__ import annotations

from enum import IntEnum

#: The service actions of OSD-2 start here (OSD-2 6.1).
OSD2_BASE = 0x8880


class ServiceAction(IntEnum):
    """OSD-2 6.1 table 39: the commands of an object-based storage device."""

    FORMAT_OSD = OSD2_BASE + 0x01
    CREATE = OSD2_BASE + 0x02
    LIST = OSD2_BASE + 0x03
    PUNCH = OSD2_BASE + 0x04
    READ = OSD2_BASE + 0x05
    WRITE = OSD2_BASE + 0x06
    APPEND = OSD2_BASE + 0x07
    FLUSH = OSD2_BASE + 0x08
    CLEAR = OSD2_BASE + 0x09
    REMOVE = OSD2_BASE + 0x0A
    CREATE_PARTITION = OSD2_BASE + 0x0B
    REMOVE_PARTITION = OSD2_BASE + 0x0C
    GET_ATTRIBUTES = OSD2_BASE + 0x0E
    SET_ATTRIBUTES = OSD2_BASE + 0x0F
    CREATE_AND_WRITE = OSD2_BASE + 0x12
    CREATE_COLLECTION = OSD2_BASE + 0x15
    REMOVE_COLLECTION = OSD2_BASE + 0x16
    LIST_COLLECTION = OSD2_BASE + 0x17
    SET_KEY = OSD2_BASE + 0x18
    FLUSH_COLLECTION = OSD2_BASE + 0x1A
    FLUSH_PARTITION = OSD2_BASE + 0x1B
    FLUSH_OSD = OSD2_BASE + 0x1C
