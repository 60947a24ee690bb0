"""The drive dump: READ BUFFER of it and the diagnostic that forces one (SPC-5 6.19, 6.42).

LTO drives keep a dump of their state for the vendor's support, which a
host reads with READ BUFFER and may ask to be taken with SEND DIAGNOSTIC;
LTFS takes one after every error it cannot explain. What the drive
answers (IBM LTO SCSI Reference, READ BUFFER and SEND DIAGNOSTIC, as
LTFS's sg backend uses them):

- READ BUFFER (SPC-5 6.19) of buffer ID 01h, the dump: mode 03h
  (descriptor mode) gives its offset boundary and capacity, mode 02h
  (data mode) its bytes from the buffer offset;
- SEND DIAGNOSTIC with PF (SPC-5 6.42) and the vendor specific
  diagnostic page 80h (SPC-5 7.2.1) whose diagnostic ID is 0160h, force
  dump: the drive takes a new dump.

The dump's bytes are devemu's own (a real one is the vendor's binary):
an ASCII header naming the drive, then its status as JSON (cartridge,
position, faults, TapeAlert flags), so an operator who gets a dump from
a user can read it. A drive that was never asked to take one takes it
at the first READ BUFFER, and keeps it until a force dump replaces it,
so that the pieces a host reads belong to one dump.
"""

from __future__ import annotations

import json
import time
from enum import IntEnum
from typing import TYPE_CHECKING

from construct import Int8ub, Int16ub, Int24ub, Struct

from devemu.scsi.command import Command
from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    SenseError,
    cdb_field,
    param_field,
)

if TYPE_CHECKING:
    from devemu.tape.drive import TapeDrive

#: Buffer ID of the drive dump.
DUMP_BUFFER = 0x01
#: Vendor specific diagnostic page of the LTO drives' diagnostics (SPC-5 7.2.1).
VENDOR_DIAGNOSTIC_PAGE = 0x80
#: Diagnostic ID of "force dump" in page 80h.
FORCE_DUMP = 0x0160
#: Offset boundary of the dump buffer: 2**0, any offset (SPC-5 6.19, descriptor mode).
OFFSET_BOUNDARY = 0x00


class ReadBufferMode(IntEnum):
    """READ BUFFER modes the drive answers, SPC-5 6.19."""

    DATA = 0x02
    DESCRIPTOR = 0x03


#: SPC-5 6.19, descriptor mode: the READ BUFFER descriptor.
BufferDescriptor = Struct("offset_boundary" / Int8ub, "buffer_capacity" / Int24ub)

#: The body of diagnostic page 80h: the diagnostic ID and its parameters.
VendorDiagnostic = Struct("diagnostic_id" / Int16ub)


def dump_bytes(drive: TapeDrive) -> bytes:
    """A dump of ``drive``: a header line, then its state as JSON."""
    state = {
        **drive.status(),
        "identity": {
            "vendor": drive.identity.vendor,
            "product": drive.identity.product,
            "revision": drive.identity.revision,
            "serial": drive.identity.serial,
        },
        "tapealerts": sorted(int(f) for f in drive.tapealerts.active),
        "taken": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    head = f"DEVEMU DRIVE DUMP {drive.identity.serial}\n".encode("ascii", "replace")
    return head + json.dumps(state, sort_keys=True).encode() + b"\n"


def read_buffer(
    drive: TapeDrive,
    cmd: Command,
    mode: int,
    buffer_id: int,
    buffer_offset: int,
    allocation_length: int,
) -> int:
    """READ BUFFER (SPC-5 6.19): the dump's descriptor (03h) or data (02h)."""
    if mode not in tuple(ReadBufferMode):
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 4))
    if buffer_id != DUMP_BUFFER:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2))
    if drive.dump is None:
        drive.dump = dump_bytes(drive)
    dump = drive.dump
    if mode == ReadBufferMode.DESCRIPTOR:
        if buffer_offset:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(3))
        data: bytes = BufferDescriptor.build(
            {"offset_boundary": OFFSET_BOUNDARY, "buffer_capacity": len(dump)}
        )
        return cmd.data_in(data, allocation_length)
    if buffer_offset > len(dump):
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(3))
    return cmd.data_in(dump[buffer_offset:], allocation_length)


def vendor_diagnostic(drive: TapeDrive, body: bytes) -> None:
    """Diagnostic page 80h: FORCE DUMP takes a new dump; other IDs are refused."""
    if len(body) < VendorDiagnostic.sizeof():
        raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(2))
    if VendorDiagnostic.parse(body).diagnostic_id != FORCE_DUMP:
        raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(4))
    drive.dump = dump_bytes(drive)
