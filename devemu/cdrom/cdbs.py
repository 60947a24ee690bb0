"""The CDBs of the MMC-6 commands, declared once.

Each command's CDB is a construct ``Struct`` named after the command with
the MMC-6 clause beside it. The per-command hot path (READ(10), READ(12),
READ CD) unpacks with a precompiled :class:`struct.Struct` of the same
layout; a unit test proves the two agree.
"""

from __future__ import annotations

import struct

from construct import (
    BitsInteger,
    BitStruct,
    Bytes,
    Flag,
    Int8ub,
    Int16ub,
    Int24ub,
    Int32ub,
    Padding,
    Struct,
)

#: MMC-6 6.15: READ (10).
Read10Cdb = Struct(
    "opcode" / Int8ub,
    "flags" / Int8ub,
    "lba" / Int32ub,
    "group" / Int8ub,
    "transfer_length" / Int16ub,
    "control" / Int8ub,
)
READ10 = struct.Struct(">BBIBHB")
#: READ (10) as the drive's fast path needs it: (lba, transfer_length).
READ10_FAST = struct.Struct(">2xI1xH1x")

#: MMC-6 6.16: READ (12).
Read12Cdb = Struct(
    "opcode" / Int8ub,
    "flags" / Int8ub,
    "lba" / Int32ub,
    "transfer_length" / Int32ub,
    "flags2" / Int8ub,
    "control" / Int8ub,
)
READ12 = struct.Struct(">BBIIBB")
#: READ (12) as the drive's fast path needs it: (lba, transfer_length).
READ12_FAST = struct.Struct(">2xII2x")

#: MMC-6 6.19: READ CD. Byte 9 selects the sector fields, byte 10 the sub-channel.
ReadCdCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct(Padding(3), "sector_type" / BitsInteger(3), "dap" / Flag, Padding(1)),
    "lba" / Int32ub,
    "transfer_length" / Int24ub,
    "fields"
    / BitStruct(
        "sync" / Flag,
        "header_code" / BitsInteger(2),
        "user_data" / Flag,
        "edc_ecc" / Flag,
        "c2" / BitsInteger(2),
        Padding(1),
    ),
    "subchannel" / BitStruct(Padding(5), "selection" / BitsInteger(3)),
    "control" / Int8ub,
)
#: opcode, flags, lba, transfer length (3 bytes as 1 + 2), fields, sub-channel, control.
READ_CD = struct.Struct(">BBIBHBBB")

#: MMC-6 6.20: READ CD MSF.
ReadCdMsfCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct(Padding(3), "sector_type" / BitsInteger(3), "dap" / Flag, Padding(1)),
    Padding(1),
    "start" / Bytes(3),
    "end" / Bytes(3),
    "fields" / Int8ub,
    "subchannel" / Int8ub,
    "control" / Int8ub,
)

#: MMC-6 6.33: START STOP UNIT.
StartStopUnitCdb = Struct(
    "opcode" / Int8ub,
    "immed" / Int8ub,
    Padding(1),
    "format_layer" / Int8ub,
    "flags"
    / BitStruct(
        "power_condition" / BitsInteger(4),
        Padding(1),
        "fl" / Flag,
        "loej" / Flag,
        "start" / Flag,
    ),
    "control" / Int8ub,
)

#: MMC-6 6.14 / SPC-5: PREVENT ALLOW MEDIUM REMOVAL.
PreventAllowCdb = Struct(
    "opcode" / Int8ub,
    Padding(3),
    "prevent" / Int8ub,
    "control" / Int8ub,
)

#: MMC-6 6.6: GET EVENT STATUS NOTIFICATION.
GetEventStatusCdb = Struct(
    "opcode" / Int8ub,
    "polled" / Int8ub,
    Padding(2),
    "class_request" / Int8ub,
    Padding(2),
    "allocation_length" / Int16ub,
    "control" / Int8ub,
)

#: MMC-6 6.5: GET CONFIGURATION.
GetConfigurationCdb = Struct(
    "opcode" / Int8ub,
    "rt" / Int8ub,
    "starting_feature" / Int16ub,
    Padding(3),
    "allocation_length" / Int16ub,
    "control" / Int8ub,
)

