"""SEND DIAGNOSTIC and RECEIVE DIAGNOSTIC RESULTS, SPC-5 6.42 and 6.32.

The default self-test (SELFTEST=1) and the foreground short and extended
self-tests run the device's ``self_test()`` hook to completion and report
its failure as the hook's sense; background self-tests are not
supported. Every device has Supported Diagnostic Pages (0x00, SPC-5
7.2.2): SEND DIAGNOSTIC may send it (empty) to ask for it, and RECEIVE
DIAGNOSTIC RESULTS returns it. A device type adds the pages its products
take with ``diagnostic_pages()`` (SPC-5 7.2.1: codes 80h-FFh are vendor
specific); the list of page 0x00 names them too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from construct import BitsInteger, BitStruct, Flag, Int8ub, Int16ub, Struct

from devemu.scsi.command import Command
from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    PARAMETER_LIST_LENGTH_ERROR,
    SenseError,
    cdb_field,
    param_field,
)

if TYPE_CHECKING:
    from devemu.scsi.device import ScsiDevice

SUPPORTED_DIAGNOSTIC_PAGES = 0x00

#: SELF-TEST CODE values, SPC-5 6.42 table 262.
FOREGROUND_SHORT = 0b101
FOREGROUND_EXTENDED = 0b110

#: SPC-5 6.42 table 261: SEND DIAGNOSTIC CDB.
SendDiagnosticCdb = Struct(
    "opcode" / Int8ub,
    "flags"
    / BitStruct(
        "self_test_code" / BitsInteger(3),
        "pf" / Flag,
        "reserved" / Flag,
        "selftest" / Flag,
        "devoffl" / Flag,
        "unitoffl" / Flag,
    ),
    "reserved" / Int8ub,
    "parameter_list_length" / Int16ub,
    "control" / Int8ub,
)

#: SPC-5 6.32 table 229: RECEIVE DIAGNOSTIC RESULTS CDB.
ReceiveDiagnosticCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct("reserved" / BitsInteger(7), "pcv" / Flag),
    "page_code" / Int8ub,
    "allocation_length" / Int16ub,
    "control" / Int8ub,
)

#: SPC-5 7.2.1 table 340: diagnostic page header.
DiagnosticPageHeader = Struct(
    "page_code" / Int8ub, "page_specific" / Int8ub, "page_length" / Int16ub
)


def supported_diagnostic_pages(extra: Iterable[int] = ()) -> bytes:
    """Supported Diagnostic Pages, SPC-5 7.2.2: page 0x00 and ``extra``, ascending."""
    pages = bytes(sorted({SUPPORTED_DIAGNOSTIC_PAGES, *extra}))
    head: bytes = DiagnosticPageHeader.build(
        {"page_code": SUPPORTED_DIAGNOSTIC_PAGES, "page_specific": 0, "page_length": len(pages)}
    )
    return head + pages


def send_diagnostic(
    device: ScsiDevice,
    cmd: Command,
    self_test_code: int,
    pf: int,
    selftest: int,
    parameter_list_length: int,
) -> None:
    """SEND DIAGNOSTIC, SPC-5 6.42."""
    length = parameter_list_length
    if selftest or self_test_code:
        if selftest and self_test_code:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 7))
        if self_test_code not in (0, FOREGROUND_SHORT, FOREGROUND_EXTENDED):
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 7))
        if length:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(3))
        device.self_test()
        return
    if length == 0:
        return
    if not pf:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 4))
    data = cmd.data_out(length)
    if len(data) < 4 or len(data) < length:
        raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
    page = DiagnosticPageHeader.parse(data)
    handlers = device.diagnostic_pages()
    if page.page_code != SUPPORTED_DIAGNOSTIC_PAGES and page.page_code not in handlers:
        raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(0))
    if page.page_length > length - 4:
        raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(2))
    if page.page_code != SUPPORTED_DIAGNOSTIC_PAGES:
        handlers[page.page_code](bytes(data[4 : 4 + page.page_length]))
    elif page.page_length != length - 4:
        raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(2))


def receive_diagnostic_results(
    device: ScsiDevice, cmd: Command, pcv: int, page_code: int, allocation_length: int
) -> int:
    """RECEIVE DIAGNOSTIC RESULTS, SPC-5 6.32: the Supported Diagnostic Pages page."""
    if pcv and page_code != SUPPORTED_DIAGNOSTIC_PAGES:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2))
    data = supported_diagnostic_pages(device.diagnostic_pages())
    return cmd.data_in(data, allocation_length)
