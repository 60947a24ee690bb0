"""The CDBs of the MMC-6 commands, declared once.

Each command's CDB is a construct ``Struct`` named after the command,
with the MMC-6 clause beside it. Nothing else decodes an optical CDB: the
usage data, the reserved-bit checks and the precompiled decoders of the
fields each handler takes are derived from these declarations
(:mod:`devemu.scsi.layout`). Fields the drive does not interpret are
named ``reserved`` or ``obsolete``; the command table lists the named
ones it refuses as unsupported.

An MSF address (MMC-6 4.2.3.4) is declared as one 3-byte field: minute,
second and frame, one byte each (:func:`devemu.cdrom.msf.packed_msf_to_lba`).
"""

from __future__ import annotations

from construct import (
    BitsInteger,
    BitStruct,
    Bytes,
    Flag,
    Int8ub,
    Int16ub,
    Int24ub,
    Int32ub,
    Struct,
)

# --- byte 1 of the data transfer commands ------------------------------------------

#: READ (10) and READ (12) byte 1, MMC-6 6.15 table 361 and 6.16 table 363.
ReadFlags = BitStruct(
    "reserved" / BitsInteger(3),
    "dpo" / Flag,
    "fua" / Flag,
    "reserved2" / BitsInteger(1),
    "obsolete" / BitsInteger(2),
)

#: WRITE (10) and WRITE (12) byte 1, MMC-6 6.47 and 6.48 (TSR: timely safe recording).
WriteFlags = BitStruct(
    "reserved" / BitsInteger(3),
    "dpo" / Flag,
    "fua" / Flag,
    "tsr" / Flag,
    "reserved2" / BitsInteger(1),
    "obsolete" / BitsInteger(1),
)

#: Byte 10 of READ (12) and WRITE (12): the Streaming bit (MMC-6 6.16, 6.48).
Streaming = BitStruct("streaming" / Flag, "reserved" / BitsInteger(7))

#: The expected sector type and DAP of READ CD and READ CD MSF (MMC-6 6.19 table 374).
ReadCdFlags = BitStruct(
    "reserved" / BitsInteger(3),
    "sector_type" / BitsInteger(3),
    "dap" / Flag,
    "reserved2" / BitsInteger(1),
)

#: Byte 9 of READ CD and READ CD MSF: the fields of each sector (MMC-6 6.19 table 377).
MainChannelSelection = BitStruct(
    "sync" / Flag,
    "header_code" / BitsInteger(2),
    "user_data" / Flag,
    "edc_ecc" / Flag,
    "c2" / BitsInteger(2),
    "reserved" / BitsInteger(1),
)

#: Byte 10 of READ CD and READ CD MSF: the sub-channel selection (MMC-6 6.19 table 381).
SubchannelSelection = BitStruct("reserved" / BitsInteger(5), "selection" / BitsInteger(3))


#: Byte 1 of READ TOC/PMA/ATIP and READ SUB-CHANNEL: the MSF bit (MMC-6 6.25, 6.26).
MsfFlag = BitStruct("reserved" / BitsInteger(6), "msf" / Flag, "reserved2" / BitsInteger(1))


# --- reading ------------------------------------------------------------------------

#: MMC-6 6.15: READ (10).
Read10Cdb = Struct(
    "opcode" / Int8ub,
    "flags" / ReadFlags,
    "lba" / Int32ub,
    "reserved" / Int8ub,
    "transfer_length" / Int16ub,
    "control" / Int8ub,
)

#: MMC-6 6.16: READ (12).
Read12Cdb = Struct(
    "opcode" / Int8ub,
    "flags" / ReadFlags,
    "lba" / Int32ub,
    "transfer_length" / Int32ub,
    "streaming" / Streaming,
    "control" / Int8ub,
)

#: MMC-6 6.19: READ CD. Byte 9 selects the sector fields, byte 10 the sub-channel.
ReadCdCdb = Struct(
    "opcode" / Int8ub,
    "flags" / ReadCdFlags,
    "lba" / Int32ub,
    "transfer_length" / Int24ub,
    "fields" / MainChannelSelection,
    "subchannel" / SubchannelSelection,
    "control" / Int8ub,
)

