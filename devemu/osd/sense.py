"""Sense data of an OSD (OSD-2 4.16).

An OSD always answers in descriptor format (OSD-2 4.16.1), and a command
that names an object carries the OSD object identification descriptor
(OSD-2 4.16.2.1): which command functions were not started and
which completed, and the partition and object the error is about. An
error in one attribute carries the OSD attribute identification
descriptor (4.16.2.3).

The additional sense codes OSD-2 adds to SPC-5 annex D are named here.
"""

from __future__ import annotations

import struct
from enum import IntFlag

from devemu.scsi.sense import SenseCode, SenseKey

_K = SenseKey

#: OSD-2 6.18 (REMOVE PARTITION, REMOVE COLLECTION): still holds objects.
PARTITION_OR_COLLECTION_CONTAINS_USER_OBJECTS = SenseCode(_K.ILLEGAL_REQUEST, 0x2C, 0x0A)
#: OSD-2 6.22 (READ): the read went past the logical length (RECOVERED ERROR).
READ_PAST_END_OF_USER_OBJECT = SenseCode(_K.RECOVERED_ERROR, 0x3B, 0x17)
#: OSD-2 4.9: a quota was exceeded.
QUOTA_ERROR = SenseCode(_K.DATA_PROTECT, 0x55, 0x07)
#: OSD-2 6.5, 6.6: the requested object id is in use.
INVALID_FIELD_IN_CDB_ID_IN_USE = SenseCode(_K.ILLEGAL_REQUEST, 0x24, 0x00)


class CommandFunction(IntFlag):
    """OSD-2 4.16.2.1: command function bits (osd2r03 table 52; a 32-bit field, byte 0 first)."""

    VALIDATION = 0x80000000
    CMD_CAP_VERIFIED = 0x20000000
    COMMAND = 0x10000000
    IMP_ST_ATT = 0x00100000
    SA_CAP_VERIFIED = 0x00002000
    SET_ATTRIBUTES = 0x00001000
    GA_CAP_VERIFIED = 0x00000020
    GET_ATTRIBUTES = 0x00000010


#: Everything a command does after validation.
AFTER_VALIDATION = (
    CommandFunction.COMMAND | CommandFunction.SET_ATTRIBUTES | CommandFunction.GET_ATTRIBUTES
)

OBJECT_IDENTIFICATION = 0x06
ATTRIBUTE_IDENTIFICATION = 0x08
_OBJECT_ID = struct.Struct(">BB6xIIQQ")


def object_identification(
    partition_id: int, object_id: int, not_initiated: int, completed: int
) -> bytes:
    """The OSD object identification sense data descriptor (OSD-2 4.16.2.1)."""
    return _OBJECT_ID.pack(
        OBJECT_IDENTIFICATION, 0x1E, not_initiated, completed, partition_id, object_id
    )


def attribute_identification(attributes: list[tuple[int, int]]) -> bytes:
    """The OSD attribute identification sense data descriptor (OSD-2 4.16.2.3)."""
    body = b"".join(struct.pack(">II", p, n) for p, n in attributes)
    return bytes([ATTRIBUTE_IDENTIFICATION, 6 + len(body)]) + bytes(6) + body
