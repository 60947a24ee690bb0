"""Sense data: the named sense codes, the one exception, and its bytes.

Every check condition in devemu is a :class:`SenseError` raised with one
of the :class:`SenseCode` constants below. Handlers never build sense
bytes; the dispatcher does, once, in fixed (SPC-5 4.4.3) or descriptor
(SPC-5 4.4.2) format depending on the D_SENSE bit of the control mode
page or the DESC bit of REQUEST SENSE.

Codes are named once here, after SPC-5 annex D (table D.1, ASC/ASCQ
assignments), so that a grep for the name finds every place that can
return it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

from construct import (
    BitsInteger,
    BitStruct,
    Bytes,
    Const,
    Flag,
    Int8ub,
    Int32ub,
    Struct,
)


class SenseKey(IntEnum):
    """Sense keys, SPC-5 4.4.8 table 52."""

    NO_SENSE = 0x0
    RECOVERED_ERROR = 0x1
    NOT_READY = 0x2
    MEDIUM_ERROR = 0x3
    HARDWARE_ERROR = 0x4
    ILLEGAL_REQUEST = 0x5
    UNIT_ATTENTION = 0x6
    DATA_PROTECT = 0x7
    BLANK_CHECK = 0x8
    VENDOR_SPECIFIC = 0x9
    COPY_ABORTED = 0xA
    ABORTED_COMMAND = 0xB
    VOLUME_OVERFLOW = 0xD
    MISCOMPARE = 0xE
    COMPLETED = 0xF


class SenseCode(NamedTuple):
    """A sense key with its additional sense code and qualifier."""

    key: SenseKey
    asc: int
    ascq: int


_K = SenseKey

# --- NO SENSE (with tape flags), SSC-5 4.2.x and SPC-5 annex D
NO_ADDITIONAL_SENSE = SenseCode(_K.NO_SENSE, 0x00, 0x00)
FILEMARK_DETECTED = SenseCode(_K.NO_SENSE, 0x00, 0x01)
END_OF_PARTITION_MEDIUM_DETECTED = SenseCode(_K.NO_SENSE, 0x00, 0x02)
SETMARK_DETECTED = SenseCode(_K.NO_SENSE, 0x00, 0x03)
BEGINNING_OF_PARTITION_MEDIUM_DETECTED = SenseCode(_K.NO_SENSE, 0x00, 0x04)
END_OF_DATA_DETECTED_NO_SENSE = SenseCode(_K.NO_SENSE, 0x00, 0x05)
PROGRAMMABLE_EARLY_WARNING_DETECTED = SenseCode(_K.NO_SENSE, 0x00, 0x07)
AUDIO_PLAY_IN_PROGRESS = SenseCode(_K.NO_SENSE, 0x00, 0x11)
AUDIO_PLAY_PAUSED = SenseCode(_K.NO_SENSE, 0x00, 0x12)
AUDIO_PLAY_COMPLETED = SenseCode(_K.NO_SENSE, 0x00, 0x13)
AUDIO_PLAY_STOPPED_ERROR = SenseCode(_K.NO_SENSE, 0x00, 0x14)
NO_CURRENT_AUDIO_STATUS = SenseCode(_K.NO_SENSE, 0x00, 0x15)
OPERATION_IN_PROGRESS = SenseCode(_K.NO_SENSE, 0x00, 0x16)
LOGICAL_UNIT_NOT_READY_NO_SENSE = SenseCode(_K.NO_SENSE, 0x04, 0x00)
EARLY_WARNING_EOM = SenseCode(_K.NO_SENSE, 0x00, 0x02)

# --- RECOVERED ERROR
RECOVERED_DATA_WITH_RETRIES = SenseCode(_K.RECOVERED_ERROR, 0x17, 0x01)
DEFECT_LIST_NOT_FOUND = SenseCode(_K.RECOVERED_ERROR, 0x1C, 0x00)

# --- NOT READY, SPC-5 annex D; MMC-6 and SSC-5 use the same codes
LOGICAL_UNIT_NOT_READY = SenseCode(_K.NOT_READY, 0x04, 0x00)
LOGICAL_UNIT_BECOMING_READY = SenseCode(_K.NOT_READY, 0x04, 0x01)
LOGICAL_UNIT_NOT_READY_INITIALIZING_COMMAND_REQUIRED = SenseCode(_K.NOT_READY, 0x04, 0x02)
LOGICAL_UNIT_NOT_READY_MANUAL_INTERVENTION = SenseCode(_K.NOT_READY, 0x04, 0x03)
LOGICAL_UNIT_NOT_READY_FORMAT_IN_PROGRESS = SenseCode(_K.NOT_READY, 0x04, 0x04)
LOGICAL_UNIT_NOT_READY_OPERATION_IN_PROGRESS = SenseCode(_K.NOT_READY, 0x04, 0x07)
LOGICAL_UNIT_NOT_READY_SELF_TEST_IN_PROGRESS = SenseCode(_K.NOT_READY, 0x04, 0x09)
LOGICAL_UNIT_NOT_READY_OFFLINE = SenseCode(_K.NOT_READY, 0x04, 0x12)
INCOMPATIBLE_MEDIUM_INSTALLED = SenseCode(_K.NOT_READY, 0x30, 0x00)
CANNOT_READ_MEDIUM_UNKNOWN_FORMAT = SenseCode(_K.NOT_READY, 0x30, 0x01)
CANNOT_READ_MEDIUM_INCOMPATIBLE_FORMAT = SenseCode(_K.NOT_READY, 0x30, 0x02)
MEDIUM_NOT_PRESENT = SenseCode(_K.NOT_READY, 0x3A, 0x00)
MEDIUM_NOT_PRESENT_TRAY_CLOSED = SenseCode(_K.NOT_READY, 0x3A, 0x01)
MEDIUM_NOT_PRESENT_TRAY_OPEN = SenseCode(_K.NOT_READY, 0x3A, 0x02)
MEDIUM_NOT_PRESENT_LOADABLE = SenseCode(_K.NOT_READY, 0x3A, 0x03)
MEDIUM_NOT_PRESENT_MEDIUM_AUXILIARY_MEMORY_ACCESSIBLE = SenseCode(_K.NOT_READY, 0x3A, 0x04)

# --- MEDIUM ERROR
UNRECOVERED_READ_ERROR = SenseCode(_K.MEDIUM_ERROR, 0x11, 0x00)
WRITE_ERROR = SenseCode(_K.MEDIUM_ERROR, 0x0C, 0x00)
MEDIUM_FORMAT_CORRUPTED = SenseCode(_K.MEDIUM_ERROR, 0x31, 0x00)
SEQUENTIAL_POSITIONING_ERROR = SenseCode(_K.MEDIUM_ERROR, 0x3B, 0x00)
END_OF_DATA_NOT_FOUND = SenseCode(_K.MEDIUM_ERROR, 0x14, 0x03)
INCOMPATIBLE_MEDIUM_MEDIUM_ERROR = SenseCode(_K.MEDIUM_ERROR, 0x30, 0x00)
MEDIUM_LOAD_OR_EJECT_FAILED_MEDIUM_ERROR = SenseCode(_K.MEDIUM_ERROR, 0x53, 0x00)

# --- HARDWARE ERROR
INTERNAL_TARGET_FAILURE = SenseCode(_K.HARDWARE_ERROR, 0x44, 0x00)
LOGICAL_UNIT_COMMUNICATION_FAILURE = SenseCode(_K.HARDWARE_ERROR, 0x08, 0x00)
MECHANICAL_POSITIONING_ERROR = SenseCode(_K.HARDWARE_ERROR, 0x15, 0x01)
MEDIUM_LOAD_OR_EJECT_FAILED = SenseCode(_K.HARDWARE_ERROR, 0x53, 0x00)

# --- ILLEGAL REQUEST
PARAMETER_LIST_LENGTH_ERROR = SenseCode(_K.ILLEGAL_REQUEST, 0x1A, 0x00)
INVALID_COMMAND_OPERATION_CODE = SenseCode(_K.ILLEGAL_REQUEST, 0x20, 0x00)
LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE = SenseCode(_K.ILLEGAL_REQUEST, 0x21, 0x00)
INVALID_ELEMENT_ADDRESS = SenseCode(_K.ILLEGAL_REQUEST, 0x21, 0x01)
INVALID_FIELD_IN_CDB = SenseCode(_K.ILLEGAL_REQUEST, 0x24, 0x00)
LOGICAL_UNIT_NOT_SUPPORTED = SenseCode(_K.ILLEGAL_REQUEST, 0x25, 0x00)
INVALID_FIELD_IN_PARAMETER_LIST = SenseCode(_K.ILLEGAL_REQUEST, 0x26, 0x00)
PARAMETER_NOT_SUPPORTED = SenseCode(_K.ILLEGAL_REQUEST, 0x26, 0x01)
PARAMETER_VALUE_INVALID = SenseCode(_K.ILLEGAL_REQUEST, 0x26, 0x02)
INVALID_RELEASE_OF_PERSISTENT_RESERVATION = SenseCode(_K.ILLEGAL_REQUEST, 0x26, 0x04)
COMMAND_SEQUENCE_ERROR = SenseCode(_K.ILLEGAL_REQUEST, 0x2C, 0x00)
CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT = SenseCode(_K.ILLEGAL_REQUEST, 0x30, 0x05)
SAVING_PARAMETERS_NOT_SUPPORTED = SenseCode(_K.ILLEGAL_REQUEST, 0x39, 0x00)
MEDIUM_DESTINATION_ELEMENT_FULL = SenseCode(_K.ILLEGAL_REQUEST, 0x3B, 0x0D)
MEDIUM_SOURCE_ELEMENT_EMPTY = SenseCode(_K.ILLEGAL_REQUEST, 0x3B, 0x0E)
MEDIUM_MAGAZINE_NOT_ACCESSIBLE = SenseCode(_K.ILLEGAL_REQUEST, 0x3B, 0x11)
INVALID_MESSAGE_ERROR = SenseCode(_K.ILLEGAL_REQUEST, 0x49, 0x00)
MEDIUM_REMOVAL_PREVENTED = SenseCode(_K.ILLEGAL_REQUEST, 0x53, 0x02)
MEDIUM_REMOVAL_PREVENTED_BY_DATA_TRANSFER_ELEMENT = SenseCode(_K.ILLEGAL_REQUEST, 0x53, 0x03)
INSUFFICIENT_REGISTRATION_RESOURCES = SenseCode(_K.ILLEGAL_REQUEST, 0x55, 0x04)
ILLEGAL_MODE_FOR_THIS_TRACK = SenseCode(_K.ILLEGAL_REQUEST, 0x64, 0x00)
INVALID_PACKET_SIZE = SenseCode(_K.ILLEGAL_REQUEST, 0x64, 0x01)
COPY_PROTECTION_KEY_EXCHANGE_FAILURE = SenseCode(_K.ILLEGAL_REQUEST, 0x6F, 0x00)
READ_OF_SCRAMBLED_SECTOR_WITHOUT_AUTHENTICATION = SenseCode(_K.ILLEGAL_REQUEST, 0x6F, 0x03)
INVALID_ADDRESS_FOR_WRITE = SenseCode(_K.ILLEGAL_REQUEST, 0x21, 0x02)
SEQUENTIAL_POSITIONING_ERROR_ILLEGAL = SenseCode(_K.ILLEGAL_REQUEST, 0x3B, 0x00)
INCOMPATIBLE_MEDIUM_ILLEGAL_REQUEST = SenseCode(_K.ILLEGAL_REQUEST, 0x30, 0x00)
CANNOT_READ_MEDIUM_INCOMPATIBLE_FORMAT_ILLEGAL = SenseCode(_K.ILLEGAL_REQUEST, 0x30, 0x02)
INVALID_COMBINATION_OF_WINDOWS = SenseCode(_K.ILLEGAL_REQUEST, 0x2C, 0x02)
NO_DEFECT_SPARE_LOCATION_AVAILABLE = SenseCode(_K.ILLEGAL_REQUEST, 0x32, 0x00)
MEDIUM_NOT_FORMATTED = SenseCode(_K.ILLEGAL_REQUEST, 0x30, 0x10)
UNLOAD_TAPE_FAILURE_ILLEGAL = SenseCode(_K.ILLEGAL_REQUEST, 0x53, 0x01)

# --- UNIT ATTENTION
NOT_READY_TO_READY_CHANGE = SenseCode(_K.UNIT_ATTENTION, 0x28, 0x00)
IMPORT_OR_EXPORT_ELEMENT_ACCESSED = SenseCode(_K.UNIT_ATTENTION, 0x28, 0x01)
POWER_ON_RESET_OR_BUS_DEVICE_RESET = SenseCode(_K.UNIT_ATTENTION, 0x29, 0x00)
POWER_ON_OCCURRED = SenseCode(_K.UNIT_ATTENTION, 0x29, 0x01)
PARAMETERS_CHANGED = SenseCode(_K.UNIT_ATTENTION, 0x2A, 0x00)
MODE_PARAMETERS_CHANGED = SenseCode(_K.UNIT_ATTENTION, 0x2A, 0x01)
LOG_PARAMETERS_CHANGED = SenseCode(_K.UNIT_ATTENTION, 0x2A, 0x02)
RESERVATIONS_PREEMPTED = SenseCode(_K.UNIT_ATTENTION, 0x2A, 0x03)
RESERVATIONS_RELEASED = SenseCode(_K.UNIT_ATTENTION, 0x2A, 0x04)
REGISTRATIONS_PREEMPTED = SenseCode(_K.UNIT_ATTENTION, 0x2A, 0x05)
CAPACITY_DATA_HAS_CHANGED = SenseCode(_K.UNIT_ATTENTION, 0x2A, 0x09)
MEDIUM_REMOVAL_REQUEST = SenseCode(_K.UNIT_ATTENTION, 0x5A, 0x01)
OPERATOR_MEDIUM_REMOVAL_REQUEST = MEDIUM_REMOVAL_REQUEST
INQUIRY_DATA_HAS_CHANGED = SenseCode(_K.UNIT_ATTENTION, 0x3F, 0x03)
REPORTED_LUNS_DATA_HAS_CHANGED = SenseCode(_K.UNIT_ATTENTION, 0x3F, 0x0E)
MICROCODE_HAS_BEEN_CHANGED = SenseCode(_K.UNIT_ATTENTION, 0x3F, 0x01)

# --- DATA PROTECT
WRITE_PROTECTED = SenseCode(_K.DATA_PROTECT, 0x27, 0x00)
HARDWARE_WRITE_PROTECTED = SenseCode(_K.DATA_PROTECT, 0x27, 0x01)
LOGICAL_UNIT_SOFTWARE_WRITE_PROTECTED = SenseCode(_K.DATA_PROTECT, 0x27, 0x02)
ASSOCIATED_WRITE_PROTECT = SenseCode(_K.DATA_PROTECT, 0x27, 0x03)
PERSISTENT_WRITE_PROTECT = SenseCode(_K.DATA_PROTECT, 0x27, 0x04)
PERMANENT_WRITE_PROTECT = SenseCode(_K.DATA_PROTECT, 0x27, 0x05)
WORM_MEDIUM_OVERWRITE_ATTEMPTED = SenseCode(_K.DATA_PROTECT, 0x30, 0x0C)
CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT_DATA_PROTECT = SenseCode(_K.DATA_PROTECT, 0x30, 0x05)

# --- tape data encryption, SSC-5 4.2 (data encryption) and SPC-5 annex D (ASC 74h: security errors)
UNABLE_TO_DECRYPT_DATA = SenseCode(_K.DATA_PROTECT, 0x74, 0x01)
UNENCRYPTED_DATA_ENCOUNTERED_WHILE_DECRYPTING = SenseCode(_K.DATA_PROTECT, 0x74, 0x02)
INCORRECT_DATA_ENCRYPTION_KEY = SenseCode(_K.DATA_PROTECT, 0x74, 0x03)
CRYPTOGRAPHIC_INTEGRITY_VALIDATION_FAILED = SenseCode(_K.DATA_PROTECT, 0x74, 0x04)
ENCRYPTION_MODE_MISMATCH_ON_READ = SenseCode(_K.DATA_PROTECT, 0x74, 0x09)
ENCRYPTED_BLOCK_NOT_RAW_READ_ENABLED = SenseCode(_K.DATA_PROTECT, 0x74, 0x0A)
DATA_ENCRYPTION_KEY_INSTANCE_COUNTER_HAS_CHANGED = SenseCode(_K.DATA_PROTECT, 0x2A, 0x13)
DATA_ENCRYPTION_PARAMETERS_CHANGED_BY_ANOTHER_I_T_NEXUS = SenseCode(_K.UNIT_ATTENTION, 0x2A, 0x11)

# --- BLANK CHECK, SSC-5 4.2.x
END_OF_DATA_DETECTED = SenseCode(_K.BLANK_CHECK, 0x00, 0x05)
BLANK_CHECK_NO_ADDITIONAL_SENSE = SenseCode(_K.BLANK_CHECK, 0x00, 0x00)

# --- ABORTED COMMAND
COMMAND_ABORTED = SenseCode(_K.ABORTED_COMMAND, 0x00, 0x00)
LOGICAL_BLOCK_GUARD_CHECK_FAILED = SenseCode(_K.ABORTED_COMMAND, 0x10, 0x01)
OVERLAPPED_COMMANDS_ATTEMPTED = SenseCode(_K.ABORTED_COMMAND, 0x4E, 0x00)

# --- VOLUME OVERFLOW, SSC-5 4.2.x
VOLUME_OVERFLOW_END_OF_PARTITION = SenseCode(_K.VOLUME_OVERFLOW, 0x00, 0x02)

# --- MISCOMPARE
MISCOMPARE_DURING_VERIFY_OPERATION = SenseCode(_K.MISCOMPARE, 0x1D, 0x00)

# --- EXTENDED COPY, SPC-4 6.3.3 and SPC-5 annex D
COPY_TARGET_DEVICE_NOT_REACHABLE = SenseCode(_K.COPY_ABORTED, 0x0D, 0x02)
THIRD_PARTY_DEVICE_FAILURE = SenseCode(_K.COPY_ABORTED, 0x0D, 0x01)
INCORRECT_COPY_TARGET_DEVICE_TYPE = SenseCode(_K.COPY_ABORTED, 0x0D, 0x03)
COPY_SEGMENT_GRANULARITY_VIOLATION = SenseCode(_K.COPY_ABORTED, 0x26, 0x0D)
TOO_MANY_TARGET_DESCRIPTORS = SenseCode(_K.ILLEGAL_REQUEST, 0x26, 0x06)
UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE = SenseCode(_K.ILLEGAL_REQUEST, 0x26, 0x07)
TOO_MANY_SEGMENT_DESCRIPTORS = SenseCode(_K.ILLEGAL_REQUEST, 0x26, 0x08)
UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE = SenseCode(_K.ILLEGAL_REQUEST, 0x26, 0x09)
INLINE_DATA_LENGTH_EXCEEDED = SenseCode(_K.ILLEGAL_REQUEST, 0x26, 0x0B)

# --- SBC-4: data-out shorter or longer than the CDB asks, thin provisioning out of space
INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT = SenseCode(_K.ILLEGAL_REQUEST, 0x0E, 0x03)
SPACE_ALLOCATION_FAILED_WRITE_PROTECT = SenseCode(_K.DATA_PROTECT, 0x27, 0x07)


@dataclass(frozen=True, slots=True)
class FieldPointer:
    """The sense-key specific field pointer, SPC-5 4.4.2.4.2 table 45.

    ``in_cdb`` is the C/D bit: True when the bad field is in the CDB,
    False when it is in the parameter list. ``bit`` is the bit pointer
    (BPV=1) or None when the whole byte is meant.
    """

    byte: int
    bit: int | None = None
    in_cdb: bool = True

    def bytes3(self) -> bytes:
        """The three sense-key specific bytes with SKSV set."""
        b0 = 0x80 | (0x40 if self.in_cdb else 0)
        if self.bit is not None:
            b0 |= 0x08 | (self.bit & 0x7)
        return bytes([b0, (self.byte >> 8) & 0xFF, self.byte & 0xFF])


def cdb_field(byte: int, bit: int | None = None) -> FieldPointer:
    """A field pointer into the CDB (C/D=1)."""
    return FieldPointer(byte, bit, in_cdb=True)


def param_field(byte: int, bit: int | None = None) -> FieldPointer:
    """A field pointer into the parameter list (C/D=0)."""
    return FieldPointer(byte, bit, in_cdb=False)


class SenseError(Exception):
    """A command that ends in CHECK CONDITION, SAM-5 5.3.

    ``information`` fills the INFORMATION field (residue for tape, the
    offending LBA, the miscompare offset) and sets VALID. ``filemark``,
    ``eom`` and ``ili`` are the stream bits of SPC-5 4.4.3.
    ``transferred`` is the data-in length when the command moved data
    before it stopped (a short tape record). ``progress`` fills the
    progress indication (SPC-5 4.4.2.4.4) for NOT READY answers.
    """

    def __init__(
        self,
        code: SenseCode,
        *,
        field: FieldPointer | None = None,
        information: int | None = None,
        command_specific: int | None = None,
        filemark: bool = False,
        eom: bool = False,
        ili: bool = False,
        transferred: int | None = None,
        progress: int | None = None,
        descriptors: bytes = b"",
    ) -> None:
        super().__init__(f"{code.key.name} asc=0x{code.asc:02x} ascq=0x{code.ascq:02x}")
        self.code = code
        self.field = field
        self.information = information
        self.command_specific = command_specific
        self.filemark = filemark
        self.eom = eom
        self.ili = ili
        self.transferred = transferred
        self.progress = progress
        #: Further sense data descriptors a command standard defines (OSD-2
        #: 4.16.2: the OSD object identification descriptor), appended in
        #: descriptor format.
        self.descriptors = descriptors

    def sense_bytes(self, *, descriptor: bool = False) -> bytes:
        """The sense data of this error, fixed or descriptor format."""
        return build_sense(self, descriptor=descriptor)


class ResponseCode(IntEnum):
    """Sense data response codes, SPC-5 4.4.1 table 40."""

    FIXED_CURRENT = 0x70
    FIXED_DEFERRED = 0x71
    DESCRIPTOR_CURRENT = 0x72
    DESCRIPTOR_DEFERRED = 0x73


FIXED_SENSE_LENGTH = 18

# SPC-5 4.4.3 table 48: fixed format sense data.
FixedSense = Struct(
    "head"
    / BitStruct(
        "valid" / Flag,
        "response_code" / BitsInteger(7),
    ),
    "obsolete" / Const(0, Int8ub),
    "flags"
    / BitStruct(
        "filemark" / Flag,
        "eom" / Flag,
        "ili" / Flag,
        "sdat_ovfl" / Flag,
        "sense_key" / BitsInteger(4),
    ),
    "information" / Int32ub,
    "additional_length" / Int8ub,
    "command_specific" / Int32ub,
    "asc" / Int8ub,
    "ascq" / Int8ub,
    "fru" / Int8ub,
    "sense_key_specific" / Bytes(3),
)

# SPC-5 4.4.2 table 41: descriptor format sense data header.
DescriptorSenseHeader = Struct(
    "response_code" / Int8ub,
    "sense_key" / Int8ub,
    "asc" / Int8ub,
    "ascq" / Int8ub,
    "flags" / Int8ub,
    "reserved" / Const(b"\x00\x00"),
    "additional_length" / Int8ub,
)

# SPC-5 4.4.2.2 table 43: information sense data descriptor.
InformationDescriptor = Struct(
    "type" / Const(0x00, Int8ub),
    "additional_length" / Const(0x0A, Int8ub),
    "valid" / Const(0x80, Int8ub),
    "reserved" / Const(0, Int8ub),
    "information" / Bytes(8),
)

# SPC-5 4.4.2.3 table 44: command-specific information descriptor.
CommandSpecificDescriptor = Struct(
    "type" / Const(0x01, Int8ub),
    "additional_length" / Const(0x0A, Int8ub),
    "reserved" / Const(b"\x00\x00"),
    "information" / Bytes(8),
)

# SPC-5 4.4.2.4.1 table 45: sense key specific descriptor.
SenseKeySpecificDescriptor = Struct(
    "type" / Const(0x02, Int8ub),
    "additional_length" / Const(0x06, Int8ub),
    "reserved" / Const(b"\x00\x00"),
    "sense_key_specific" / Bytes(3),
    "reserved2" / Const(0, Int8ub),
)

# SPC-5 4.4.2.6 table 50: stream commands sense data descriptor (SSC).
StreamCommandsDescriptor = Struct(
    "type" / Const(0x04, Int8ub),
    "additional_length" / Const(0x02, Int8ub),
    "reserved" / Const(0, Int8ub),
    "flags" / BitStruct("filemark" / Flag, "eom" / Flag, "ili" / Flag, "reserved" / BitsInteger(5)),
)


def _sense_key_specific(error: SenseError) -> bytes | None:
    if error.field is not None:
        return error.field.bytes3()
    if error.progress is not None:
        return b"\x80" + (error.progress & 0xFFFF).to_bytes(2, "big")
    return None


def build_sense(error: SenseError, *, descriptor: bool = False) -> bytes:
    """Sense data for ``error``: fixed format (SPC-5 4.4.3) or descriptor (4.4.2)."""
    code = error.code
    sks = _sense_key_specific(error)
    if not descriptor:
        info = error.information
        fixed: bytes = FixedSense.build(
            {
                "head": {
                    # SPC-5 4.4.3: VALID says the field holds the whole value
                    # (a negative tape residue is 32-bit two's complement).
                    "valid": info is not None and -(1 << 31) <= info <= 0xFFFFFFFF,
                    "response_code": ResponseCode.FIXED_CURRENT,
                },
                "flags": {
                    "filemark": error.filemark,
                    "eom": error.eom,
                    "ili": error.ili,
                    "sdat_ovfl": False,
                    "sense_key": code.key,
                },
                "information": (info or 0) & 0xFFFFFFFF,
                "additional_length": FIXED_SENSE_LENGTH - 8,
                "command_specific": (error.command_specific or 0) & 0xFFFFFFFF,
                "asc": code.asc,
                "ascq": code.ascq,
                "fru": 0,
                "sense_key_specific": sks or b"\x00\x00\x00",
            }
        )
        return fixed
    body = b""
    if error.information is not None:
        body += InformationDescriptor.build(
            {"information": (error.information & (2**64 - 1)).to_bytes(8, "big")}
        )
    if error.command_specific is not None:
        body += CommandSpecificDescriptor.build(
            {"information": (error.command_specific & (2**64 - 1)).to_bytes(8, "big")}
        )
    if sks is not None:
        body += SenseKeySpecificDescriptor.build({"sense_key_specific": sks})
    if error.filemark or error.eom or error.ili:
        body += StreamCommandsDescriptor.build(
            {
                "flags": {
                    "filemark": error.filemark,
                    "eom": error.eom,
                    "ili": error.ili,
                    "reserved": 0,
                }
            }
        )
    body += error.descriptors
    head: bytes = DescriptorSenseHeader.build(
        {
            "response_code": ResponseCode.DESCRIPTOR_CURRENT,
            "sense_key": code.key,
            "asc": code.asc,
            "ascq": code.ascq,
            "flags": 0,
            "additional_length": len(body),
        }
    )
    return head + body


def parse_sense(data: bytes) -> tuple[SenseCode, dict[str, object]]:
    """Decode sense bytes back into a code and its fields (tests, tools).

    Returns the :class:`SenseCode` and a dict with ``information``,
    ``filemark``, ``eom``, ``ili`` and ``sense_key_specific`` when present.
    """
    rc = data[0] & 0x7F
    fields: dict[str, object] = {}
    if rc in (ResponseCode.FIXED_CURRENT, ResponseCode.FIXED_DEFERRED):
        fixed = FixedSense.parse(data[:FIXED_SENSE_LENGTH].ljust(FIXED_SENSE_LENGTH, b"\0"))
        code = SenseCode(SenseKey(fixed.flags.sense_key), fixed.asc, fixed.ascq)
        if fixed.head.valid:
            fields["information"] = fixed.information
        fields["filemark"] = fixed.flags.filemark
        fields["eom"] = fixed.flags.eom
        fields["ili"] = fixed.flags.ili
        fields["command_specific"] = fixed.command_specific
        if fixed.sense_key_specific[0] & 0x80:
            fields["sense_key_specific"] = bytes(fixed.sense_key_specific)
        return code, fields
    if rc in (ResponseCode.DESCRIPTOR_CURRENT, ResponseCode.DESCRIPTOR_DEFERRED):
        head = DescriptorSenseHeader.parse(data[:8])
        code = SenseCode(SenseKey(head.sense_key & 0xF), head.asc, head.ascq)
        pos, end = 8, 8 + head.additional_length
        fields.update(filemark=False, eom=False, ili=False)
        while pos + 2 <= end and pos + 2 <= len(data):
            dtype, dlen = data[pos], data[pos + 1]
            desc = data[pos : pos + 2 + dlen]
            if dtype == 0x00:
                fields["information"] = int.from_bytes(desc[4:12], "big")
            elif dtype == 0x01:
                fields["command_specific"] = int.from_bytes(desc[4:12], "big")
            elif dtype == 0x02:
                fields["sense_key_specific"] = bytes(desc[4:7])
            elif dtype == 0x04:
                fields["filemark"] = bool(desc[3] & 0x80)
                fields["eom"] = bool(desc[3] & 0x40)
                fields["ili"] = bool(desc[3] & 0x20)
            pos += 2 + dlen
        return code, fields
    raise ValueError(f"not sense data: response code 0x{rc:02x}")


# --- SSC-5: FORMAT MEDIUM away from BOP of partition 0
POSITION_PAST_BEGINNING_OF_MEDIUM = SenseCode(_K.ILLEGAL_REQUEST, 0x3B, 0x0C)