#: MMC-6 6.20: READ CD MSF: from the starting MSF up to (not including) the ending one.
ReadCdMsfCdb = Struct(
    "opcode" / Int8ub,
    "flags" / ReadCdFlags,
    "reserved" / Int8ub,
    "start" / Int24ub,
    "end" / Int24ub,
    "fields" / MainChannelSelection,
    "subchannel" / SubchannelSelection,
    "control" / Int8ub,
)

#: MMC-6 6.23: READ CAPACITY (LOGICAL BLOCK ADDRESS and PMI are obsolete).
ReadCapacityCdb = Struct(
    "opcode" / Int8ub,
    "reserved" / Int8ub,
    "lba" / Int32ub,
    "reserved2" / Bytes(2),
    "pmi" / Int8ub,
    "control" / Int8ub,
)

#: MMC-6 6.38: SEEK (10).
Seek10Cdb = Struct(
    "opcode" / Int8ub,
    "reserved" / Int8ub,
    "lba" / Int32ub,
    "reserved2" / Bytes(3),
    "control" / Int8ub,
)

#: MMC-6 6.47 and 6.48: WRITE (10) and WRITE (12) (refused: the media are read-only).
Write10Cdb = Struct(
    "opcode" / Int8ub,
    "flags" / WriteFlags,
    "lba" / Int32ub,
    "reserved" / Int8ub,
    "transfer_length" / Int16ub,
    "control" / Int8ub,
)
Write12Cdb = Struct(
    "opcode" / Int8ub,
    "flags" / WriteFlags,
    "lba" / Int32ub,
    "transfer_length" / Int32ub,
    "streaming" / Streaming,
    "control" / Int8ub,
)

# --- tray and lock ----------------------------------------------------------------

#: MMC-6 6.39: START STOP UNIT.
StartStopUnitCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct("reserved" / BitsInteger(7), "immed" / Flag),
    "reserved" / Int8ub,
    "layer" / BitStruct("reserved" / BitsInteger(6), "format_layer_number" / BitsInteger(2)),
    "action"
    / BitStruct(
        "power_condition" / BitsInteger(4),
        "reserved" / BitsInteger(1),
        "fl" / Flag,
        "loej" / Flag,
        "start" / Flag,
    ),
    "control" / Int8ub,
)

#: MMC-6 6.10 / SPC-5 6.13: PREVENT ALLOW MEDIUM REMOVAL.
PreventAllowCdb = Struct(
    "opcode" / Int8ub,
    "reserved" / Bytes(3),
    "flags" / BitStruct("reserved" / BitsInteger(6), "persistent" / Flag, "prevent" / Flag),
    "control" / Int8ub,
)

#: MMC-6 6.9: MECHANISM STATUS.
MechanismStatusCdb = Struct(
    "opcode" / Int8ub,
    "reserved" / Bytes(7),
    "allocation_length" / Int16ub,
    "reserved2" / Int8ub,
    "control" / Int8ub,
)

# --- what the drive and the disc report ------------------------------------------------

#: MMC-6 6.6: GET EVENT STATUS NOTIFICATION.
GetEventStatusCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct("reserved" / BitsInteger(7), "polled" / Flag),
    "reserved" / Bytes(2),
    "notification_class_request" / Int8ub,
    "reserved2" / Bytes(2),
    "allocation_length" / Int16ub,
    "control" / Int8ub,
)

#: MMC-6 6.5: GET CONFIGURATION.
GetConfigurationCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct("reserved" / BitsInteger(6), "rt" / BitsInteger(2)),
    "starting_feature_number" / Int16ub,
    "reserved" / Bytes(3),
    "allocation_length" / Int16ub,
    "control" / Int8ub,
)

#: MMC-6 6.26: READ TOC/PMA/ATIP. Bits 7-6 of the control byte are the format
#: of SFF-8020i (vendor specific in MMC-6, still sent by older host software).
ReadTocCdb = Struct(
    "opcode" / Int8ub,
    "flags" / MsfFlag,
    "response" / BitStruct("reserved" / BitsInteger(4), "format" / BitsInteger(4)),
    "reserved" / Bytes(3),
    "track_session_number" / Int8ub,
    "allocation_length" / Int16ub,
    "control"
    / BitStruct(
        "vendor_format" / BitsInteger(2),
        "reserved" / BitsInteger(3),
        "naca" / Flag,
        "obsolete" / BitsInteger(2),
    ),
)

