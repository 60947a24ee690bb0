"""SSC-5 CDB declarations: golden bytes in both directions, and the opcodes they carry."""

from __future__ import annotations

from typing import Any

import pytest
from construct import Struct

from devemu.tape import cdbs
from devemu.tape.commands import SSC_COMMANDS
from devemu.tape.drive import TapeDrive
from devemu.tape.opcodes import Opcode
from tests.golden import check_both_ways

CTL = {"control": 0}


def case(name: str, golden: str, struct: Struct, fields: dict[str, Any]) -> Any:
    return pytest.param(bytes.fromhex(golden), struct, fields | CTL, id=name)


CASES = [
    case(
        "READ(6) fixed, 3 blocks",
        "08 01 00 00 03 00",
        cdbs.ReadWrite6Cdb,
        {"opcode": 0x08, "flags": {"sili": False, "fixed": True}, "transfer_length": 3},
    ),
    case(
        "READ(6) variable, SILI",
        "08 02 12 34 56 00",
        cdbs.ReadWrite6Cdb,
        {"opcode": 0x08, "flags": {"sili": True, "fixed": False}, "transfer_length": 0x123456},
    ),
    case(
        "WRITE(6) variable, 64 KiB",
        "0a 00 01 00 00 00",
        cdbs.ReadWrite6Cdb,
        {"opcode": 0x0A, "flags": {"sili": False, "fixed": False}, "transfer_length": 0x10000},
    ),
    case(
        "SPACE(6) two filemarks back",
        "11 01 ff ff fe 00",
        cdbs.Space6Cdb,
        {"opcode": 0x11, "code": {"code": 1}, "count": -2},
    ),
    case(
        "SPACE(16) one block back",
        "91 00 00 00 ff ff ff ff ff ff ff ff 00 00 00 00",
        cdbs.Space16Cdb,
        {"opcode": 0x91, "code": {"code": 0}, "count": -1, "parameter_length": 0},
    ),
    case(
        "WRITE FILEMARKS(6) IMMED",
        "10 01 00 00 02 00",
        cdbs.WriteFilemarks6Cdb,
        {"opcode": 0x10, "flags": {"wsmk": False, "immed": True}, "count": 2},
    ),
    case(
        "WRITE FILEMARKS(16)",
        "80 01 00 01 00 00 00 00 00 00 12 34 00 00 05 00",
        cdbs.WriteFilemarks16Cdb,
        {
            "opcode": 0x80,
            "flags": {"fcs": False, "lcs": False, "immed": True},
            "partition": 1,
            "logical_object_identifier": 0x1234,
            "count": 5,
        },
    ),
    case(
        "LOCATE(10) CP",
        "2b 02 00 00 01 00 00 00 02 00",
        cdbs.Locate10Cdb,
        {
            "opcode": 0x2B,
            "flags": {"bt": False, "cp": True, "immed": False},
            "logical_object_identifier": 0x10000,
            "partition": 2,
        },
    ),
    case(
        "LOCATE(16) to a file, CP",
        "92 0a 00 01 00 00 00 00 00 00 00 07 00 00 00 00",
        cdbs.Locate16Cdb,
        {
            "opcode": 0x92,
            "flags": {"dest_type": 1, "cp": True, "immed": False},
            "bam": {"bam": False},
            "partition": 1,
            "logical_identifier": 7,
        },
    ),
    case(
        "READ POSITION long form",
        "34 06 00 00 00 00 00 00 00 00",
        cdbs.ReadPositionCdb,
        {"opcode": 0x34, "service_action": {"service_action": 6}, "allocation_length": 0},
    ),
    case(
        "READ POSITION extended form",
        "34 08 00 00 00 00 00 00 20 00",
        cdbs.ReadPositionCdb,
        {"opcode": 0x34, "service_action": {"service_action": 8}, "allocation_length": 32},
    ),
    case(
        "REWIND IMMED",
        "01 01 00 00 00 00",
        cdbs.RewindCdb,
        {"opcode": 0x01, "flags": {"immed": True}},
    ),
    case(
        "ERASE(6) LONG",
        "19 01 00 00 00 00",
        cdbs.Erase6Cdb,
        {"opcode": 0x19, "flags": {"immed": False, "long": True}},
    ),
    case(
        "LOAD UNLOAD unload, HOLD",
        "1b 00 00 00 08 00",
        cdbs.LoadUnloadCdb,
        {
            "opcode": 0x1B,
            "flags": {"immed": False},
            "action": {"hold": True, "eot": False, "reten": False, "load": False},
        },
    ),
    case(
        "LOAD UNLOAD load, IMMED",
        "1b 01 00 00 01 00",
        cdbs.LoadUnloadCdb,
        {
            "opcode": 0x1B,
            "flags": {"immed": True},
            "action": {"hold": False, "eot": False, "reten": False, "load": True},
        },
    ),
    case(
        "FORMAT MEDIUM partitions from page 0x11",
        "04 00 02 00 00 00",
        cdbs.FormatMediumCdb,
        {
            "opcode": 0x04,
            "flags": {"verify": False, "immed": False},
            "format": {"format": 2},
            "transfer_length": 0,
        },
    ),
    case(
        "READ BLOCK LIMITS MLOI",
        "05 01 00 00 00 00",
        cdbs.ReadBlockLimitsCdb,
        {"opcode": 0x05, "flags": {"mloi": True}},
    ),
    case(
        "REPORT DENSITY SUPPORT MEDIA",
        "44 01 00 00 00 00 00 ff ff 00",
        cdbs.ReportDensitySupportCdb,
        {
            "opcode": 0x44,
            "flags": {"medium_type": False, "media": True},
            "allocation_length": 0xFFFF,
        },
    ),
    case(
        "PREVENT ALLOW MEDIUM REMOVAL prevent",
        "1e 00 00 00 01 00",
        cdbs.PreventAllowMediumRemovalCdb,
        {"opcode": 0x1E, "prevent": {"prevent": 1}},
    ),
    case(
        "READ ATTRIBUTE values of partition 1",
        "8c 00 00 00 00 00 00 01 04 00 00 00 10 00 00 00",
        cdbs.ReadAttributeCdb,
        {
            "opcode": 0x8C,
            "service_action": {"service_action": 0},
            "logical_volume": 0,
            "partition": 1,
            "first_attribute": 0x0400,
            "allocation_length": 0x1000,
            "cache": {"cache": False},
        },
    ),
    case(
        "WRITE ATTRIBUTE WTC",
        "8d 01 00 00 00 00 00 00 00 00 00 00 00 20 00 00",
        cdbs.WriteAttributeCdb,
        {
            "opcode": 0x8D,
            "flags": {"wtc": True},
            "logical_volume": 0,
            "partition": 0,
            "parameter_list_length": 0x20,
        },
    ),
    case(
        "SET CAPACITY full, as LTFS sends it",
        "0b 00 00 ff ff 00",
        cdbs.SetCapacityCdb,
        {"opcode": 0x0B, "flags": {"immed": False}, "capacity_proportion_value": 0xFFFF},
    ),
    case(
        "SET CAPACITY half, IMMED",
        "0b 01 00 80 00 00",
        cdbs.SetCapacityCdb,
        {"opcode": 0x0B, "flags": {"immed": True}, "capacity_proportion_value": 0x8000},
    ),
    case(
        "READ BUFFER descriptor of the dump",
        "3c 03 01 000000 000004 00",
        cdbs.ReadBufferCdb,
        {
            "opcode": 0x3C,
            "mode": {"mode_specific": 0, "mode": 3},
            "buffer_id": 1,
            "buffer_offset": 0,
            "allocation_length": 4,
        },
    ),
    case(
        "READ BUFFER data from offset 512 KiB",
        "3c 02 01 080000 080000 00",
        cdbs.ReadBufferCdb,
        {
            "opcode": 0x3C,
            "mode": {"mode_specific": 0, "mode": 2},
            "buffer_id": 1,
            "buffer_offset": 0x80000,
            "allocation_length": 0x80000,
        },
    ),
    case(
        "ALLOW OVERWRITE current position, partition 1, object 0x123",
        "82 00 01 01 0000000000000123 000000 00",
        cdbs.AllowOverwriteCdb,
        {
            "opcode": 0x82,
            "allow": {"allow_overwrite": 1},
            "partition": 1,
            "logical_object_identifier": 0x123,
        },
    ),
]


@pytest.mark.parametrize(("golden", "struct", "fields"), CASES)
def test_cdb_golden_both_ways(golden: bytes, struct: Struct, fields: dict[str, Any]) -> None:
    check_both_ways(struct, golden, fields)


def test_every_declaration_has_a_golden_case() -> None:
    declared = {
        name
        for name, value in vars(cdbs).items()
        if isinstance(value, Struct) and name[0].isupper()
    }
    tested = {name for name, value in vars(cdbs).items() for p in CASES if p.values[1] is value}
    assert declared == tested


@pytest.mark.parametrize("opcode", list(Opcode), ids=lambda o: o.name)
def test_each_opcode_has_a_table_entry_and_a_golden_case(opcode: Opcode) -> None:
    assert TapeDrive.commands.lookup_opcode(opcode) is not None
    assert opcode in {p.values[0][0] for p in CASES}


def test_the_table_uses_no_opcode_outside_the_enum() -> None:
    assert {spec.usage[0] for spec in SSC_COMMANDS} == set(Opcode)
