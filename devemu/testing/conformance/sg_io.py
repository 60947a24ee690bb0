"""A logical unit reached through Linux SG_IO on a ``/dev/sgN`` node.

The sg driver's version 3 interface (``struct sg_io_hdr`` in
``<scsi/sg.h>``; the kernel's ``Documentation/scsi/scsi-generic.rst``):
one ``ioctl(fd, SG_IO, &hdr)`` sends a CDB with at most one data buffer
and returns the SCSI status, the sense data the device returned
(``sb_len_wr`` bytes) and the residual (``resid``: bytes of data-in not
transferred). Only the standard library is used (``ctypes`` for the
header, ``fcntl.ioctl``); the caller needs read-write access to the node,
and most CDBs need ``CAP_SYS_RAWIO`` (root).

A failure below SCSI (``host_status`` or a driver error other than
"sense data present") is not an answer from the device; it raises
:class:`TransportError` with the node and the numbers.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
from pathlib import Path
from types import TracebackType

from devemu.testing.conformance.target import Answer

SG_IO = 0x2285
SG_GET_VERSION_NUM = 0x2282
SG_INTERFACE_ID = ord("S")
SG_DXFER_NONE = -1
SG_DXFER_TO_DEV = -2
SG_DXFER_FROM_DEV = -3
#: ``driver_status`` bit meaning "sense data was returned" (DRIVER_SENSE).
DRIVER_SENSE = 0x08
#: The largest sense buffer the midlayer keeps (SCSI_SENSE_BUFFERSIZE).
SENSE_BUFFER = 96


class SgIoHdr(ctypes.Structure):
    """``struct sg_io_hdr`` (``<scsi/sg.h>``), native layout."""

    _fields_ = (
        ("interface_id", ctypes.c_int),
        ("dxfer_direction", ctypes.c_int),
        ("cmd_len", ctypes.c_ubyte),
        ("mx_sb_len", ctypes.c_ubyte),
        ("iovec_count", ctypes.c_ushort),
        ("dxfer_len", ctypes.c_uint),
        ("dxferp", ctypes.c_void_p),
        ("cmdp", ctypes.c_void_p),
        ("sbp", ctypes.c_void_p),
        ("timeout", ctypes.c_uint),
        ("flags", ctypes.c_uint),
        ("pack_id", ctypes.c_int),
        ("usr_ptr", ctypes.c_void_p),
        ("status", ctypes.c_ubyte),
        ("masked_status", ctypes.c_ubyte),
        ("msg_status", ctypes.c_ubyte),
        ("sb_len_wr", ctypes.c_ubyte),
        ("host_status", ctypes.c_ushort),
        ("driver_status", ctypes.c_ushort),
        ("resid", ctypes.c_int),
        ("duration", ctypes.c_uint),
        ("info", ctypes.c_uint),
    )


class TransportError(OSError):
    """SG_IO failed below SCSI: no status came back from the logical unit."""


class SgIoTarget:
    """The logical unit behind ``path`` (a ``/dev/sgN`` node), one SG_IO per command."""

    def __init__(self, path: str | Path, timeout_ms: int = 60_000) -> None:
        self.path = str(path)
        self.timeout_ms = timeout_ms
        # SG_IO always waits for the command, O_NONBLOCK or not.
        self.fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)
        version = ctypes.c_int()
        try:
            fcntl.ioctl(self.fd, SG_GET_VERSION_NUM, memoryview(version).cast("B"))
        except OSError as error:
            os.close(self.fd)
            raise OSError(error.errno, "not a SCSI generic (sg) node") from None
        #: The sg driver's version, 30536 for 3.5.36.
        self.version = version.value

    def execute(
        self,
        cdb: bytes,
        data_out: bytes | None = None,
        data_in_length: int = 0,
    ) -> Answer:
        if not 6 <= len(cdb) <= 16:
            raise ValueError(f"SG_IO sends 6 to 16 CDB bytes, not {len(cdb)}")
        if data_out is not None and data_in_length:
            raise ValueError("a command is data-out or data-in, not both")
        command = ctypes.create_string_buffer(bytes(cdb), len(cdb))
        sense = ctypes.create_string_buffer(SENSE_BUFFER)
        if data_out is not None:
            direction, length = SG_DXFER_TO_DEV, len(data_out)
            data = ctypes.create_string_buffer(bytes(data_out), max(length, 1))
        elif data_in_length:
            direction, length = SG_DXFER_FROM_DEV, data_in_length
            data = ctypes.create_string_buffer(length)
        else:
            direction, length = SG_DXFER_NONE, 0
            data = ctypes.create_string_buffer(1)
        if not length:
            direction = SG_DXFER_NONE
        hdr = SgIoHdr(
            interface_id=SG_INTERFACE_ID,
            dxfer_direction=direction,
            cmd_len=len(cdb),
            mx_sb_len=SENSE_BUFFER,
            dxfer_len=length,
            dxferp=ctypes.addressof(data) if length else None,
            cmdp=ctypes.addressof(command),
            sbp=ctypes.addressof(sense),
            timeout=self.timeout_ms,
        )
        fcntl.ioctl(self.fd, SG_IO, memoryview(hdr).cast("B"))
        if hdr.host_status or (hdr.driver_status & ~DRIVER_SENSE):
            raise TransportError(
                f"{self.path}: SG_IO {bytes(cdb).hex()} host_status {hdr.host_status:#x} "
                f"driver_status {hdr.driver_status:#x}"
            )
        data_in = data.raw[: max(0, length - hdr.resid)] if direction == SG_DXFER_FROM_DEV else b""
        return Answer(hdr.status, sense.raw[: hdr.sb_len_wr], data_in)

    def close(self) -> None:
        """Close the node."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> SgIoTarget:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
