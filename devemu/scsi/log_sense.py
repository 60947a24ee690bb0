"""LOG SENSE and LOG SELECT, SPC-5 6.8 and 6.9.

Every logical unit answers the Supported Log Pages page (0x00, SPC-5
7.3.18) and the Supported Log Pages and Subpages page (0x00/0xFF, SPC-5
7.3.19); a device type adds its pages through its ``log_pages()`` hook,
each producer returning the whole page, header included. The PARAMETER
POINTER field selects the parameters whose code is at least the pointer
(SPC-5 6.8). Saving log parameters is not supported (the SP bit is
outside the usage data), nor is PPC.

LOG SELECT accepts no parameter values: a parameter list length of zero
with PCR set resets the cumulative parameters through the device's
``reset_log_parameters()`` hook, and without PCR changes nothing
(SPC-5 6.9).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from construct import BitsInteger, BitStruct, Bytes, Flag, Int8ub, Int16ub, Struct, this

from devemu.scsi.command import Command
from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    LOG_PARAMETERS_CHANGED,
    SenseError,
    cdb_field,
)

if TYPE_CHECKING:
    from devemu.scsi.device import ScsiDevice

SUPPORTED_PAGES = 0x00
ALL_SUBPAGES = 0xFF

_PAGE = BitStruct("pc" / BitsInteger(2), "page_code" / BitsInteger(6))

#: SPC-5 6.8.1 table 162: LOG SENSE CDB.
LogSenseCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct("reserved" / BitsInteger(6), "ppc" / Flag, "sp" / Flag),
    "page" / _PAGE,
    "subpage_code" / Int8ub,
    "reserved" / Int8ub,
    "parameter_pointer" / Int16ub,
    "allocation_length" / Int16ub,
    "control" / Int8ub,
)

#: SPC-5 6.9.1 table 164: LOG SELECT CDB.
LogSelectCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct("reserved" / BitsInteger(6), "pcr" / Flag, "sp" / Flag),
    "page" / _PAGE,
    "subpage_code" / Int8ub,
    "reserved" / Bytes(3),
    "parameter_list_length" / Int16ub,
    "control" / Int8ub,
)

#: SPC-5 7.3.2.1 table 355: log page header (parameters follow).
LogPage = Struct(
    "head" / BitStruct("ds" / Flag, "spf" / Flag, "page_code" / BitsInteger(6)),
    "subpage_code" / Int8ub,
    "page_length" / Int16ub,
    "parameters" / Bytes(this.page_length),
)

#: SPC-5 7.3.2.2 table 356: log parameter header (the value follows).
LogParameterHeader = Struct(
    "parameter_code" / Int16ub, "control" / Int8ub, "parameter_length" / Int8ub
)


def log_page(page_code: int, parameters: bytes, *, subpage: int | None = None) -> bytes:
    """A log page with its header (SPC-5 7.3.2.1); ``subpage`` sets SPF."""
    out: bytes = LogPage.build(
        {
            "head": {"ds": False, "spf": subpage is not None, "page_code": page_code},
            "subpage_code": subpage or 0,
            "page_length": len(parameters),
            "parameters": parameters,
        }
    )
    return out


def log_parameter(code: int, value: bytes, control: int = 0x03) -> bytes:
    """One log parameter (SPC-5 7.3.2.2); control 0x03: FORMAT AND LINKING 11b, binary list."""
    head: bytes = LogParameterHeader.build(
        {"parameter_code": code, "control": control, "parameter_length": len(value)}
    )
    return head + value


def _pages(device: ScsiDevice) -> dict[int, Callable[[], bytes]]:
    pages = dict(device.log_pages())
    pages.pop(SUPPORTED_PAGES, None)
    return pages


def supported_pages(device: ScsiDevice) -> bytes:
    """Supported Log Pages, SPC-5 7.3.18."""
    return log_page(SUPPORTED_PAGES, bytes(sorted({SUPPORTED_PAGES, *_pages(device)})))


def supported_pages_and_subpages(device: ScsiDevice) -> bytes:
    """Supported Log Pages and Subpages, SPC-5 7.3.19."""
    pairs = [(SUPPORTED_PAGES, 0), (SUPPORTED_PAGES, ALL_SUBPAGES)]
    pairs += [(code, 0) for code in sorted(_pages(device))]
    return log_page(SUPPORTED_PAGES, b"".join(bytes(p) for p in pairs), subpage=ALL_SUBPAGES)


def from_parameter(page: bytes, pointer: int) -> bytes:
    """The page with only the parameters whose code is ``pointer`` or more."""
    if pointer == 0:
        return page
    params = page[4:]
    kept = b""
    pos = 0
    found = False
    while pos + 4 <= len(params):
        code = int.from_bytes(params[pos : pos + 2], "big")
        end = pos + 4 + params[pos + 3]
        if code >= pointer:
            kept += params[pos:end]
            found = True
        pos = end
    if not found:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(5))
    return page[:2] + len(kept).to_bytes(2, "big") + kept


def log_sense(
    device: ScsiDevice,
    cmd: Command,
    page_code: int,
    subpage_code: int,
    parameter_pointer: int,
    allocation_length: int,
) -> int:
    """LOG SENSE, SPC-5 6.8."""
    code = page_code
    sub = subpage_code
    if code == SUPPORTED_PAGES:
        if sub not in (0, ALL_SUBPAGES):
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(3))
        if parameter_pointer:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(5))
        data = supported_pages(device) if sub == 0 else supported_pages_and_subpages(device)
    else:
        producer = _pages(device).get(code)
        if producer is None:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2, 5))
        if sub != 0:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(3))
        data = from_parameter(producer(), parameter_pointer)
        sent = cmd.data_in(data, allocation_length)
        device.log_page_sent(code, parameter_pointer, sent)
        return sent
    return cmd.data_in(data, allocation_length)


def log_select(device: ScsiDevice, cmd: Command, pcr: int, parameter_list_length: int) -> None:
    """LOG SELECT, SPC-5 6.9: reset (PCR) only; parameter values are refused."""
    if parameter_list_length:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(7))
    if pcr:
        device.reset_log_parameters()
        device.post_unit_attention_to_others(LOG_PARAMETERS_CHANGED, cmd.nexus)
