"""Operation codes and service actions of the SBC-4 commands a disk answers.

SBC-4 5.1 table 27 (commands for direct access block devices) lists them;
the values here are the ones a disk built on this package implements.
"""

from __future__ import annotations

from enum import IntEnum


class Opcode(IntEnum):
    """SBC-4 operation codes (SBC-4 5.1 table 27)."""

    FORMAT_UNIT = 0x04
    READ_6 = 0x08
    WRITE_6 = 0x0A
    START_STOP_UNIT = 0x1B
    READ_CAPACITY_10 = 0x25
    READ_10 = 0x28
    WRITE_10 = 0x2A
    WRITE_AND_VERIFY_10 = 0x2E
    VERIFY_10 = 0x2F
    PRE_FETCH_10 = 0x34
    READ_DEFECT_DATA_10 = 0x37
    SYNCHRONIZE_CACHE_10 = 0x35
    WRITE_SAME_10 = 0x41
    UNMAP = 0x42
    #: THIRD-PARTY COPY OUT and IN (SPC-4 6.3, 6.18): copy offload.
    THIRD_PARTY_COPY_OUT = 0x83
    THIRD_PARTY_COPY_IN = 0x84
    READ_16 = 0x88
    COMPARE_AND_WRITE = 0x89
    ORWRITE_16 = 0x8B
    WRITE_16 = 0x8A
    WRITE_AND_VERIFY_16 = 0x8E
    VERIFY_16 = 0x8F
    PRE_FETCH_16 = 0x90
    SYNCHRONIZE_CACHE_16 = 0x91
    WRITE_SAME_16 = 0x93
    WRITE_ATOMIC_16 = 0x9C
    SERVICE_ACTION_IN_16 = 0x9E
    READ_12 = 0xA8
    WRITE_12 = 0xAA
    WRITE_AND_VERIFY_12 = 0xAE
    VERIFY_12 = 0xAF
    READ_DEFECT_DATA_12 = 0xB7


class ServiceActionIn16(IntEnum):
    """Service actions of SERVICE ACTION IN (16), SBC-4 5.1 table 27."""

    READ_CAPACITY_16 = 0x10
    GET_LBA_STATUS = 0x12


class ThirdPartyCopyOut(IntEnum):
    """Service actions of THIRD-PARTY COPY OUT (83h), SPC-4 6.3.1 table 106."""

    EXTENDED_COPY_LID1 = 0x00


class ThirdPartyCopyIn(IntEnum):
    """Service actions of THIRD-PARTY COPY IN (84h), SPC-4 6.18.1 table 244."""

    COPY_STATUS = 0x00
    RECEIVE_DATA = 0x01
    OPERATING_PARAMETERS = 0x03
    FAILED_SEGMENT_DETAILS = 0x04
