"""Operation codes of the MMC-6 commands an optical drive answers.

MMC-6 table 8 (commands for multi-media devices) lists them; the values
here are the ones the drive built on this package implements.
"""

from __future__ import annotations

from enum import IntEnum


class Opcode(IntEnum):
    """MMC-6 operation codes (MMC-6 table 8)."""

    FORMAT_UNIT = 0x04
    START_STOP_UNIT = 0x1B
    PREVENT_ALLOW_MEDIUM_REMOVAL = 0x1E
    READ_FORMAT_CAPACITIES = 0x23
    READ_CAPACITY = 0x25
    READ_10 = 0x28
    WRITE_10 = 0x2A
    SEEK_10 = 0x2B
    VERIFY_10 = 0x2F
    SYNCHRONIZE_CACHE = 0x35
    READ_SUBCHANNEL = 0x42
    READ_TOC_PMA_ATIP = 0x43
    PLAY_AUDIO_10 = 0x45
    GET_CONFIGURATION = 0x46
    PLAY_AUDIO_MSF = 0x47
    GET_EVENT_STATUS_NOTIFICATION = 0x4A
    PAUSE_RESUME = 0x4B
    STOP_PLAY_SCAN = 0x4E
    READ_DISC_INFORMATION = 0x51
    READ_TRACK_INFORMATION = 0x52
    RESERVE_TRACK = 0x53
    SEND_OPC_INFORMATION = 0x54
    CLOSE_TRACK_SESSION = 0x5B
    READ_BUFFER_CAPACITY = 0x5C
    SEND_CUE_SHEET = 0x5D
    BLANK = 0xA1
    REPORT_KEY = 0xA4
    PLAY_AUDIO_12 = 0xA5
    READ_12 = 0xA8
    WRITE_12 = 0xAA
    GET_PERFORMANCE = 0xAC
    READ_DISC_STRUCTURE = 0xAD
    READ_CD_MSF = 0xB9
    SET_CD_SPEED = 0xBB
    SET_STREAMING = 0xB6
    MECHANISM_STATUS = 0xBD
    READ_CD = 0xBE
