"""SBC-4 CDB declarations: golden bytes both ways, and the READ/WRITE fast path."""

from __future__ import annotations

from typing import Any

import pytest
from construct import Struct

from devemu.disk import cdbs
from tests.golden import check_both_ways

G0 = {"reserved": 0, "group_number": 0}


def rflags(**kw: Any) -> dict[str, Any]:
    base = {"rdprotect": 0, "dpo": False, "fua": False, "rarc": False, "obsolete": 0}
    return base | kw


def wflags(**kw: Any) -> dict[str, Any]:
    base = {"wrprotect": 0, "dpo": False, "fua": False, "reserved": 0, "obsolete": 0}
    return base | kw


def vflags(**kw: Any) -> dict[str, Any]:
    base = {"protect": 0, "dpo": False, "reserved": 0, "bytchk": 0, "obsolete": 0}
    return base | kw


def wsflags(**kw: Any) -> dict[str, Any]:
    base = {"wrprotect": 0, "anchor": False, "unmap": False, "obsolete": 0, "ndob": False}
    return base | kw


CASES: list[tuple[str, Struct, str, dict[str, Any]]] = [
    (
        "READ(6)",
        cdbs.Rw6Cdb,
        "08 12 34 56 00 00",
        {
            "opcode": 0x08,
            "address": {"reserved": 0, "lba": 0x123456},
            "transfer_length": 0,
            "control": 0,
        },
    ),
    (
        "WRITE(6)",
        cdbs.Rw6Cdb,
        "0a 00 00 10 08 00",
        {
            "opcode": 0x0A,
            "address": {"reserved": 0, "lba": 0x10},
            "transfer_length": 8,
            "control": 0,
        },
    ),
    (
        "READ(10) DPO FUA",
        cdbs.Read10Cdb,
        "28 18 00 01 02 03 05 00 10 00",
        {
            "opcode": 0x28,
            "flags": rflags(dpo=True, fua=True),
            "lba": 0x00010203,
            "group": {"reserved": 0, "group_number": 5},
            "transfer_length": 16,
            "control": 0,
        },
    ),
    (
        "READ(12)",
        cdbs.Read12Cdb,
        "a8 04 ff ff ff fe 00 00 01 00 00 00",
        {
            "opcode": 0xA8,
            "flags": rflags(rarc=True),
            "lba": 0xFFFFFFFE,
            "transfer_length": 0x100,
            "group": G0,
            "control": 0,
        },
    ),
    (
        "READ(16)",
        cdbs.Read16Cdb,
        "88 00 00 00 00 01 00 00 00 00 00 00 00 08 00 00",
        {
            "opcode": 0x88,
            "flags": rflags(),
            "lba": 1 << 32,
            "transfer_length": 8,
            "group": G0,
            "control": 0,
        },
    ),
    (
        "WRITE(10) FUA",
        cdbs.Write10Cdb,
        "2a 08 00 00 00 40 00 00 01 00",
        {
            "opcode": 0x2A,
            "flags": wflags(fua=True),
            "lba": 0x40,
            "group": G0,
            "transfer_length": 1,
            "control": 0,
        },
    ),
    (
        "WRITE(12)",
        cdbs.Write12Cdb,
        "aa 10 00 00 00 01 00 00 00 02 00 00",
        {
            "opcode": 0xAA,
            "flags": wflags(dpo=True),
            "lba": 1,
            "transfer_length": 2,
            "group": G0,
            "control": 0,
        },
    ),
    (
        "WRITE(16)",
        cdbs.Write16Cdb,
        "8a 08 00 00 00 00 00 00 00 07 00 00 00 01 00 00",
        {
            "opcode": 0x8A,
            "flags": wflags(fua=True),
            "lba": 7,
            "transfer_length": 1,
            "group": G0,
            "control": 0,
        },
    ),
    (
        "VERIFY(10) BYTCHK=01b",
        cdbs.Verify10Cdb,
        "2f 02 00 00 00 09 00 00 03 00",
        {
            "opcode": 0x2F,
            "flags": vflags(bytchk=1),
            "lba": 9,
            "group": G0,
            "transfer_length": 3,
            "control": 0,
        },
    ),
    (
        "VERIFY(16) BYTCHK=11b",
        cdbs.Verify16Cdb,
        "8f 06 00 00 00 00 00 00 00 00 00 00 00 04 00 00",
        {
            "opcode": 0x8F,
            "flags": vflags(bytchk=3),
            "lba": 0,
            "transfer_length": 4,
            "group": G0,
            "control": 0,
        },
    ),
    (
        "WRITE AND VERIFY(10)",
        cdbs.WriteAndVerify10Cdb,
        "2e 12 00 00 00 01 00 00 01 00",
        {
            "opcode": 0x2E,
            "flags": vflags(dpo=True, bytchk=1),
            "lba": 1,
            "group": G0,
            "transfer_length": 1,
            "control": 0,
        },
    ),
    (
        "WRITE AND VERIFY(16)",
        cdbs.WriteAndVerify16Cdb,
        "8e 00 00 00 00 00 00 00 00 02 00 00 00 01 00 00",
        {
            "opcode": 0x8E,
            "flags": vflags(),
            "lba": 2,
            "transfer_length": 1,
            "group": G0,
            "control": 0,
        },
    ),
    (
        "WRITE SAME(10) UNMAP",
        cdbs.WriteSame10Cdb,
        "41 08 00 00 00 10 00 00 20 00",
        {
            "opcode": 0x41,
            "flags": wsflags(unmap=True),
            "lba": 0x10,
            "group": G0,
            "transfer_length": 0x20,
            "control": 0,
        },
    ),
    (
        "WRITE SAME(16) UNMAP NDOB",
        cdbs.WriteSame16Cdb,
        "93 09 00 00 00 00 00 00 00 00 00 00 01 00 00 00",
        {
            "opcode": 0x93,
            "flags": wsflags(unmap=True, ndob=True),
            "lba": 0,
            "transfer_length": 0x100,
            "group": G0,
            "control": 0,
        },
    ),
    (
        "SYNCHRONIZE CACHE(10) IMMED",
        cdbs.SynchronizeCache10Cdb,
        "35 02 00 00 00 00 00 00 00 00",
        {
            "opcode": 0x35,
            "flags": {"reserved": 0, "sync_nv": False, "immed": True, "obsolete": 0},
            "lba": 0,
            "group": G0,
            "transfer_length": 0,
            "control": 0,
        },
    ),
    (
        "SYNCHRONIZE CACHE(16)",
        cdbs.SynchronizeCache16Cdb,
        "91 00 00 00 00 00 00 00 00 05 00 00 00 06 00 00",
        {
            "opcode": 0x91,
            "flags": {"reserved": 0, "sync_nv": False, "immed": False, "obsolete": 0},
            "lba": 5,
            "transfer_length": 6,
            "group": G0,
            "control": 0,
        },
    ),
    (
        "PRE-FETCH(10)",
        cdbs.PreFetch10Cdb,
        "34 02 00 00 00 08 00 00 08 00",
        {
            "opcode": 0x34,
            "flags": {"reserved": 0, "immed": True, "obsolete": 0},
            "lba": 8,
            "group": G0,
            "transfer_length": 8,
            "control": 0,
        },
    ),
    (
        "PRE-FETCH(16)",
        cdbs.PreFetch16Cdb,
        "90 00 00 00 00 00 00 00 00 08 00 00 00 00 00 00",
        {
            "opcode": 0x90,
            "flags": {"reserved": 0, "immed": False, "obsolete": 0},
            "lba": 8,
            "transfer_length": 0,
            "group": G0,
            "control": 0,
        },
    ),
    (
        "COMPARE AND WRITE",
        cdbs.CompareAndWriteCdb,
        "89 08 00 00 00 00 00 00 00 03 00 00 00 01 00 00",
        {
            "opcode": 0x89,
            "flags": {
                "wrprotect": 0,
                "dpo": False,
                "fua": True,
                "reserved": 0,
                "fua_nv": False,
                "reserved2": 0,
            },
            "lba": 3,
            "number_of_blocks": 1,
            "group": G0,
            "control": 0,
        },
    ),
    (
        "READ CAPACITY(10)",
        cdbs.ReadCapacity10Cdb,
        "25 00 00 00 00 00 00 00 00 00",
        {"opcode": 0x25, "obsolete": 0, "lba": 0, "pmi": 0, "control": 0},
    ),
    (
        "READ CAPACITY(16)",
        cdbs.ReadCapacity16Cdb,
        "9e 10 00 00 00 00 00 00 00 00 00 00 00 20 00 00",
        {
            "opcode": 0x9E,
            "action": {"reserved": 0, "service_action": 0x10},
            "lba": 0,
            "allocation_length": 32,
            "pmi": 0,
            "control": 0,
        },
    ),
    (
        "GET LBA STATUS",
        cdbs.GetLbaStatusCdb,
        "9e 12 00 00 00 00 00 00 01 00 00 00 10 00 00 00",
        {
            "opcode": 0x9E,
            "action": {"reserved": 0, "service_action": 0x12},
            "lba": 0x100,
            "allocation_length": 0x1000,
            "report_type": 0,
            "control": 0,
        },
    ),
    (
        "UNMAP",
        cdbs.UnmapCdb,
        "42 00 00 00 00 00 00 00 18 00",
        {
            "opcode": 0x42,
            "flags": {"reserved": 0, "anchor": False},
            "group": G0,
            "parameter_list_length": 24,
            "control": 0,
        },
    ),
    (
        "START STOP UNIT stop, no flush",
        cdbs.StartStopUnitCdb,
        "1b 01 00 00 04 00",
        {
            "opcode": 0x1B,
            "flags": {"reserved": 0, "immed": True},
            "modifier": {"reserved": 0, "power_condition_modifier": 0},
            "action": {
                "power_condition": 0,
                "reserved": 0,
                "no_flush": True,
                "loej": False,
                "start": False,
            },
            "control": 0,
        },
    ),
    (
        "START STOP UNIT idle",
        cdbs.StartStopUnitCdb,
        "1b 00 00 01 21 00",
        {
            "opcode": 0x1B,
            "flags": {"reserved": 0, "immed": False},
            "modifier": {"reserved": 0, "power_condition_modifier": 1},
            "action": {
                "power_condition": 2,
                "reserved": 0,
                "no_flush": False,
                "loej": False,
                "start": True,
            },
            "control": 0,
        },
    ),
    (
        "FORMAT UNIT",
        cdbs.FormatUnitCdb,
        "04 08 00 00 00 00",
        {
            "opcode": 0x04,
            "flags": {
                "fmtpinfo": 0,
                "longlist": False,
                "fmtdata": False,
                "cmplst": True,
                "defect_list_format": 0,
            },
            "vendor_specific": 0,
            "obsolete": b"\x00\x00",
            "control": 0,
        },
    ),
]


@pytest.mark.parametrize(("name", "struct", "golden", "fields"), CASES, ids=[c[0] for c in CASES])
def test_cdb_golden_both_ways(
    name: str, struct: Struct, golden: str, fields: dict[str, Any]
) -> None:
    check_both_ways(struct, bytes.fromhex(golden), fields)