#: MMC-6 6.22: READ DISC INFORMATION.
ReadDiscInfoCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct("reserved" / BitsInteger(5), "data_type" / BitsInteger(3)),
    "reserved" / Bytes(5),
    "allocation_length" / Int16ub,
    "control" / Int8ub,
)

#: MMC-6 6.27: READ TRACK INFORMATION.
ReadTrackInfoCdb = Struct(
    "opcode" / Int8ub,
    "flags"
    / BitStruct("reserved" / BitsInteger(5), "open" / Flag, "address_type" / BitsInteger(2)),
    "address" / Int32ub,
    "reserved" / Int8ub,
    "allocation_length" / Int16ub,
    "control" / Int8ub,
)

#: MMC-6 6.25: READ SUB-CHANNEL.
ReadSubchannelCdb = Struct(
    "opcode" / Int8ub,
    "flags" / MsfFlag,
    "data" / BitStruct("reserved" / BitsInteger(1), "subq" / Flag, "reserved2" / BitsInteger(6)),
    "parameter_list" / Int8ub,
    "reserved" / Bytes(2),
    "track_number" / Int8ub,
    "allocation_length" / Int16ub,
    "control" / Int8ub,
)

#: MMC-6 6.7: GET PERFORMANCE.
GetPerformanceCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct("reserved" / BitsInteger(3), "data_type" / BitsInteger(5)),
    "lba" / Int32ub,
    "reserved" / Bytes(2),
    "maximum_number_of_descriptors" / Int16ub,
    "type" / Int8ub,
    "control" / Int8ub,
)

#: MMC-6 6.37: SET CD SPEED.
SetCdSpeedCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct("reserved" / BitsInteger(6), "rotational_control" / BitsInteger(2)),
    "read_speed" / Int16ub,
    "write_speed" / Int16ub,
    "reserved" / Bytes(5),
    "control" / Int8ub,
)

#: MMC-6 6.24: READ DISC STRUCTURE (READ DVD STRUCTURE).
ReadDiscStructureCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct("reserved" / BitsInteger(4), "media_type" / BitsInteger(4)),
    "address" / Int32ub,
    "layer_number" / Int8ub,
    "format" / Int8ub,
    "allocation_length" / Int16ub,
    "agid" / BitStruct("agid" / BitsInteger(2), "reserved" / BitsInteger(6)),
    "control" / Int8ub,
)

#: MMC-6 6.30: REPORT KEY.
ReportKeyCdb = Struct(
    "opcode" / Int8ub,
    "reserved" / Int8ub,
    "lba" / Int32ub,
    "reserved2" / Int8ub,
    "key_class" / Int8ub,
    "allocation_length" / Int16ub,
    "key" / BitStruct("agid" / BitsInteger(2), "key_format" / BitsInteger(6)),
    "control" / Int8ub,
)

# --- audio ---------------------------------------------------------------------------

#: MMC-6 6.12: PLAY AUDIO (10).
PlayAudio10Cdb = Struct(
    "opcode" / Int8ub,
    "reserved" / Int8ub,
    "lba" / Int32ub,
    "reserved2" / Int8ub,
    "play_length" / Int16ub,
    "control" / Int8ub,
)

#: MMC-6 6.13: PLAY AUDIO (12).
PlayAudio12Cdb = Struct(
    "opcode" / Int8ub,
    "reserved" / Int8ub,
    "lba" / Int32ub,
    "play_length" / Int32ub,
    "reserved2" / Int8ub,
    "control" / Int8ub,
)

#: MMC-6 6.14: PLAY AUDIO MSF.
PlayAudioMsfCdb = Struct(
    "opcode" / Int8ub,
    "reserved" / Bytes(2),
    "start" / Int24ub,
    "end" / Int24ub,
    "control" / Int8ub,
)

#: MMC-6 6.11: PAUSE/RESUME.
PauseResumeCdb = Struct(
    "opcode" / Int8ub,
    "reserved" / Bytes(7),
    "flags" / BitStruct("reserved" / BitsInteger(7), "resume" / Flag),
    "control" / Int8ub,
)

#: MMC-6 6.36: STOP PLAY/SCAN.
StopPlayScanCdb = Struct("opcode" / Int8ub, "reserved" / Bytes(8), "control" / Int8ub)
