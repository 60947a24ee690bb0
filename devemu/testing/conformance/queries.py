"""The questions the checks ask a target, and how they read the answers.

CDB builders for INQUIRY (SPC-5 6.7), REPORT SUPPORTED OPERATION CODES
(SPC-5 6.35), MODE SENSE (SPC-5 6.13, 6.14) and REQUEST SENSE (SPC-5
6.39), plus readers for the answers. Each reader asserts the framing it
relies on, so a malformed answer fails where it is read.
"""

from __future__ import annotations

from devemu.scsi.command import Status
from devemu.tcmu import abi
from devemu.testing.conformance.target import Answer, Target

INQUIRY = 0x12
MAINTENANCE_IN = 0xA3
REPORT_SUPPORTED_OPERATION_CODES = 0x0C
MODE_SENSE_6 = 0x1A
MODE_SENSE_10 = 0x5A
REQUEST_SENSE = 0x03
TEST_UNIT_READY = bytes(6)
ALL_PAGES = 0x3F


def cdb_length(opcode: int) -> int:
    """How many CDB bytes to send for ``opcode``: what the kernel copies for its
    group (SPC-5 4.2.5.1), 16 for the variable-length opcode 0x7F."""
    return 16 if opcode == abi.VARIABLE_LENGTH_CMD else abi.cdb_length(opcode)


def inquiry(page: int | None = None, alloc: int = 255) -> bytes:
    """INQUIRY: standard data, or the VPD page ``page`` (EVPD=1), SPC-5 6.7.1."""
    evpd, code = (0, 0) if page is None else (1, page)
    return bytes([INQUIRY, evpd, code, alloc >> 8, alloc & 0xFF, 0])


def mode_sense_10(page: int, subpage: int = 0, pc: int = 0, dbd: bool = False) -> bytes:
    """MODE SENSE(10) with the largest allocation length, SPC-5 6.14."""
    return bytes(
        [MODE_SENSE_10, 0x08 if dbd else 0, (pc << 6) | page, subpage, 0, 0, 0, 0xFF, 0xFF, 0]
    )


def rsoc_all(t: Target) -> list[tuple[int, int | None, int]]:
    """Every (opcode, service action or None, CDB length) the target reports,
    REPORTING OPTIONS 000b (SPC-5 6.35.2)."""
    cdb = bytes([MAINTENANCE_IN, REPORT_SUPPORTED_OPERATION_CODES, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0])
    status, _, data = t.execute(cdb, data_in_length=0x4000)
    assert status == Status.GOOD, f"REPORT SUPPORTED OPERATION CODES: status {status:#x}"
    assert int.from_bytes(data[:4], "big") == len(data) - 4, "command data length"
    out = []
    for pos in range(4, len(data), 8):
        sa = int.from_bytes(data[pos + 2 : pos + 4], "big") if data[pos + 5] & 1 else None
        out.append((data[pos], sa, int.from_bytes(data[pos + 6 : pos + 8], "big")))
    return out


def usage_of(t: Target, opcode: int, sa: int | None) -> bytes:
    """The CDB usage data of one command (REPORTING OPTIONS 001b/010b, SPC-5 6.35.3)."""
    option = 1 if sa is None else 2
    sa = sa or 0
    head = [MAINTENANCE_IN, REPORT_SUPPORTED_OPERATION_CODES, option, opcode, sa >> 8, sa & 0xFF]
    cdb = bytes([*head, 0, 0, 1, 0, 0, 0])
    status, _, data = t.execute(cdb, data_in_length=256)
    assert status == Status.GOOD and data[1] & 0x07 == 0b011, (hex(opcode), sa)
    size = int.from_bytes(data[2:4], "big")
    return data[4 : 4 + size]


def walk_mode_pages(pages: bytes) -> list[tuple[int, int]]:
    """The (page, subpage) of each mode page in ``pages`` (SPC-5 7.5.7); the
    pages must fill the bytes exactly."""
    keys = []
    pos = 0
    while pos < len(pages):
        assert len(pages) - pos >= 2, "a mode page header is cut short"
        if pages[pos] & 0x40:
            keys.append((pages[pos] & 0x3F, pages[pos + 1]))
            pos += 4 + int.from_bytes(pages[pos + 2 : pos + 4], "big")
        else:
            keys.append((pages[pos] & 0x3F, 0))
            pos += 2 + pages[pos + 1]
    assert pos == len(pages), "pages overrun the mode data"
    return keys


def is_unit_attention(answer: Answer) -> bool:
    """CHECK CONDITION with sense key UNIT ATTENTION (fixed or descriptor sense)."""
    if answer.status != Status.CHECK_CONDITION or len(answer.sense) < 3:
        return False
    key = answer.sense[1] if answer.sense[0] & 0x7F in (0x72, 0x73) else answer.sense[2]
    return key & 0x0F == 0x06