#: MMC-6 6.23: READ CAPACITY.
ReadCapacityCdb = Struct("opcode" / Int8ub, Padding(8), "control" / Int8ub)

#: MMC-6 6.26: READ TOC/PMA/ATIP.
ReadTocCdb = Struct(
    "opcode" / Int8ub,
    "msf" / Int8ub,
    "format" / Int8ub,
    Padding(3),
    "track" / Int8ub,
    "allocation_length" / Int16ub,
    "control" / Int8ub,
)

#: MMC-6 6.22: READ DISC INFORMATION.
ReadDiscInfoCdb = Struct(
    "opcode" / Int8ub,
    "data_type" / Int8ub,
    Padding(5),
    "allocation_length" / Int16ub,
    "control" / Int8ub,
)

#: MMC-6 6.27: READ TRACK INFORMATION.
ReadTrackInfoCdb = Struct(
    "opcode" / Int8ub,
    "address_type" / Int8ub,
    "address" / Int32ub,
    Padding(1),
    "allocation_length" / Int16ub,
    "control" / Int8ub,
)

#: MMC-6 6.25: READ SUB-CHANNEL.
ReadSubchannelCdb = Struct(
    "opcode" / Int8ub,
    "msf" / Int8ub,
    "subq" / Int8ub,
    "format" / Int8ub,
    Padding(2),
    "track" / Int8ub,
    "allocation_length" / Int16ub,
    "control" / Int8ub,
)

#: MMC-6 6.9: MECHANISM STATUS.
MechanismStatusCdb = Struct(
    "opcode" / Int8ub, Padding(7), "allocation_length" / Int16ub, Padding(1), "control" / Int8ub
)

#: MMC-6 6.37: SET CD SPEED.
SetCdSpeedCdb = Struct(
    "opcode" / Int8ub,
    "rotation" / Int8ub,
    "read_speed" / Int16ub,
    "write_speed" / Int16ub,
    Padding(5),
    "control" / Int8ub,
)

#: MMC-6 6.7: GET PERFORMANCE.
GetPerformanceCdb = Struct(
    "opcode" / Int8ub,
    "data_type" / Int8ub,
    "lba" / Int32ub,
    Padding(2),
    "max_descriptors" / Int16ub,
    "type" / Int8ub,
    "control" / Int8ub,
)

#: MMC-6 6.24: READ DISC STRUCTURE (READ DVD STRUCTURE).
ReadDiscStructureCdb = Struct(
    "opcode" / Int8ub,
    "media_type" / Int8ub,
    "address" / Int32ub,
    "layer" / Int8ub,
    "format" / Int8ub,
    "allocation_length" / Int16ub,
    "agid" / Int8ub,
    "control" / Int8ub,
)

#: MMC-6 6.30: REPORT KEY.
ReportKeyCdb = Struct(
    "opcode" / Int8ub,
    Padding(1),
    "lba" / Int32ub,
    Padding(1),
    "key_class" / Int8ub,
    "allocation_length" / Int16ub,
    "agid_format" / Int8ub,
    "control" / Int8ub,
)

#: MMC-6 6.12: PLAY AUDIO (10).
PlayAudio10Cdb = Struct(
    "opcode" / Int8ub,
    Padding(1),
    "lba" / Int32ub,
    Padding(1),
    "length" / Int16ub,
    "control" / Int8ub,
)

#: MMC-6 6.13: PLAY AUDIO (12).
PlayAudio12Cdb = Struct(
    "opcode" / Int8ub,
    Padding(1),
    "lba" / Int32ub,
    "length" / Int32ub,
    Padding(1),
    "control" / Int8ub,
)

#: MMC-6 6.14: PLAY AUDIO MSF.
PlayAudioMsfCdb = Struct(
    "opcode" / Int8ub, Padding(2), "start" / Bytes(3), "end" / Bytes(3), "control" / Int8ub
)

#: MMC-6 6.11: PAUSE/RESUME.
PauseResumeCdb = Struct("opcode" / Int8ub, Padding(7), "resume" / Int8ub, "control" / Int8ub)

#: MMC-6 6.38: SEEK (10).
Seek10Cdb = Struct("opcode" / Int8ub, Padding(1), "lba" / Int32ub, Padding(3), "control" / Int8ub)
